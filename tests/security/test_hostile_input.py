"""Hostile input: a 4xx, in bounded time (printed, not asserted), and nothing changed."""

import math
import time

import pytest
from rest_framework.test import APIClient

from backend.incidents.models import Incident


def timed(label: str, call):
    start = time.perf_counter()
    response = call()
    print(f"\n{label}: {response.status_code} in {time.perf_counter() - start:.3f}s")
    return response


@pytest.fixture
def operator_api(olivia):
    client = APIClient()
    client.force_authenticate(olivia)
    return client


def polygon(vertices: int, *, lat: float = 48.85, lon: float = 2.35, r: float = 0.05) -> dict:
    ring = [
        [
            lon + r * math.cos(2 * math.pi * i / vertices),
            lat + r * math.sin(2 * math.pi * i / vertices),
        ]
        for i in range(vertices)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def create(client: APIClient, geometry: dict, label: str):
    body = {"title": "Hostile", "regions": [{"geometry": geometry}]}
    return timed(label, lambda: client.post("/api/incidents/", body, format="json"))


@pytest.mark.django_db
def test_a_body_over_the_size_limit_is_refused(operator_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    response = create(operator_api, polygon(8000), "body of ~300 kB (limit 100 kB)")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_deeply_nested_json_is_refused(operator_api):
    body = "[" * 100_000 + "]" * 100_000
    response = timed(
        "JSON nested 100,000 deep",
        lambda: operator_api.post("/api/incidents/", body, content_type="application/json"),
    )
    assert response.status_code == 400
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_a_100000_vertex_polygon_is_refused(operator_api, settings):
    response = create(operator_api, polygon(100_000), "100,000 vertices, default body limit")
    assert response.status_code == 413
    # With the body limit raised, the geometry's own vertex limit refuses it.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 20_000_000
    response = create(operator_api, polygon(100_000), "100,000 vertices, body limit raised")
    assert response.status_code == 400
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_a_self_intersecting_polygon_is_refused(operator_api):
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[2.30, 48.80], [2.40, 48.90], [2.40, 48.80], [2.30, 48.90], [2.30, 48.80]]
        ],
    }
    response = create(operator_api, bowtie, "self-intersecting bow-tie")
    assert response.status_code == 400
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_an_antimeridian_crossing_polygon_is_refused_or_kept_small(operator_api):
    # Drawn across 180°: read literally it spans the globe the long way round.
    fiji = {
        "type": "Polygon",
        "coordinates": [
            [[179.5, -17.0], [-179.5, -17.0], [-179.5, -18.0], [179.5, -18.0], [179.5, -17.0]]
        ],
    }
    response = create(operator_api, fiji, "antimeridian-crossing rectangle")
    assert response.status_code in (201, 400)
    if response.status_code == 201:
        # Accepted only if it was understood as the small box it is (< 15,000 km²).
        assert sum(r["area_km2"] for r in response.json()["regions"]) < 15_000
    else:
        assert not Incident.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "geometry",
    [
        '{"type": "Polygon", "coordinates": [[[Infinity, 1], [2, 2], [3, 1], [Infinity, 1]]]}',
        '{"type": "Polygon", "coordinates": [[[NaN, 48], [3, 48], [3, 49], [NaN, 48]]]}',
        '{"type": "Polygon", "coordinates": [[["2", "48"], ["3", "48"], ["3", "49"]]]}',
        '{"type": "Polygon", "coordinates": "%s"}' % ("x" * 1000),
        '{"type": "GeometryCollection", "geometries": []}',
        '{"type": "Polygon", "coordinates": [[[2.3, 48.8], [2.3, 48.8], [2.3, 48.8], [2.3, 48.8]]]}',  # noqa: E501
        '{"type": "Polygon", "coordinates": [[[0, 91], [1, 91], [1, 92], [0, 91]]]}',
        '{"type": "Polygon", "coordinates": [[[1e308, 1e308], [2, 2], [3, 1], [1e308, 1e308]]]}',
    ],
)
def test_malformed_geometry_is_refused(operator_api, geometry):
    body = '{"title": "x", "regions": [{"geometry": ' + geometry + "}]}"
    response = timed(
        geometry[:60],
        lambda: operator_api.post("/api/incidents/", body, content_type="application/json"),
    )
    assert response.status_code == 400
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_a_cap_alert_with_external_entities_is_refused(operator_api, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xml = f"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file://{secret}">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>&xxe;</identifier><sender>x@example.org</sender>
  <sent>2026-11-13T21:16:00+01:00</sent><status>Actual</status><msgType>Alert</msgType>
  <scope>Public</scope>
  <info><event>&xxe;</event><urgency>Immediate</urgency><severity>Extreme</severity>
  <certainty>Observed</certainty><headline>&xxe;</headline>
  <area><areaDesc>Paris</areaDesc><polygon>48.8,2.3 48.9,2.3 48.9,2.4 48.8,2.3</polygon></area>
  </info></alert>"""
    response = timed(
        "CAP with an external entity",
        lambda: operator_api.post("/api/incidents/from-cap/", xml, content_type="application/xml"),
    )
    assert response.status_code == 400
    assert "TOP-SECRET" not in response.content.decode()
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_a_billion_laughs_cap_alert_is_refused(operator_api):
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "lol"}">' for i in range(10))
    xml = f'<?xml version="1.0"?><!DOCTYPE alert [{lol}]><alert>&l9;</alert>'
    response = timed(
        "CAP billion laughs",
        lambda: operator_api.post("/api/incidents/from-cap/", xml, content_type="application/xml"),
    )
    assert response.status_code == 400
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_a_long_note_on_a_one_tap_answer_is_cut_not_crashing(alice_checkin):
    from django.test import Client

    from backend.checkins.tokens import checkin_token

    response = Client().post(
        f"/r/{checkin_token(alice_checkin.id, alice_checkin.incident_id)}",
        {"status": "safe", "note": "x" * 1_000_000},
    )
    assert response.status_code in (200, 400, 413)
