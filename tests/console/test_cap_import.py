"""POST /api/incidents/from-cap/: CAP 1.2 alerts become drafts, updates and resolutions."""

from pathlib import Path

import pytest

from backend.console.models import CapLink, OfficialUpdate, PublicLogEntry
from backend.incidents.models import AffectedRegion, AuditEntry, Incident

SAMPLES = Path(__file__).resolve().parent.parent / "incidents" / "cap_samples"
INVALID = sorted((SAMPLES / "invalid").iterdir())


def post_cap(api, user, name_or_bytes, content_type="application/xml"):
    body = (
        name_or_bytes
        if isinstance(name_or_bytes, bytes)
        else (SAMPLES / name_or_bytes).read_bytes()
    )
    return api(user).post("/api/incidents/from-cap/", body, content_type=content_type)


def test_a_polygon_alert_becomes_a_draft_never_activated(api, olivia):
    response = post_cap(api, olivia, "paris_polygon.xml")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["action"] == "created"
    incident = Incident.objects.get(id=body["incident"]["id"])
    assert incident.status == Incident.Status.DRAFT
    assert incident.title == "Attaques en cours à Paris, 10e et 11e arrondissements"
    assert incident.kind == "attack"
    assert not incident.drill
    assert "Restez à l'abri" in incident.description
    assert incident.regions.count() == 1
    assert AuditEntry.objects.filter(incident=incident, action="cap_import").exists()


def test_a_circle_alert_becomes_a_circle_region(api, olivia):
    response = post_cap(api, olivia, "circle.xml", content_type="text/xml")

    assert response.status_code == 201, response.json()
    region = AffectedRegion.objects.get(incident_id=response.json()["incident"]["id"])
    assert region.radius_m > 0
    assert region.center_lat is not None


def test_several_areas_become_several_regions(api, olivia):
    response = post_cap(api, olivia, "multi_area.xml")

    assert response.status_code == 201, response.json()
    assert AffectedRegion.objects.filter(incident_id=response.json()["incident"]["id"]).count() > 1


def test_a_test_or_exercise_alert_becomes_a_drill(api, olivia):
    response = post_cap(api, olivia, "drill.xml")

    assert response.status_code == 201, response.json()
    assert response.json()["incident"]["drill"] is True


def test_an_update_changes_the_draft_made_from_the_referenced_alert(api, olivia):
    created = post_cap(api, olivia, "paris_polygon.xml").json()["incident"]

    response = post_cap(api, olivia, "update.xml")

    assert response.status_code == 200, response.json()
    assert response.json()["action"] == "updated"
    incident = Incident.objects.get(id=created["id"])
    assert incident.title == "Zone étendue au 3e arrondissement"
    assert incident.status == Incident.Status.DRAFT
    assert Incident.objects.count() == 1


def test_an_update_of_an_active_incident_posts_an_official_update(api, olivia):
    created = post_cap(api, olivia, "paris_polygon.xml").json()["incident"]
    Incident.objects.filter(id=created["id"]).update(status=Incident.Status.ACTIVE)

    response = post_cap(api, olivia, "update.xml")

    assert response.json()["action"] == "posted_update"
    assert OfficialUpdate.objects.get(incident_id=created["id"]).text.startswith("Zone étendue")


def test_a_cancel_resolves_the_active_incident(api, olivia):
    created = post_cap(api, olivia, "paris_polygon.xml").json()["incident"]
    Incident.objects.filter(id=created["id"]).update(status=Incident.Status.ACTIVE)

    response = post_cap(api, olivia, "cancel.xml")

    assert response.status_code == 200, response.json()
    assert response.json()["action"] == "resolved"
    assert Incident.objects.get(id=created["id"]).status == Incident.Status.RESOLVED
    assert PublicLogEntry.objects.filter(incident_id=created["id"], action="resolved").exists()


def test_a_cancel_declines_a_draft(api, olivia):
    created = post_cap(api, olivia, "paris_polygon.xml").json()["incident"]

    response = post_cap(api, olivia, "cancel.xml")

    assert response.json()["action"] == "declined"
    assert PublicLogEntry.objects.filter(incident_id=created["id"], action="declined").exists()


def test_an_update_of_an_unknown_alert_is_refused(api, olivia):
    response = post_cap(api, olivia, "update.xml")

    assert response.status_code == 400
    assert "referenced" in response.json()["error"]["message"]
    assert not CapLink.objects.exists()


def test_the_same_alert_twice_is_a_conflict(api, olivia):
    post_cap(api, olivia, "paris_polygon.xml")

    response = post_cap(api, olivia, "paris_polygon.xml")

    assert response.status_code == 409
    assert Incident.objects.count() == 1


@pytest.mark.parametrize("path", INVALID, ids=[path.stem for path in INVALID])
def test_every_malformed_alert_is_a_400_naming_the_problem_and_creates_nothing(api, olivia, path):
    response = post_cap(api, olivia, path.read_bytes())

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "cap_invalid"
    assert error["message"].startswith("Invalid CAP alert: ")
    assert len(error["message"]) > len("Invalid CAP alert: ") + 10
    assert not Incident.objects.exists()
    assert not CapLink.objects.exists()


@pytest.mark.parametrize("name", ["xxe.xml", "billion_laughs.xml"])
def test_entity_attacks_are_refused(api, olivia, name):
    response = post_cap(api, olivia, (SAMPLES / "invalid" / name).read_bytes())

    assert response.status_code == 400
    assert "entities are not allowed" in response.json()["error"]["message"]
    assert not Incident.objects.exists()


def test_an_alert_over_the_size_limit_is_refused(api, olivia, settings):
    settings.SAFE_CAP_MAX_BYTES = 100

    response = post_cap(api, olivia, "paris_polygon.xml")

    assert response.status_code == 400
    assert "limit" in response.json()["error"]["message"]


def test_a_json_body_is_unsupported(api, olivia):
    response = api(olivia).post("/api/incidents/from-cap/", {"a": 1}, format="json")

    assert response.status_code == 415
    assert not Incident.objects.exists()


def test_geocodes_map_through_the_configured_table(api, olivia, settings):
    xml = (SAMPLES / "circle.xml").read_text()
    start, end = xml.index("<circle>"), xml.index("</circle>") + len("</circle>")
    xml = (
        xml[:start]
        + "<geocode><valueName>INSEE</valueName><value>75056</value></geocode>"
        + xml[end:]
    )
    settings.SAFE_CAP_GEOCODES = {
        "INSEE": {"75056": {"center": {"lat": 48.8566, "lon": 2.3522}, "radius_m": 3000}}
    }

    response = post_cap(api, olivia, xml.encode())

    assert response.status_code == 201, response.json()
    assert AffectedRegion.objects.get().radius_m == 3000


def test_an_unmapped_geocode_alone_is_refused_naming_it(api, olivia):
    xml = (SAMPLES / "circle.xml").read_text()
    start, end = xml.index("<circle>"), xml.index("</circle>") + len("</circle>")
    xml = (
        xml[:start]
        + "<geocode><valueName>INSEE</valueName><value>75056</value></geocode>"
        + xml[end:]
    )

    response = post_cap(api, olivia, xml.encode())

    assert response.status_code == 400
    assert "INSEE=75056 is not supported" in response.json()["error"]["message"]
    assert not Incident.objects.exists()
