"""Activation with explicit confirmation, the two-operator rule, declines and resolution."""

import pytest

from backend.checkins.models import CheckIn
from backend.console.models import ActivationRequest, PublicLogEntry
from backend.incidents.models import AuditEntry, Incident


def activate(api, user, incident, title=None, reason="Shootings in the 10th and 11th"):
    return api(user).post(
        f"/api/incidents/{incident.id}/activation/",
        {"reason": reason, "confirm_title": incident.title if title is None else title},
        format="json",
    )


def test_activation_with_typed_title_fans_out_and_is_logged_publicly(
    api, olivia, draft, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = activate(api, olivia, draft)

    assert response.status_code == 201
    assert response.json()["status"] == "approved"
    assert response.json()["audience"] == 2
    draft.refresh_from_db()
    assert draft.status == Incident.Status.ACTIVE
    assert CheckIn.objects.filter(incident=draft).count() == 2
    entry = PublicLogEntry.objects.get(incident=draft)
    assert (entry.action, entry.reason, entry.audience) == (
        "activated",
        "Shootings in the 10th and 11th",
        2,
    )
    assert {"request_activation", "activate"} <= set(
        AuditEntry.objects.filter(incident=draft).values_list("action", flat=True)
    )


def test_activation_with_a_wrong_title_is_refused_and_changes_nothing(api, olivia, draft):
    response = activate(api, olivia, draft, title="Paris")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "not_confirmed"
    draft.refresh_from_db()
    assert draft.status == Incident.Status.DRAFT
    assert not ActivationRequest.objects.exists()


def test_activation_without_a_reason_is_refused(api, olivia, draft):
    response = activate(api, olivia, draft, reason="  ")

    assert response.status_code == 400
    assert not ActivationRequest.objects.exists()


def test_two_operator_rule_waits_for_a_different_operator(
    api, olivia, oscar, draft, settings, django_capture_on_commit_callbacks
):
    settings.SAFE_TWO_OPERATOR_RULE = True
    request_id = activate(api, olivia, draft).json()["id"]
    draft.refresh_from_db()
    assert draft.status == Incident.Status.DRAFT
    approve = f"/api/incidents/{draft.id}/activation/{request_id}/approve/"

    same = api(olivia).post(approve)
    with django_capture_on_commit_callbacks(execute=True):
        other = api(oscar).post(approve)

    assert same.status_code == 403
    assert same.json()["error"]["code"] == "same_operator"
    assert other.status_code == 200
    draft.refresh_from_db()
    assert draft.status == Incident.Status.ACTIVE
    assert draft.activated_by == oscar
    assert CheckIn.objects.filter(incident=draft).count() == 2
    assert AuditEntry.objects.filter(incident=draft, action="approve", actor=oscar).exists()


def test_two_operator_rule_allows_one_pending_request(api, olivia, oscar, draft, settings):
    settings.SAFE_TWO_OPERATOR_RULE = True
    activate(api, olivia, draft)

    assert activate(api, oscar, draft).status_code == 409


def test_a_withdrawn_request_cannot_be_approved(api, olivia, oscar, draft, settings):
    settings.SAFE_TWO_OPERATOR_RULE = True
    request_id = activate(api, olivia, draft).json()["id"]
    base = f"/api/incidents/{draft.id}/activation/{request_id}"

    assert api(olivia).post(f"{base}/withdraw/").status_code == 200
    assert api(oscar).post(f"{base}/approve/").status_code == 409
    draft.refresh_from_db()
    assert draft.status == Incident.Status.DRAFT


def test_decline_publishes_the_reason_and_blocks_activation(api, olivia, draft):
    response = api(olivia).post(
        f"/api/incidents/{draft.id}/decline/", {"reason": "Reports unconfirmed"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["action"] == "declined"
    assert activate(api, olivia, draft).status_code == 409
    public = api(None).get("/api/activation-log/").json()
    assert [(e["action"], e["reason"]) for e in public] == [("declined", "Reports unconfirmed")]
    assert AuditEntry.objects.filter(incident=draft, action="decline").exists()


def test_resolution_with_a_reason_is_logged_publicly(api, olivia, incident):
    response = api(olivia).post(
        f"/api/incidents/{incident.id}/resolution/", {"reason": "Threat over"}, format="json"
    )

    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED
    entry = PublicLogEntry.objects.get(incident=incident)
    assert (entry.action, entry.reason, entry.audience) == ("resolved", "Threat over", 2)


def test_resolving_a_draft_is_a_conflict(api, olivia, draft):
    response = api(olivia).post(
        f"/api/incidents/{draft.id}/resolution/", {"reason": "x"}, format="json"
    )

    assert response.status_code == 409
    assert not PublicLogEntry.objects.exists()


@pytest.mark.parametrize("action", ["activation", "decline"])
def test_actions_on_an_unknown_incident_are_404(api, olivia, action):
    response = api(olivia).post(
        f"/api/incidents/999/{action}/", {"reason": "x", "confirm_title": "x"}, format="json"
    )

    assert response.status_code == 404
