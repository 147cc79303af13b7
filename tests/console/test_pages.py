"""The console's server-rendered pages work without JavaScript, end to end."""

import json

from backend.checkins.services import checkin_respond
from backend.incidents.models import Incident
from tests.factories import PARIS_POLYGON

from .test_cap_import import SAMPLES


def test_an_operator_runs_a_whole_incident_from_the_pages(
    client, olivia, alice, charlie, django_capture_on_commit_callbacks
):
    client.force_login(olivia)
    assert client.get("/console/incidents/new/").status_code == 200

    response = client.post(
        "/console/incidents/new/",
        {"title": "Paris attacks", "kind": "attack", "regions": json.dumps(PARIS_POLYGON)},
    )
    incident = Incident.objects.get()
    assert response["Location"] == f"/console/incidents/{incident.id}/"
    page = client.get(response["Location"]).content.decode()
    assert "Audience preview" in page
    assert 'id="audience-total">2<' in page

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/console/incidents/{incident.id}/activate/",
            {"reason": "Shootings", "confirm_title": "Paris attacks"},
        )
    incident.refresh_from_db()
    assert incident.status == Incident.Status.ACTIVE

    checkin = alice.checkins.get()
    checkin_respond(checkin_id=checkin.id, status="need_help", note="Hurt", via="app")
    triage = client.get(f"/console/incidents/{incident.id}/triage/").content.decode()
    assert "Hurt" in triage
    client.post(
        f"/console/incidents/{incident.id}/triage/{checkin.id}/",
        {"status": "handled", "assignee": str(olivia.id), "comment": "Ambulance sent"},
    )
    assert checkin.triage.status == "handled"

    client.post(f"/console/incidents/{incident.id}/updates/", {"text": "Stay inside."})
    assert "Stay inside." in client.get(f"/console/incidents/{incident.id}/").content.decode()

    csv_response = client.get(f"/console/incidents/{incident.id}/export.csv")
    assert b"Alice" in b"".join(csv_response.streaming_content)

    client.post(f"/console/incidents/{incident.id}/resolve/", {"reason": "Over"})
    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED
    log = client.get("/console/activation-log/").content.decode()
    assert "Shootings" in log
    assert "Over" in log
    assert "triage" in client.get("/console/audit/").content.decode()


def test_a_refused_action_shows_why_and_changes_nothing(client, olivia, draft):
    client.force_login(olivia)

    response = client.post(
        f"/console/incidents/{draft.id}/activate/",
        {"reason": "x", "confirm_title": "wrong"},
        follow=True,
    )

    assert "Type the incident" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == Incident.Status.DRAFT


def test_bad_geojson_is_shown_back_with_the_form(client, olivia):
    client.force_login(olivia)

    response = client.post("/console/incidents/new/", {"title": "T", "regions": "{nope"})

    assert response.status_code == 200
    assert "not valid GeoJSON" in response.content.decode()
    assert not Incident.objects.exists()


def test_a_cap_file_upload_creates_a_draft(client, olivia):
    client.force_login(olivia)
    with (SAMPLES / "paris_polygon.xml").open("rb") as upload:
        response = client.post("/console/incidents/import-cap/", {"cap": upload})

    incident = Incident.objects.get()
    assert response["Location"] == f"/console/incidents/{incident.id}/"
    assert incident.status == Incident.Status.DRAFT


def test_editing_a_draft_replaces_its_regions(client, olivia, draft):
    client.force_login(olivia)
    circle = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
        "properties": {"radius_m": 500},
    }

    client.post(
        f"/console/incidents/{draft.id}/edit/",
        {"title": "Renamed", "kind": "fire", "regions": json.dumps(circle)},
    )

    draft.refresh_from_db()
    assert (draft.title, draft.kind) == ("Renamed", "fire")
    assert draft.regions.get().radius_m == 500


def test_the_event_stream_sends_the_live_snapshot(client, olivia, incident, settings):
    from backend.console import views

    client.force_login(olivia)
    views.STREAM_SECONDS = 0.01
    try:
        response = client.get(f"/console/incidents/{incident.id}/events/")
        body = b"".join(response.streaming_content).decode()
    finally:
        views.STREAM_SECONDS = 25

    assert response["Content-Type"] == "text/event-stream"
    data = json.loads(body.split("data: ", 1)[1].split("\n\n", 1)[0])
    assert data["counters"]["targeted"] == 2
