import pytest

from backend.checkins.services import checkin_respond
from backend.console.models import OfficialUpdate

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_safe(alice_checkin):
    return checkin_respond(checkin_id=alice_checkin.id, status="safe", note="at work", via="pwa")


def test_a_friend_sees_the_answer_time_and_note(client, bob, alice_safe):
    client.force_login(bob)
    html = client.get(f"/incidents/{alice_safe.incident_id}/").content.decode()
    assert "Alice" in html
    assert "badge-safe" in html
    assert "at work" in html
    assert "<time datetime=" in html


def test_a_stranger_sees_no_friend_status(client, charlie, alice_safe):
    client.force_login(charlie)
    html = client.get(f"/incidents/{alice_safe.incident_id}/").content.decode()
    assert "at work" not in html
    assert "Alice" not in html
    live = client.get(f"/live/incidents/{alice_safe.incident_id}").content.decode()
    assert "at work" not in live


def test_pending_friends_get_an_ask_to_check_in_button(client, bob, alice_checkin):
    client.force_login(bob)
    html = client.get(f"/live/incidents/{alice_checkin.incident_id}").content.decode()
    assert f'data-nudge="{alice_checkin.id}"' in html
    assert "Ask Alice to check in" in html


def test_official_updates_are_listed(client, alice, olivia, incident):
    OfficialUpdate.objects.create(incident=incident, text="Stay indoors.", author=olivia)
    client.force_login(alice)
    assert "Stay indoors." in client.get(f"/incidents/{incident.id}/").content.decode()


def test_a_draft_incident_is_not_found(client, alice, olivia):
    from backend.incidents.services import incident_create
    from tests.factories import PARIS_POLYGON

    draft = incident_create(creator=olivia, title="Draft", regions=[{"geometry": PARIS_POLYGON}])
    client.force_login(alice)
    assert client.get(f"/incidents/{draft.id}/").status_code == 404
