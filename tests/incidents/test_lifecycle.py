import pytest

from backend.checkins.models import CheckIn
from backend.incidents.models import Incident
from backend.incidents.services import incident_create
from tests.factories import PARIS_POLYGON

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(olivia):
    return incident_create(
        creator=olivia, title="Paris attacks", regions=[{"geometry": PARIS_POLYGON}]
    )


def test_activation_answers_202_and_creates_one_checkin_per_affected_person(
    api, olivia, alice, bob, charlie, incident, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(olivia).post(f"/api/incidents/{incident.id}/activate/")
    assert response.status_code == 202
    assert response.json()["status"] == "active"
    targeted = set(
        CheckIn.objects.filter(incident=incident).values_list("person__email", flat=True)
    )
    assert targeted == {"alice@example.org", "charlie@example.org"}  # bob lives in Lyon


def test_activating_twice_is_a_409_and_creates_nothing_more(
    api, olivia, alice, incident, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        api(olivia).post(f"/api/incidents/{incident.id}/activate/")
    again = api(olivia).post(f"/api/incidents/{incident.id}/activate/")
    assert again.status_code == 409
    assert CheckIn.objects.filter(incident=incident).count() == 1


def test_the_fanout_task_running_twice_creates_nothing_more(olivia, alice, charlie, incident):
    from backend.checkins.selectors import incident_stats
    from backend.checkins.services import checkins_create_for_incident

    Incident.objects.filter(id=incident.id).update(status="active")
    assert checkins_create_for_incident(incident_id=incident.id) == 2
    assert checkins_create_for_incident(incident_id=incident.id) == 0
    assert incident_stats(incident_id=incident.id)["targeted"] == 2


def test_a_non_operator_cannot_activate_or_resolve(api, alice, incident):
    assert api(alice).post(f"/api/incidents/{incident.id}/activate/").status_code == 403
    assert api(alice).post(f"/api/incidents/{incident.id}/resolve/").status_code == 403
    incident.refresh_from_db()
    assert incident.status == "draft"


def test_resolving_then_activating_again_is_refused(api, olivia, incident):
    api(olivia).post(f"/api/incidents/{incident.id}/activate/")
    assert api(olivia).post(f"/api/incidents/{incident.id}/resolve/").status_code == 200
    response = api(olivia).post(f"/api/incidents/{incident.id}/activate/")
    assert response.status_code == 409
    assert "resolved" in response.json()["error"]["message"]


@pytest.mark.parametrize("action", ["activate", "resolve"])
def test_a_bad_reason_is_a_documented_400_and_changes_nothing(api, olivia, incident, action):
    if action == "resolve":
        api(olivia).post(f"/api/incidents/{incident.id}/activate/")
    before = Incident.objects.get(id=incident.id).status

    response = api(olivia).post(
        f"/api/incidents/{incident.id}/{action}/", {"reason": "a\x00b"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"reason": ["Null characters are not allowed."]}
    assert Incident.objects.get(id=incident.id).status == before
    schema = api(olivia).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert (
        "400" in schema["paths"][f"/api/incidents/{{incident_id}}/{action}/"]["post"]["responses"]
    )


def test_resolving_a_draft_is_refused(api, olivia, incident):
    assert api(olivia).post(f"/api/incidents/{incident.id}/resolve/").status_code == 409


def test_unknown_incident_is_404(api, olivia):
    assert api(olivia).post("/api/incidents/999999/activate/").status_code == 404
    assert api(olivia).get("/api/incidents/999999/").status_code == 404


def test_drafts_are_hidden_from_people(api, alice, olivia, incident):
    assert api(alice).get(f"/api/incidents/{incident.id}/").status_code == 404
    assert api(alice).get("/api/incidents/").json() == []
    assert api(olivia).get("/api/incidents/").json()[0]["id"] == incident.id


def test_audience_preview_counts_people_inside(api, olivia, alice, bob, charlie, incident):
    response = api(olivia).get(f"/api/incidents/{incident.id}/audience/")
    assert response.json() == {"people": 2}
    assert api(alice).get(f"/api/incidents/{incident.id}/audience/").status_code == 403


def test_audience_preview_leaves_out_deactivated_people(api, olivia, alice, bob, incident):
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    response = api(olivia).get(f"/api/incidents/{incident.id}/audience/")
    assert response.json() == {"people": 1}  # the fan-out would not reach bob either


def test_stats_match_answers(
    api, olivia, alice, charlie, incident, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        api(olivia).post(f"/api/incidents/{incident.id}/activate/")
    checkin = CheckIn.objects.get(person=alice)
    api(alice).post(f"/api/checkins/{checkin.id}/respond/", {"status": "safe"}, format="json")
    stats = api(olivia).get(f"/api/incidents/{incident.id}/stats/").json()
    assert stats == {
        "targeted": 2,
        "delivered": 2,
        "safe": 1,
        "need_help": 0,
        "not_in_area": 0,
        "no_answer": 1,
    }
    assert api(charlie).get(f"/api/incidents/{incident.id}/stats/").status_code == 403
