import pytest

from backend.accounts.models import Place
from backend.geo.cells import cell_for_point

pytestmark = pytest.mark.django_db


def test_adding_a_place_stores_only_its_cell(api, charlie):
    response = api(charlie).post(
        "/api/me/places/", {"label": "work", "lat": 48.8738, "lon": 2.2950}, format="json"
    )
    assert response.status_code == 201
    assert set(response.json()) == {"id", "label", "created_at"}
    place = Place.objects.get(id=response.json()["id"])
    assert place.cell == cell_for_point(lat=48.8738, lon=2.2950)
    stored = {f.name: getattr(place, f.name) for f in Place._meta.fields}
    assert 48.8738 not in stored.values()
    assert 2.2950 not in stored.values()


def test_listing_places_shows_only_mine(api, alice, charlie):
    mine = api(alice).get("/api/me/places/").json()
    assert len(mine) == 1
    assert all(p["id"] in set(alice.places.values_list("id", flat=True)) for p in mine)


def test_deleting_someone_elses_place_is_404_and_keeps_it(api, alice, charlie):
    place = charlie.places.get()
    response = api(alice).delete(f"/api/me/places/{place.id}/")
    assert response.status_code == 404
    assert Place.objects.filter(id=place.id).exists()


def test_deleting_my_place(api, alice):
    place = alice.places.get()
    assert api(alice).delete(f"/api/me/places/{place.id}/").status_code == 204
    assert not Place.objects.filter(id=place.id).exists()


@pytest.mark.parametrize(
    "body",
    [
        {"lat": 91, "lon": 2},
        {"lat": 48, "lon": 181},
        {"lat": "north", "lon": 2},
        {"lat": 48},
        {"lat": 48, "lon": 2, "label": "castle"},
    ],
)
def test_bad_coordinates_are_refused(api, alice, body):
    response = api(alice).post("/api/me/places/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"]
    assert alice.places.count() == 1
