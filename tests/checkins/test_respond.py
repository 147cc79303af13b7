import pytest

from backend.checkins.models import Response
from backend.checkins.selectors import incident_stats

pytestmark = pytest.mark.django_db


def _respond(api, user, checkin, **body):
    return api(user).post(f"/api/checkins/{checkin.id}/respond/", body, format="json")


def test_answering_safe_with_a_note(api, alice, alice_checkin):
    response = _respond(api, alice, alice_checkin, status="safe", note="At home")
    assert response.status_code == 200
    assert response.json()["status"] == "safe"
    assert response.json()["note"] == "At home"
    assert Response.objects.get(checkin=alice_checkin).via == "app"


def test_the_last_answer_wins_and_every_answer_is_kept(api, alice, alice_checkin, incident):
    _respond(api, alice, alice_checkin, status="need_help")
    _respond(api, alice, alice_checkin, status="safe")
    alice_checkin.refresh_from_db()
    assert alice_checkin.status == "safe"
    history = list(
        Response.objects.filter(checkin=alice_checkin)
        .order_by("id")
        .values_list("status", flat=True)
    )
    assert history == ["need_help", "safe"]
    stats = incident_stats(incident_id=incident.id)
    assert (stats["safe"], stats["need_help"], stats["no_answer"]) == (1, 0, 1)


def test_repeating_the_same_answer_records_it_once(api, alice, alice_checkin, incident):
    for _ in range(3):
        assert _respond(api, alice, alice_checkin, status="safe").status_code == 200
    assert Response.objects.filter(checkin=alice_checkin).count() == 1
    assert incident_stats(incident_id=incident.id)["safe"] == 1


@pytest.mark.parametrize(
    "body",
    [{"status": "fine"}, {}, {"status": "safe", "note": "x" * 281}, {"status": ["safe"]}],
)
def test_bad_answers_are_refused_and_change_nothing(api, alice, alice_checkin, body):
    response = _respond(api, alice, alice_checkin, **body)
    assert response.status_code == 400
    assert response.json()["error"]["message"]
    alice_checkin.refresh_from_db()
    assert alice_checkin.status == "pending"
    assert not Response.objects.exists()


def test_answering_for_someone_else_is_404(api, charlie, alice_checkin):
    assert _respond(api, charlie, alice_checkin, status="safe").status_code == 404
    alice_checkin.refresh_from_db()
    assert alice_checkin.status == "pending"


def test_answering_after_resolution_is_409(api, alice, olivia, alice_checkin, incident):
    api(olivia).post(f"/api/incidents/{incident.id}/resolve/")
    response = _respond(api, alice, alice_checkin, status="safe")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "closed"


def test_my_checkins_lists_open_ones_first(api, alice, alice_checkin):
    body = api(alice).get("/api/me/checkins/").json()
    assert [c["id"] for c in body] == [alice_checkin.id]
    assert body[0]["incident_title"] == "Paris attacks"
