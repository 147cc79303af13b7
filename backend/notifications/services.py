"""Writes for deliveries: create outbox rows, claim them by compare-and-set, send.

Every function here is safe to run twice for the same input: rows are unique per
(check-in, channel, purpose, seq) and only the caller whose claim changed the row sends.
"""

import logging
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from backend.accounts.models import User
from backend.checkins.models import CheckIn
from backend.checkins.services import checkin_mark_delivered
from backend.checkins.tokens import checkin_token
from backend.incidents.models import Incident

from .channels import CHANNELS, Message
from .models import Delivery, Purpose

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# A claim older than this belongs to a worker that died mid-send: the row is tried again.
CLAIM_LEASE = timedelta(minutes=5)


def channels_for(person: User) -> list[str]:
    """The channels that reach PERSON, in the order they are used."""
    return [name for name, channel in CHANNELS.items() if channel.reaches(person)]


def checkin_ids_in_batches(*, incident_id: int, size: int) -> Iterator[list[int]]:
    """Every check-in id of the incident, in id order, SIZE at a time (keyset paging)."""
    last = 0
    while True:
        batch = list(
            CheckIn.objects.filter(incident_id=incident_id, id__gt=last)
            .order_by("id")
            .values_list("id", flat=True)[:size]
        )
        if not batch:
            return
        yield batch
        last = batch[-1]


def message_for(checkin: CheckIn, *, purpose: str) -> Message:
    token = checkin_token(checkin.id)
    return Message(
        checkin_id=checkin.id,
        incident_title=checkin.incident.title,
        drill=checkin.incident.drill,
        purpose=purpose,
        token=token,
        link=settings.SITE_URL + reverse("one-tap", args=[token]),
        language=checkin.person.language,
    )


def deliveries_send_batch(
    *, checkin_ids: list[int], purpose: str = Purpose.ASK, seq: int = 0
) -> dict[str, int]:
    """Create the outbox rows for a batch of check-ins and send every pending one.

    Check-ins of incidents no longer active are skipped. Returns counts per outcome.
    """
    checkins = {
        checkin.id: checkin
        for checkin in CheckIn.objects.filter(
            id__in=checkin_ids, incident__status=Incident.Status.ACTIVE
        ).select_related("person", "incident")
    }
    Delivery.objects.bulk_create(
        [
            Delivery(
                checkin_id=checkin.id,
                incident_id=checkin.incident_id,
                channel=channel,
                purpose=purpose,
                seq=seq,
            )
            for checkin in checkins.values()
            for channel in channels_for(checkin.person)
        ],
        ignore_conflicts=True,
    )
    outcomes: dict[str, int] = {}
    pending = Delivery.objects.filter(
        checkin_id__in=checkins,
        purpose=purpose,
        seq=seq,
        status=Delivery.Status.PENDING,
        next_attempt_at__lte=timezone.now(),
    )
    for delivery in pending:
        outcome = delivery_attempt(delivery=delivery, checkin=checkins[delivery.checkin_id])
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def delivery_claim(*, delivery_id: int, previous: str) -> bool:
    """Take the row for sending; exactly one caller wins the compare-and-set."""
    return (
        Delivery.objects.filter(id=delivery_id, status=previous).update(
            status=Delivery.Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1
        )
        == 1
    )


def delivery_attempt(*, delivery: Delivery, checkin: CheckIn) -> str:
    """Claim, send and record one delivery. Returns the outcome ('skipped' if not claimed)."""
    if not delivery_claim(delivery_id=delivery.id, previous=Delivery.Status.PENDING):
        return "skipped"
    channel = CHANNELS[delivery.channel]
    message = message_for(checkin, purpose=delivery.purpose)
    try:
        result = channel.send(person=checkin.person, message=message)
    except Exception as exc:  # a channel bug must not leave the row claimed forever
        log.exception("channel %s crashed on delivery %s", delivery.channel, delivery.id)
        result_outcome, error, retry_after = "retry", repr(exc)[:500], None
    else:
        result_outcome, error, retry_after = result.outcome, result.error, result.retry_after
    now = timezone.now()
    rows = Delivery.objects.filter(id=delivery.id, status=Delivery.Status.SENDING)
    if result_outcome == "sent":
        rows.update(status=Delivery.Status.SENT, sent_at=now, last_error="")
        checkin_mark_delivered(checkin_id=checkin.id, incident_id=checkin.incident_id)
        return "sent"
    if result_outcome == "retry" and delivery.attempts + 1 < MAX_ATTEMPTS:
        delay = retry_after if retry_after is not None else 30 * 2**delivery.attempts
        rows.update(
            status=Delivery.Status.PENDING,
            last_error=error,
            next_attempt_at=now + timedelta(seconds=min(delay, 3600)),
        )
        return "retry"
    final = Delivery.Status.EXPIRED if result_outcome == "gone" else Delivery.Status.FAILED
    rows.update(status=final, last_error=error)
    return result_outcome


def deliveries_retry_due(*, limit: int = 1000) -> dict[str, int]:
    """Try again the deliveries whose time has come, first releasing dead workers' claims."""
    now = timezone.now()
    Delivery.objects.filter(
        status=Delivery.Status.SENDING, claimed_at__lt=now - CLAIM_LEASE
    ).update(status=Delivery.Status.PENDING, last_error="claim expired (worker died?)")
    due = Delivery.objects.filter(
        status=Delivery.Status.PENDING,
        next_attempt_at__lte=now,
        incident__status=Incident.Status.ACTIVE,
    ).select_related("checkin__person", "checkin__incident")[:limit]
    outcomes: dict[str, int] = {}
    for delivery in due:
        outcome = delivery_attempt(delivery=delivery, checkin=delivery.checkin)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
