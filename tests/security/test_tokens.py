"""One-tap tokens: scoped to one check-in, dead at resolution, tamper-proof."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from backend.checkins.models import CheckIn
from backend.checkins.tokens import checkin_token, token_claims
from backend.incidents.models import Incident


def token_of(checkin: CheckIn) -> str:
    return checkin_token(checkin.id, checkin.incident_id)


def answer(token: str):
    return APIClient().post("/api/answer/", {"token": token, "status": "safe"}, format="json")


@pytest.mark.django_db
def test_a_valid_token_answers_its_own_check_in(alice_checkin):
    assert answer(token_of(alice_checkin)).status_code == 200
    assert CheckIn.objects.get(id=alice_checkin.id).status == "safe"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # one MAC character
        lambda t: t.rsplit(".", 1)[0] + ".",  # no MAC
        lambda t: t.replace(".", ""),
        lambda t: t + "=",
        lambda t: t.upper(),
        lambda t: "-" + t,
        lambda t: t + "." + t,
        lambda t: "x" * 10_000,
    ],
)
def test_a_tampered_token_is_refused_and_changes_nothing(alice_checkin, tamper):
    token = tamper(token_of(alice_checkin))
    response = answer(token)
    assert response.status_code in (400, 404)
    assert Client().post(f"/r/{token}", {"status": "safe"}).status_code in (400, 404)
    assert CheckIn.objects.get(id=alice_checkin.id).status == "pending"


@pytest.mark.django_db
def test_a_token_cannot_be_moved_to_another_check_in_or_incident(alice_checkin, charlie):
    charlies = charlie.checkins.get()
    _checkin, incident, mac = token_of(alice_checkin).split(".")
    for forged in (f"{charlies.id:x}.{incident}.{mac}", f"{alice_checkin.id:x}.{999:x}.{mac}"):
        assert token_claims(forged) is None
        assert answer(forged).status_code == 404
    assert CheckIn.objects.get(id=charlies.id).status == "pending"
    assert CheckIn.objects.get(id=alice_checkin.id).status == "pending"


@pytest.mark.django_db
def test_a_token_stops_working_when_the_incident_is_resolved(alice_checkin, incident):
    Incident.objects.filter(id=incident.id).update(status=Incident.Status.RESOLVED)
    response = answer(token_of(alice_checkin))
    assert 400 <= response.status_code < 500
    page = Client().post(f"/r/{token_of(alice_checkin)}", {"status": "safe"})
    assert 400 <= page.status_code < 500
    assert CheckIn.objects.get(id=alice_checkin.id).status == "pending"


def test_tokens_are_checked_in_constant_time():
    import inspect

    from backend.checkins import tokens

    assert "compare_digest" in inspect.getsource(tokens.token_claims)
