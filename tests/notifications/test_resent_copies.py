"""A copy sent again after a worker died is recognisably the same message.

At-least-once transport cannot rule out a second copy when a worker dies between sending
and recording; the copy carries the same Web Push Topic (the push service replaces an
undelivered first copy; the service worker's tag replaces a shown one) and the same email
Message-ID (mail systems that deduplicate show it once).
"""

import pytest
from django.core import mail

from backend.notifications.models import Delivery
from backend.notifications.services import deliveries_retry_due, deliveries_send_batch
from tests.notifications.conftest import subscribe

pytestmark = pytest.mark.django_db


def _as_if_the_worker_died_before_recording() -> None:
    """What the lease release does to rows a dead worker had sent but not recorded."""
    Delivery.objects.update(status=Delivery.Status.PENDING)


def test_a_resent_push_carries_the_same_topic(push_service, vapid, alice, alice_checkin):
    subscribe(push_service, alice)
    deliveries_send_batch(checkin_ids=[alice_checkin.id])
    _as_if_the_worker_died_before_recording()
    deliveries_retry_due()

    first, second = push_service.wait_for(2)
    assert first.headers["topic"] == second.headers["topic"]
    assert len(first.headers["topic"]) <= 32


def test_a_resent_email_carries_the_same_message_id(alice_checkin):
    deliveries_send_batch(checkin_ids=[alice_checkin.id])
    _as_if_the_worker_died_before_recording()
    deliveries_retry_due()

    first, second = mail.outbox
    assert first.extra_headers["Message-ID"] == second.extra_headers["Message-ID"]


def test_different_messages_have_different_ids(alice_checkin, charlie):
    deliveries_send_batch(checkin_ids=[c.id for c in alice_checkin.incident.checkins.all()])
    ids = {m.extra_headers["Message-ID"] for m in mail.outbox}
    assert len(ids) == len(mail.outbox) == 2
