import copy

import pytest

from backend.incidents.models import AuditEntry, CellRange, Incident
from tests.factories import PARIS_POLYGON

pytestmark = pytest.mark.django_db


def _create(api, user, **overrides):
    body = {"title": "Paris attacks", "kind": "attack", "regions": [{"geometry": PARIS_POLYGON}]}
    body.update(overrides)
    return api(user).post("/api/incidents/", body, format="json")


def test_an_operator_creates_a_draft_with_compiled_regions(api, olivia):
    response = _create(api, olivia, drill=True, description="Shootings")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft"
    assert body["drill"] is True
    assert body["regions"][0]["area_km2"] > 50
    assert CellRange.objects.filter(incident_id=body["id"]).exists()
    assert AuditEntry.objects.filter(incident_id=body["id"], action="create", actor=olivia).exists()


def test_a_circle_region(api, olivia):
    response = _create(
        api, olivia, regions=[{"center": {"lat": 48.8634, "lon": 2.37}, "radius_m": 800}]
    )
    assert response.status_code == 201, response.json()
    assert response.json()["regions"][0]["radius_m"] == 800


@pytest.mark.parametrize("person", ["alice", "charlie"])
def test_people_who_are_not_operators_cannot_create(api, request, person):
    response = _create(api, request.getfixturevalue(person))
    assert response.status_code == 403
    assert not Incident.objects.exists()


def _ring(points):
    return {"type": "Polygon", "coordinates": [points]}


BOW_TIE = _ring([[2.30, 48.85], [2.40, 48.90], [2.40, 48.85], [2.30, 48.90], [2.30, 48.85]])
UNCLOSED = _ring([[2.30, 48.85], [2.40, 48.85], [2.40, 48.90], [2.30, 48.90]])
OUT_OF_RANGE = _ring([[2.30, 98.85], [2.40, 48.85], [2.40, 48.90], [2.30, 98.85]])
TOO_MANY = _ring(
    [[2.3 + 0.1 * (i % 2), 48.8 + i * 0.000001] for i in range(10_002)] + [[2.3, 48.8]]
)
HUGE = _ring([[-10, 35], [30, 35], [30, 65], [-10, 65], [-10, 35]])


@pytest.mark.parametrize(
    ("regions", "words"),
    [
        ([{"geometry": BOW_TIE}], "intersect"),
        ([{"geometry": UNCLOSED}], "closed"),
        ([{"geometry": OUT_OF_RANGE}], "lat"),
        ([{"geometry": TOO_MANY}], "vertices"),
        ([{"geometry": HUGE}], "km"),
        ([{"geometry": {"type": "Point", "coordinates": [2.3, 48.8]}}], "Polygon"),
        ([{"geometry": "POLYGON((0 0, 1 1))"}], "GeoJSON"),
        ([{"center": {"lat": 48.8, "lon": 2.3}, "radius_m": 0}], "radius"),
        ([{"center": {"lat": 48.8, "lon": 2.3}, "radius_m": -5}], "radius"),
        ([{"center": {"lat": 48.8, "lon": 2.3}, "radius_m": 10_000_000}], "radius"),
        ([{"center": {"lat": 48.8, "lon": 2.3}}], "radius_m"),
        ([{"center": {"lat": 148.8, "lon": 2.3}, "radius_m": 100}], "lat"),
        ([], "region"),
        ([{"geometry": PARIS_POLYGON, "center": {"lat": 1, "lon": 1}, "radius_m": 5}], "either"),
    ],
)
def test_bad_regions_are_refused_with_a_message_and_nothing_is_created(api, olivia, regions, words):
    response = _create(api, olivia, regions=copy.deepcopy(regions))
    assert response.status_code == 400, response.json()
    assert words.lower() in str(response.json()["error"]).lower()
    assert not Incident.objects.exists()
    assert not CellRange.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"title": ""},
        {"title": "x" * 201},
        {"kind": "alien"},
        {"drill": "maybe"},
        {"regions": "all"},
    ],
)
def test_bad_fields_are_refused(api, olivia, overrides):
    response = _create(api, olivia, **overrides)
    assert response.status_code == 400
    assert not Incident.objects.exists()
