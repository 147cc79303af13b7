import json

import pytest

from backend.accounts.models import User
from backend.checkins.services import checkin_respond

pytestmark = pytest.mark.django_db


def test_settings_change_language_channels_and_friend_alerts(client, alice):
    client.force_login(alice)
    page = client.post(
        "/settings", {"language": "fr", "first": "sms", "second": "email", "third": ""}
    )
    assert page.status_code == 302
    assert page.cookies["django_language"].value == "fr"
    alice.refresh_from_db()
    assert (alice.language, alice.channel_order, alice.friend_alerts) == (
        "fr",
        ["sms", "email"],
        False,
    )
    assert "Paramètres" in client.get("/settings").content.decode()


def test_a_channel_chosen_twice_is_refused(client, alice):
    client.force_login(alice)
    page = client.post(
        "/settings", {"language": "en", "first": "sms", "second": "sms", "friend_alerts": "on"}
    )
    assert page.status_code == 400
    alice.refresh_from_db()
    assert alice.channel_order == ["webpush", "sms", "email"]


def test_export_holds_my_data_and_not_my_friends_answers(client, alice, bob, alice_checkin):
    checkin_respond(checkin_id=alice_checkin.id, status="safe", note="ok", via="pwa")
    client.force_login(alice)
    page = client.get("/settings/export.json")
    assert page["Content-Disposition"].startswith("attachment")
    data = json.loads(page.content)
    assert data["person"]["email"] == alice.email
    assert data["friends"] == [{"name": "Bob", "email": bob.email}]
    assert data["checkins"][0]["answers"][0]["status"] == "safe"
    assert len(data["places"]) == 1
    assert "h3_cell" in data["places"][0]


def test_deleting_needs_confirmation(client, alice):
    client.force_login(alice)
    assert client.post("/settings/delete", {}).status_code == 400
    assert User.objects.filter(id=alice.id).exists()


def test_deleting_removes_the_account_and_signs_out(client, alice, bob):
    client.force_login(alice)
    page = client.post("/settings/delete", {"confirm": "on"})
    assert page.status_code == 200
    assert not User.objects.filter(id=alice.id).exists()
    assert client.get("/").status_code == 302


def test_an_operator_who_ran_incidents_is_told_why_they_cannot_delete(client, olivia, incident):
    client.force_login(olivia)
    page = client.post("/settings/delete", {"confirm": "on"})
    assert page.status_code == 400
    assert User.objects.filter(id=olivia.id).exists()
