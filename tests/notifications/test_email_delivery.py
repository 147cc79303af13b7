import pytest
from django.core import mail

from backend.checkins.models import CheckIn
from backend.checkins.selectors import incident_stats
from backend.checkins.tokens import checkin_id_from_token
from backend.notifications.models import Delivery
from backend.notifications.services import deliveries_send_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def checkin_ids(incident):
    return list(CheckIn.objects.filter(incident=incident).values_list("id", flat=True))


def test_each_affected_person_gets_one_email_with_a_one_tap_link(checkin_ids, incident):
    outcomes = deliveries_send_batch(checkin_ids=checkin_ids)
    assert outcomes == {"sent": 2}
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.org", "charlie@example.org"]
    message = next(m for m in mail.outbox if m.to == ["alice@example.org"])
    assert message.subject == "Are you safe? — Paris attacks"
    link = next(line for line in message.body.splitlines() if "/r/" in line)
    token = link.rsplit("/r/", 1)[1]
    assert checkin_id_from_token(token) == CheckIn.objects.get(person__email="alice@example.org").id
    assert incident_stats(incident_id=incident.id)["delivered"] == 2


def test_running_the_batch_twice_sends_nothing_twice(checkin_ids):
    deliveries_send_batch(checkin_ids=checkin_ids)
    second = deliveries_send_batch(checkin_ids=checkin_ids)
    assert second == {}
    assert len(mail.outbox) == 2
    assert Delivery.objects.filter(status="sent").count() == 2


def test_a_claimed_delivery_is_not_sent_by_a_second_worker(checkin_ids):
    deliveries_send_batch(checkin_ids=checkin_ids[:1])
    Delivery.objects.update(status="sending")
    deliveries_send_batch(checkin_ids=checkin_ids[:1])
    assert len(mail.outbox) == 1


def test_the_email_is_in_french_for_french_speakers(checkin_ids, alice):
    alice.language = "fr"
    alice.save()
    deliveries_send_batch(checkin_ids=checkin_ids)
    message = next(m for m in mail.outbox if m.to == ["alice@example.org"])
    assert message.subject.startswith("Êtes-vous en sécurité\u00a0?")


def test_a_failing_mail_server_is_retried_later_not_lost(checkin_ids, settings):
    settings.EMAIL_BACKEND = "tests.notifications.broken_mail.Backend"
    outcomes = deliveries_send_batch(checkin_ids=checkin_ids)
    assert outcomes == {"retry": 2}
    delivery = Delivery.objects.first()
    assert delivery.status == "pending"
    assert "refused" in delivery.last_error
    assert delivery.next_attempt_at > delivery.created_at
