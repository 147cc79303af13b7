"""A copy sent again after a worker died is recognisably the same message.

At-least-once transport cannot rule out a second copy when a worker dies between sending
and recording; the copy carries the same Web Push Topic (the push service replaces an
undelivered first copy; the service worker's tag replaces a shown one), the same email
Message-ID (mail systems that deduplicate show it once) and the same SMS Idempotency-Key
(the provider answers the copy as the first and texts nobody twice). And a worker never
has more messages started-but-unrecorded than its channel's send window.
"""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from backend.checkins.models import CheckIn
from backend.notifications.channels import CHANNELS
from backend.notifications.channels.base import NOT_STARTED, SendWindow
from backend.notifications.models import Delivery, FanOutClaim
from backend.notifications.services import (
    deliveries_retry_due,
    deliveries_send_batch,
    message_for,
)
from tests.factories import make_person
from tests.notifications.conftest import subscribe
from tests.notifications.sms.conftest import ALICE_NUMBER, confirm_phone, sms_provider  # noqa: F401

pytestmark = pytest.mark.django_db


def _as_if_the_worker_died_before_recording() -> None:
    """What the lease release does to rows a dead worker had sent but not recorded."""
    Delivery.objects.update(status=Delivery.Status.PENDING)


def _as_if_the_push_worker_died_before_recording() -> None:
    """A fan-out claim whose worker sent its messages, recorded none and died long ago."""
    long_ago = timezone.now() - timedelta(seconds=settings.SAFE_CLAIM_LEASE_SECONDS + 1)
    FanOutClaim.objects.update(status="open", sent=0, created_at=long_ago, claimed_at=long_ago)
    CheckIn.objects.update(delivered_at=None)


def test_a_resent_push_carries_the_same_topic(push_service, vapid, alice, alice_checkin):
    subscribe(push_service, alice)
    deliveries_send_batch(checkin_ids=[alice_checkin.id])
    _as_if_the_push_worker_died_before_recording()
    assert deliveries_retry_due() == {"sent": 1}

    first, second = push_service.wait_for(2)
    assert first.headers["topic"] == second.headers["topic"]
    assert len(first.headers["topic"]) <= 32
    # What the phone shows: one notification per tag, the copy replacing the first.
    assert json.loads(first.payload)["tag"] == json.loads(second.payload)["tag"]


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


def test_a_resent_text_is_sent_once_by_the_provider(alice, alice_checkin, sms_provider):  # noqa: F811
    confirm_phone(alice, ALICE_NUMBER)
    alice.channel_order = ["sms", "email"]
    alice.save()
    deliveries_send_batch(checkin_ids=[alice_checkin.id])
    _as_if_the_worker_died_before_recording()

    assert deliveries_retry_due() == {"sent": 1}

    [sms] = sms_provider.messages
    assert len(sms.idempotency_key) == 32
    assert sms_provider.replayed == 1
    assert Delivery.objects.get().status == Delivery.Status.SENT
    assert CheckIn.objects.get(id=alice_checkin.id).delivered_at is not None


def test_different_texts_have_different_idempotency_keys(alice, alice_checkin, sms_provider):  # noqa: F811
    confirm_phone(alice, ALICE_NUMBER)
    backend_items = [
        (alice, message_for(alice_checkin, purpose="ask")),
        (alice, message_for(alice_checkin, purpose="reminder", seq=1)),
    ]

    assert [r.outcome for r in CHANNELS["sms"].send_many(backend_items)] == ["sent", "sent"]
    assert len({sms.idempotency_key for sms in sms_provider.messages}) == 2
    assert sms_provider.replayed == 0


def test_a_push_stream_starts_no_more_than_its_window_until_results_are_recorded(
    push_service, vapid, alice_checkin
):
    """A worker killed now would leave exactly the window's messages to be sent again."""
    people = [make_person(f"p{n}@example.org", f"P {n}") for n in range(10)]
    for person in people:
        subscribe(push_service, person)
    items = [(p, message_for(alice_checkin, purpose="ask", seq=n)) for n, p in enumerate(people)]
    window = SendWindow(3)
    stream = CHANNELS["webpush"].send_stream(items, window)

    results = []
    while len(results) < 3:  # the outbox would record these; here nothing is recorded
        results += next(stream)
    push_service.wait_for(3)
    window.close()  # what a dying worker amounts to: nothing more starts
    for ready in stream:
        results += ready

    assert push_service.count() == 3
    assert sorted(r.outcome for _, r in results) == ["retry"] * 7 + ["sent"] * 3
    assert sum(r is NOT_STARTED for _, r in results) == 7


def test_no_copy_goes_to_someone_who_answered_the_first(push_service, vapid, alice, alice_checkin):
    from backend.checkins.services import checkin_respond

    subscribe(push_service, alice)
    deliveries_send_batch(checkin_ids=[alice_checkin.id])
    _as_if_the_push_worker_died_before_recording()
    checkin_respond(checkin_id=alice_checkin.id, status="safe", via="app")  # from the first

    assert deliveries_retry_due() == {}

    assert len(push_service.wait_for(1)) == 1
    assert not Delivery.objects.exists()  # the claim was taken over: nobody left to ask
    assert FanOutClaim.objects.get().status == "taken_over"


def test_no_copy_goes_to_someone_who_answered_the_first_email(alice_checkin):
    from backend.checkins.services import checkin_respond

    deliveries_send_batch(checkin_ids=[alice_checkin.id])
    _as_if_the_worker_died_before_recording()
    checkin_respond(checkin_id=alice_checkin.id, status="safe", via="app")  # from the first

    assert deliveries_retry_due() == {}

    assert len(mail.outbox) == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_error) == ("expired", "answered before it was sent")
