import pytest

from backend.checkins.models import Response

pytestmark = pytest.mark.django_db


def test_home_shows_the_active_checkin_with_three_answers(client, alice, alice_checkin):
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert "Paris attacks" in html
    for value in ("safe", "need_help", "not_in_area"):
        assert f'value="{value}"' in html
    assert "You have not answered yet." in html


def test_answering_from_the_form_records_once_and_redirects(client, alice, alice_checkin):
    client.force_login(alice)
    for _ in range(2):
        page = client.post(
            f"/checkins/{alice_checkin.id}/answer", {"status": "safe", "note": "at home"}
        )
        assert page["Location"] == "/"
    alice_checkin.refresh_from_db()
    assert (alice_checkin.status, alice_checkin.note, alice_checkin.answered_via) == (
        "safe",
        "at home",
        "pwa",
    )
    assert Response.objects.filter(checkin=alice_checkin).count() == 1


def test_answering_with_json_returns_the_status(client, alice, alice_checkin):
    client.force_login(alice)
    page = client.post(
        f"/checkins/{alice_checkin.id}/answer",
        {"status": "need_help"},
        HTTP_ACCEPT="application/json",
    )
    assert page.json() == {"id": alice_checkin.id, "status": "need_help"}


def test_a_bad_answer_is_a_clear_400_and_changes_nothing(client, alice, alice_checkin):
    client.force_login(alice)
    page = client.post(
        f"/checkins/{alice_checkin.id}/answer", {"status": "fine"}, HTTP_ACCEPT="application/json"
    )
    assert page.status_code == 400
    assert page.json()["error"]["message"]
    alice_checkin.refresh_from_db()
    assert alice_checkin.status == "pending"


def test_a_stranger_cannot_answer_for_alice(client, charlie, alice_checkin):
    client.force_login(charlie)
    page = client.post(
        f"/checkins/{alice_checkin.id}/answer", {"status": "safe"}, HTTP_ACCEPT="application/json"
    )
    assert page.status_code == 404
    alice_checkin.refresh_from_db()
    assert alice_checkin.status == "pending"


def test_home_live_fragment_answers_304_while_nothing_changed(client, alice, alice_checkin):
    client.force_login(alice)
    first = client.get("/live/home")
    assert first.status_code == 200
    assert "Paris attacks" in first.content.decode()
    assert client.get("/live/home", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    client.post(f"/checkins/{alice_checkin.id}/answer", {"status": "safe"})
    changed = client.get("/live/home", HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200
    assert "badge-safe" in changed.content.decode()
