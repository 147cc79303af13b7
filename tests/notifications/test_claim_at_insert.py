"""A fan-out inserts Web Push rows already claimed: one write fewer per message, and a dead
worker's rows are still sent, once.

The insert's claim (claimed_at = created_at) holds while it is younger than a fifth of
SAFE_INSERT_CLAIM_SECONDS; an older one is renewed by compare-and-set before its rows start.
`retry_due` takes over insert claims older than SAFE_INSERT_CLAIM_SECONDS that nobody
renewed: rows of a worker that died before it started them.
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backend.notifications import services
from backend.notifications.models import Delivery
from backend.notifications.selectors import attach_push_devices
from backend.notifications.services import (
    Outgoing,
    deliveries_retry_due,
    deliveries_send,
    deliveries_send_batch,
)
from tests.notifications.conftest import subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_push(push_service, vapid, alice):
    return subscribe(push_service, alice)


def _killed_after_insert(monkeypatch, checkin_ids: list[int]) -> None:
    """Run a fan-out batch whose worker dies right after inserting its rows."""

    def killed(*, deliveries):
        raise SystemExit("killed")

    monkeypatch.setattr(services, "deliveries_send", killed)
    with pytest.raises(SystemExit):
        deliveries_send_batch(checkin_ids=checkin_ids)
    monkeypatch.undo()


def test_push_rows_go_in_claimed_and_out_without_a_claim_statement(
    push_service, alice_push, alice_checkin, charlie
):
    ids = list(alice_checkin.incident.checkins.values_list("id", flat=True))
    with CaptureQueriesContext(connection) as queries:
        outcomes = deliveries_send_batch(checkin_ids=ids)

    assert outcomes == {"sent": 2}
    assert push_service.count() == 1
    assert len(mail.outbox) == 1
    # The email row (a channel that does not claim at insert) was claimed; the push row not.
    claims = [q for q in queries if "SET status = 'sending'" in q["sql"]]
    assert len(claims) == 1
    push = Delivery.objects.get(channel="webpush")
    assert (push.status, push.attempts, push.claimed_at) == ("sent", 1, push.created_at)
    assert Delivery.objects.get(channel="email").attempts == 1


def test_a_dead_workers_rows_wait_for_the_takeover_then_go_once(
    settings, monkeypatch, push_service, alice_push, alice_checkin
):
    _killed_after_insert(monkeypatch, [alice_checkin.id])
    row = Delivery.objects.get()
    assert (row.status, row.attempts, row.claimed_at) == ("sending", 1, row.created_at)

    # The task redelivered at once leaves the rows to the worker that may still hold them.
    assert deliveries_send_batch(checkin_ids=[alice_checkin.id]) == {}
    takeover = timedelta(seconds=settings.SAFE_INSERT_CLAIM_SECONDS)
    assert deliveries_retry_due(now=row.created_at + takeover - timedelta(seconds=1)) == {}
    assert push_service.count() == 0

    assert deliveries_retry_due(now=row.created_at + takeover + timedelta(seconds=1)) == {"sent": 1}
    assert deliveries_retry_due(now=row.created_at + 2 * takeover) == {}
    assert push_service.count() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2)


def _stale(settings, alice_checkin, monkeypatch) -> tuple[Delivery, Outgoing]:
    """A row inserted claimed longer ago than a fifth of the takeover time, not started."""
    _killed_after_insert(monkeypatch, [alice_checkin.id])
    stamp = timezone.now() - timedelta(seconds=settings.SAFE_INSERT_CLAIM_SECONDS / 5 + 1)
    Delivery.objects.update(created_at=stamp, claimed_at=stamp)
    row = Delivery.objects.select_related("checkin__person", "checkin__incident").get()
    attach_push_devices([row.checkin.person])
    return row, Outgoing(row.id, row.checkin, row.channel, row.purpose, row.seq, stamp=stamp)


def test_a_live_worker_renews_an_old_insert_claim_before_it_starts_the_rows(
    settings, monkeypatch, push_service, alice_push, alice_checkin
):
    row, outgoing = _stale(settings, alice_checkin, monkeypatch)

    assert deliveries_send(deliveries=[outgoing]) == {"sent": 1}

    row.refresh_from_db()
    assert row.status == "sent"
    assert row.claimed_at > row.created_at
    assert push_service.count() == 1


def test_a_renewal_after_the_takeover_sends_nothing(
    settings, monkeypatch, push_service, alice_push, alice_checkin
):
    row, outgoing = _stale(settings, alice_checkin, monkeypatch)
    later = row.created_at + timedelta(seconds=settings.SAFE_INSERT_CLAIM_SECONDS + 1)
    assert deliveries_retry_due(now=later) == {"sent": 1}  # taken over and sent

    assert deliveries_send(deliveries=[outgoing]) == {"skipped": 1}
    assert push_service.count() == 1


def test_a_renewed_claim_is_left_to_the_lease(
    settings, monkeypatch, push_service, alice_push, alice_checkin
):
    row, outgoing = _stale(settings, alice_checkin, monkeypatch)
    assert services.deliveries_renew(delivery_ids=[row.id], stamp=outgoing.stamp) == {row.id}
    row.refresh_from_db()

    takeover = timedelta(seconds=settings.SAFE_INSERT_CLAIM_SECONDS + 1)
    assert deliveries_retry_due(now=row.claimed_at + takeover) == {}
    lease = timedelta(seconds=settings.SAFE_CLAIM_LEASE_SECONDS + 1)
    assert deliveries_retry_due(now=row.claimed_at + lease) == {"sent": 1}
