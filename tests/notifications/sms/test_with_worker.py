"""SMS end to end with a real Celery worker: activation texts, a reply, its confirmation."""

import time

import pytest

from backend.checkins.models import CheckIn
from backend.incidents.services import incident_activate, incident_create
from tests.factories import PARIS, PARIS_POLYGON, make_operator, make_person
from tests.notifications.sms.conftest import ALICE_NUMBER, SENDER, confirm_phone

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_sms_env(monkeypatch, sms_provider) -> None:
    """Point the worker (started after this fixture) at the fake provider too."""
    monkeypatch.setenv("SMS_BACKEND", "http")
    monkeypatch.setenv("SMS_HTTP_URL", sms_provider.url)
    monkeypatch.setenv("SMS_HTTP_ACCOUNT", sms_provider.account)
    monkeypatch.setenv("SMS_HTTP_TOKEN", sms_provider.token)
    monkeypatch.setenv("SMS_SENDER_ID", SENDER)


def test_activation_texts_the_person_and_a_reply_answers_and_is_confirmed(
    worker_sms_env, celery_worker, sms_provider, inbound
):
    olivia = make_operator("olivia@example.org", "Olivia")
    alice = make_person("alice@example.org", "Alice", places=[PARIS])
    alice.channel_order = ["sms"]
    alice.save()
    confirm_phone(alice, ALICE_NUMBER)
    incident = incident_create(
        creator=olivia, title="Paris attacks", regions=[{"geometry": PARIS_POLYGON}]
    )

    incident_activate(actor=olivia, incident_id=incident.id)

    [ask] = sms_provider.wait_for(1, timeout=60)
    assert ask.to == ALICE_NUMBER
    assert "Reply SAFE, HELP or AWAY" in ask.body

    assert inbound(ALICE_NUMBER, "safe").status_code == 204

    checkin = CheckIn.objects.get(person=alice, incident=incident)
    assert (checkin.status, checkin.answered_via) == ("safe", "sms")
    confirmation = sms_provider.wait_for(2, timeout=30)[1]
    assert confirmation.to == ALICE_NUMBER
    assert confirmation.body.startswith("Thank you. Your answer is recorded")
    time.sleep(1)  # nothing else arrives: one ask, one confirmation
    assert len(sms_provider.messages) == 2
