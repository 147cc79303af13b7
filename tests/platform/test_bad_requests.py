"""Hostile or malformed requests get a clear 4xx in the one error shape."""

import json

import pytest

from backend.accounts.models import User

pytestmark = pytest.mark.django_db


def test_an_oversized_body_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"email": "x@example.org", "password": "p" * 20_000, "name": "X"})
    response = api(None).post("/api/people/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert not User.objects.exists()


def test_deeply_nested_json_is_a_400(api, olivia):
    body = "[" * 100_000 + "]" * 100_000
    response = api(olivia).post("/api/incidents/", body, content_type="application/json")
    assert response.status_code == 400


def test_a_non_json_content_type_is_415(api, alice):
    response = api(alice).post(
        "/api/me/places/", "lat=1&lon=2", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_nan_is_not_a_coordinate(api, alice):
    response = api(alice).post(
        "/api/me/places/", '{"lat": NaN, "lon": 2}', content_type="application/json"
    )
    assert response.status_code == 400
    assert alice.places.count() == 1


def test_unknown_paths_are_404(api, alice):
    assert api(alice).get("/api/nothing-here/").status_code == 404


def test_unknown_api_paths_answer_in_the_error_shape(api, alice):
    response = api(alice).get("/api/checkins/-1/respond/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("friend_id", ["0", str(2**63), "3390875970607914944561152", "9" * 40])
def test_ids_too_big_for_the_database_are_404_not_500(api, alice, bob, friend_id):
    response = api(alice).delete(f"/api/friends/{friend_id}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert alice.friendships.count() == 1
