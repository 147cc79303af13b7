"""The inbound webhook: signed SMS replies answer the sender's most recent open check-in."""

from urllib.parse import urlencode

import pytest

from backend.checkins.models import CheckIn, Response
from backend.checkins.services import checkins_create_for_incident
from backend.incidents.models import Incident
from backend.incidents.services import incident_create
from backend.notifications.models import Phone
from tests.factories import PARIS_POLYGON
from tests.notifications.sms.conftest import ALICE_NUMBER, CHARLIE_NUMBER, confirm_phone


@pytest.fixture
def alice_phone(alice):
    return confirm_phone(alice, ALICE_NUMBER)


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ("SAFE", "safe"),
        ("safe", "safe"),
        ("  Ok!  ", "safe"),
        ("I'm safe.", "safe"),
        ("SÛR", "safe"),
        ("sur", "safe"),
        ("Sûre", "safe"),
        ("en sécurité", "safe"),
        ("EN SECURITE", "safe"),
        ("HELP", "need_help"),
        ("help!!!", "need_help"),
        ("Aide", "need_help"),
        ("SOS", "need_help"),
        ("au secours !", "need_help"),
        ("AWAY", "not_in_area"),
        ("absent", "not_in_area"),
        ("Absente.", "not_in_area"),
        ("PAS LÀ…", "not_in_area"),
        ("pas la", "not_in_area"),
    ],
)
def test_each_keyword_answers_the_open_check_in(
    inbound, alice_phone, alice_checkin, sms_provider, reply, status
):
    response = inbound(ALICE_NUMBER, reply)

    assert response.status_code == 204
    alice_checkin.refresh_from_db()
    assert (alice_checkin.status, alice_checkin.answered_via) == (status, "sms")
    [confirmation] = sms_provider.messages
    assert confirmation.to == ALICE_NUMBER
    assert confirmation.body.startswith("Thank you. Your answer is recorded")


def test_the_confirmation_is_in_the_persons_language(
    inbound, alice, alice_phone, alice_checkin, sms_provider
):
    alice.language = "fr"
    alice.save()

    inbound(ALICE_NUMBER, "aide")

    [confirmation] = sms_provider.messages
    assert confirmation.body.startswith("Merci. Votre réponse est enregistrée")
    assert "appelez les secours" in confirmation.body


def test_the_most_recent_open_check_in_is_answered(
    inbound, olivia, alice, alice_phone, alice_checkin, sms_provider
):
    later = incident_create(creator=olivia, title="Storm", regions=[{"geometry": PARIS_POLYGON}])
    Incident.objects.filter(id=later.id).update(status=Incident.Status.ACTIVE)
    checkins_create_for_incident(incident_id=later.id)

    inbound(ALICE_NUMBER, "SAFE")

    assert CheckIn.objects.get(person=alice, incident=later).status == "safe"
    alice_checkin.refresh_from_db()
    assert alice_checkin.status == "pending"


@pytest.mark.parametrize("signature", [None, "", "sha256=" + "0" * 64, "not-hex", "sha256="])
def test_a_missing_or_bad_signature_is_refused_and_changes_nothing(
    inbound, alice_phone, alice_checkin, sms_provider, signature
):
    response = inbound(ALICE_NUMBER, "SAFE", signature=signature)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_signature"
    assert not Response.objects.exists()
    assert sms_provider.messages == []


def test_a_signature_for_another_body_is_refused(inbound, alice_phone, alice_checkin, sms_provider):
    from backend.notifications.sms.signature import sign
    from tests.notifications.sms.conftest import INBOUND_SECRET

    signed = sign(urlencode({"From": ALICE_NUMBER, "Body": "AWAY"}).encode(), secret=INBOUND_SECRET)

    response = inbound(ALICE_NUMBER, "HELP", signature=signed)

    assert response.status_code == 403
    assert not Response.objects.exists()


def test_without_a_secret_the_webhook_is_off(
    settings, inbound, alice_phone, alice_checkin, sms_provider
):
    settings.SMS_INBOUND_SECRET = ""

    response = inbound(ALICE_NUMBER, "SAFE", signature="sha256=" + "0" * 64)

    assert response.status_code == 403
    assert not Response.objects.exists()


@pytest.mark.parametrize("sender", ["+33600000000", "not a number", "+1"])
def test_an_unknown_number_changes_nothing_and_gets_no_reply(
    inbound, alice_phone, alice_checkin, sms_provider, sender
):
    response = inbound(sender, "SAFE")

    assert response.status_code == 204
    assert not Response.objects.exists()
    assert sms_provider.messages == []


def test_an_unconfirmed_number_is_unknown(inbound, alice, alice_checkin, sms_provider):
    Phone.objects.create(person=alice, number=ALICE_NUMBER)

    assert inbound(ALICE_NUMBER, "SAFE").status_code == 204

    assert not Response.objects.exists()
    assert sms_provider.messages == []


def test_an_unknown_keyword_gets_a_help_reply_with_the_link(
    inbound, alice_phone, alice_checkin, sms_provider
):
    response = inbound(ALICE_NUMBER, "OK but I need help")

    assert response.status_code == 204
    assert not Response.objects.exists()
    [reply] = sms_provider.messages
    assert reply.to == ALICE_NUMBER
    assert reply.body.startswith("Reply SAFE if you are safe, HELP if you need help")
    assert "/r/" in reply.body


def test_a_reply_after_the_incident_is_resolved_changes_nothing(
    inbound, incident, alice_phone, alice_checkin, sms_provider
):
    Incident.objects.filter(id=incident.id).update(status=Incident.Status.RESOLVED)

    response = inbound(ALICE_NUMBER, "SAFE")

    assert response.status_code == 204
    alice_checkin.refresh_from_db()
    assert alice_checkin.status == "pending"
    assert not Response.objects.exists()
    [reply] = sms_provider.messages
    assert "no check-in is open for you" in reply.body


def test_a_reply_answers_only_the_senders_own_check_in(
    inbound, alice, charlie, alice_phone, incident, sms_provider
):
    confirm_phone(charlie, CHARLIE_NUMBER)

    inbound(CHARLIE_NUMBER, "HELP")

    assert CheckIn.objects.get(person=charlie, incident=incident).status == "need_help"
    assert CheckIn.objects.get(person=alice, incident=incident).status == "pending"
    assert [sms.to for sms in sms_provider.messages] == [CHARLIE_NUMBER]


def test_a_malformed_webhook_call_is_a_400(inbound, alice_phone, alice_checkin, sms_provider):
    response = inbound("", "", body=urlencode({"Body": "SAFE"}).encode())

    assert response.status_code == 400
    assert not Response.objects.exists()
