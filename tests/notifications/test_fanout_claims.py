"""A fan-out holds its Web Push first asks with one claim per batch, not a row per message:
sent messages are recorded on their check-ins and counted on the claim; only a message not
sent becomes an outbox row; a dead worker's messages are still sent, once.

The claim holds while it is younger than a fifth of SAFE_INSERT_CLAIM_SECONDS; an older one
is renewed by compare-and-set before its messages start. `retry_due` takes over claims
older than SAFE_INSERT_CLAIM_SECONDS that nobody renewed (older than the lease once renewed):
their check-ins not yet reached become pending rows.
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backend.checkins.models import CheckIn
from backend.checkins.selectors import incident_stats
from backend.checkins.services import checkin_respond
from backend.console.selectors import deliveries_by_channel
from backend.notifications import services
from backend.notifications.models import Delivery, FanOutClaim
from backend.notifications.selectors import attach_push_devices, delivery_counts
from backend.notifications.services import (
    Claim,
    Outgoing,
    deliveries_retry_due,
    deliveries_send,
    deliveries_send_batch,
)
from tests.notifications.conftest import subscribe
from tests.support.push_service import PushService

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_push(push_service, vapid, alice):
    return subscribe(push_service, alice)


def _killed_after_insert(monkeypatch, checkin_ids: list[int]) -> FanOutClaim:
    """Run a fan-out batch whose worker dies right after claiming; return its claim."""

    def killed(*, deliveries):
        raise SystemExit("killed")

    monkeypatch.setattr(services, "deliveries_send", killed)
    with pytest.raises(SystemExit):
        deliveries_send_batch(checkin_ids=checkin_ids)
    monkeypatch.undo()
    return FanOutClaim.objects.get()


def test_push_asks_go_out_under_one_claim_and_leave_no_row(
    push_service, alice_push, alice_checkin, charlie
):
    ids = list(alice_checkin.incident.checkins.values_list("id", flat=True))
    with CaptureQueriesContext(connection) as queries:
        outcomes = deliveries_send_batch(checkin_ids=ids)

    assert outcomes == {"sent": 2}
    assert push_service.count() == 1
    assert len(mail.outbox) == 1
    # The email row (a channel without claims) was claimed; the push message had no row.
    assert len([q for q in queries if "SET status = 'sending'" in q["sql"]]) == 1
    assert list(Delivery.objects.values_list("channel", "status")) == [("email", "sent")]
    claim = FanOutClaim.objects.get()
    assert (claim.channel, claim.checkin_ids, claim.size) == ("webpush", [alice_checkin.id], 1)
    assert (claim.sent, claim.not_sent, claim.status) == (1, 0, "done")
    alice_checkin.refresh_from_db()
    assert alice_checkin.delivered_at is not None
    assert incident_stats(incident_id=alice_checkin.incident_id)["delivered"] == 2
    counts = delivery_counts(incident_id=alice_checkin.incident_id)
    assert counts["webpush"] == {"pending": 0, "sent": 1, "failed": 0, "expired": 0}


def test_a_message_not_sent_becomes_a_row_of_its_own(push_service, alice_push, alice_checkin):
    push_service.fail_next(PushService.id_of(alice_push), 500)

    assert deliveries_send_batch(checkin_ids=[alice_checkin.id]) == {"retry": 1}

    row = Delivery.objects.get()
    assert (row.channel, row.purpose, row.status, row.attempts) == ("webpush", "ask", "pending", 1)
    assert row.next_attempt_at > timezone.now()
    claim = FanOutClaim.objects.get()
    assert (claim.sent, claim.not_sent, claim.status) == (0, 1, "done")
    assert deliveries_retry_due(now=row.next_attempt_at + timedelta(seconds=1)) == {"sent": 1}
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2)
    counts = delivery_counts(incident_id=alice_checkin.incident_id)
    assert counts["webpush"] == {"pending": 0, "sent": 1, "failed": 0, "expired": 0}


def test_a_dead_workers_claim_waits_for_the_takeover_then_goes_once(
    settings, monkeypatch, push_service, alice_push, alice_checkin
):
    claim = _killed_after_insert(monkeypatch, [alice_checkin.id])
    assert (claim.status, claim.claimed_at) == ("open", claim.created_at)
    counts = delivery_counts(incident_id=alice_checkin.incident_id)
    assert counts["webpush"]["pending"] == 1
    assert deliveries_by_channel(incident_id=alice_checkin.incident_id) == {
        "webpush": {"sent": 0, "sending": 1}
    }

    # The task redelivered at once leaves the messages to the worker that may still hold them.
    assert deliveries_send_batch(checkin_ids=[alice_checkin.id]) == {}
    takeover = timedelta(seconds=settings.SAFE_INSERT_CLAIM_SECONDS)
    assert deliveries_retry_due(now=claim.created_at + takeover - timedelta(seconds=1)) == {}
    assert push_service.count() == 0

    later = claim.created_at + takeover + timedelta(seconds=1)
    assert deliveries_retry_due(now=later) == {"sent": 1}
    assert deliveries_retry_due(now=claim.created_at + 2 * takeover) == {}
    assert push_service.count() == 1
    claim.refresh_from_db()
    assert claim.status == "taken_over"
    row = Delivery.objects.get()
    assert (row.status, row.attempts) == ("sent", 2)  # the claim's attempt, then this one
    assert deliveries_by_channel(incident_id=alice_checkin.incident_id) == {"webpush": {"sent": 1}}


def test_a_takeover_leaves_out_whoever_was_reached_or_has_answered(
    settings, monkeypatch, push_service, vapid, alice, charlie, incident
):
    for person in (alice, charlie):
        subscribe(push_service, person)
    reached, answered = alice.checkins.get(), charlie.checkins.get()
    claim = _killed_after_insert(monkeypatch, [reached.id, answered.id])
    assert claim.size == 2
    CheckIn.objects.filter(id=reached.id).update(delivered_at=timezone.now())
    checkin_respond(checkin_id=answered.id, status="safe", note="", via="pwa")

    later = claim.created_at + timedelta(seconds=settings.SAFE_INSERT_CLAIM_SECONDS + 1)
    assert deliveries_retry_due(now=later) == {}
    assert not Delivery.objects.exists()
    assert push_service.count() == 0


def _stale(settings, alice_checkin, monkeypatch) -> tuple[FanOutClaim, Outgoing]:
    """A claim made longer ago than a fifth of the takeover time, nothing of it started."""
    claim = _killed_after_insert(monkeypatch, [alice_checkin.id])
    stamp = timezone.now() - timedelta(seconds=settings.SAFE_INSERT_CLAIM_SECONDS / 5 + 1)
    FanOutClaim.objects.update(created_at=stamp, claimed_at=stamp)
    checkin = CheckIn.objects.select_related("person", "incident").get(id=alice_checkin.id)
    attach_push_devices([checkin.person])
    held = Claim(claim.id, stamp)
    return claim, Outgoing(None, checkin, "webpush", "ask", 0, claim=held)


def test_a_live_worker_renews_an_old_claim_before_it_starts_its_messages(
    settings, monkeypatch, push_service, alice_push, alice_checkin
):
    claim, outgoing = _stale(settings, alice_checkin, monkeypatch)

    assert deliveries_send(deliveries=[outgoing]) == {"sent": 1}

    claim.refresh_from_db()
    assert (claim.status, claim.sent) == ("done", 1)
    assert claim.claimed_at > claim.created_at
    assert push_service.count() == 1


def test_a_renewal_after_the_takeover_sends_nothing(
    settings, monkeypatch, push_service, alice_push, alice_checkin
):
    claim, outgoing = _stale(settings, alice_checkin, monkeypatch)
    later = claim.claimed_at + timedelta(seconds=settings.SAFE_INSERT_CLAIM_SECONDS + 1)
    assert deliveries_retry_due(now=later) == {"sent": 1}  # taken over and sent

    assert deliveries_send(deliveries=[outgoing]) == {"skipped": 1}
    assert push_service.count() == 1


def test_a_renewed_claim_is_left_to_the_lease(
    settings, monkeypatch, push_service, alice_push, alice_checkin
):
    claim, outgoing = _stale(settings, alice_checkin, monkeypatch)
    assert outgoing.claim is not None
    assert services._hold(outgoing.claim)
    claim.refresh_from_db()

    takeover = timedelta(seconds=settings.SAFE_INSERT_CLAIM_SECONDS + 1)
    assert deliveries_retry_due(now=claim.claimed_at + takeover) == {}
    lease = timedelta(seconds=settings.SAFE_CLAIM_LEASE_SECONDS + 1)
    assert deliveries_retry_due(now=claim.claimed_at + lease) == {"sent": 1}
