import pytest

from backend.checkins.services import checkin_respond
from backend.checkins.tokens import checkin_token

pytestmark = pytest.mark.django_db


def test_a_friend_sees_the_answer_in_the_incident(api, client, alice, bob, alice_checkin, incident):
    client.post(
        f"/r/{checkin_token(alice_checkin.id, alice_checkin.incident_id)}",
        {"status": "safe", "note": "Home"},
    )
    body = api(bob).get(f"/api/incidents/{incident.id}/friends/").json()
    assert body == [
        {
            "person_id": alice.id,
            "name": "Alice",
            "incident_id": incident.id,
            "incident_title": "Paris attacks",
            "status": "safe",
            "note": "Home",
            "answered_at": body[0]["answered_at"],
        }
    ]
    assert body[0]["answered_at"]


def test_a_friend_sees_no_answer_yet(api, bob, alice_checkin, incident):
    body = api(bob).get("/api/me/friends/checkins/").json()
    assert [(c["name"], c["status"]) for c in body] == [("Alice", "pending")]


def test_a_stranger_sees_nothing(api, charlie, alice_checkin, incident):
    checkin_respond(checkin_id=alice_checkin.id, status="need_help", via="app")
    assert api(charlie).get(f"/api/incidents/{incident.id}/friends/").json() == []
    assert api(charlie).get("/api/me/friends/checkins/").json() == []


def test_friends_of_a_resolved_incident_drop_out_of_the_active_view(
    api, olivia, bob, alice_checkin, incident
):
    api(olivia).post(f"/api/incidents/{incident.id}/resolve/")
    assert api(bob).get("/api/me/friends/checkins/").json() == []
    assert len(api(bob).get(f"/api/incidents/{incident.id}/friends/").json()) == 1
