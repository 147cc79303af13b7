"""Writes for notifications: the delivery outbox, reminders, friend alerts and nudges.

Every function here is safe to run twice for the same input: outbox rows are unique per
(check-in, channel, purpose, seq) and only the caller whose compare-and-set changed a row
sends. Long waits (escalation, reminders, friend-alert windows) are rows swept by beat.
"""

import contextlib
import logging
import math
import random
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from backend.accounts.models import User, default_channel_order
from backend.checkins.models import CheckIn, Response
from backend.checkins.services import checkins_mark_delivered
from backend.checkins.tokens import checkin_token, one_tap_url
from backend.common.errors import Conflict, NotFound, ServiceError, TooManyRequests
from backend.common.sql import InArray, in_ids, int_array, plan_by_keys
from backend.incidents.models import Incident
from backend.social.models import Friendship

from .channels import CHANNELS, FriendNews, Message, SendResult
from .channels.base import NOT_STARTED, Ready, SendWindow
from .models import (
    Delivery,
    FanOutClaim,
    FriendAlert,
    Nudge,
    Purpose,
    PushSubscription,
    Reminder,
)
from .selectors import attach_push_devices
from .webpush import retry_delay, validate_subscription

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
CLAIM_EXPIRED = "claim expired (worker died?)"
# Rows claimed by one statement (see `_send_rows`), or a channel's whole send window if that
# is larger; results are recorded as they come. A claim per 32 pushes was a tenth of
# PostgreSQL's share of a fan-out; 64 → 128 took pushes per CPU-second of the sender and its
# PostgreSQL from 2,020 to 2,550 (medians of five runs each, 20,000 pushes,
# `bench_push_channel.py --postgres`). A worker killed mid-chunk leaves the rest of its
# chunk to the claim lease.
SEND_CHUNK = 128
# A final failure of these moves on to the next channel at once.
FALLBACK_PURPOSES = (Purpose.ASK, Purpose.ESCALATION)
# Purposes that only make sense while the person has not answered. The ask too: a copy sent
# again after a worker died must not ask someone who answered the first one.
UNANSWERED_PURPOSES = (Purpose.ASK, Purpose.ESCALATION, Purpose.REMINDER, Purpose.NUDGE)

# One statement schedules every unanswered check-in of an incident; a second run inserts
# nothing (one reminder row per check-in).
SCHEDULE_REMINDERS_SQL = """
INSERT INTO notifications_reminder (checkin_id, incident_id, next_at, reminders_sent, channel_step)
SELECT c.id, c.incident_id, %s, 0, 0
FROM checkins_checkin c
WHERE c.incident_id = %s AND c.status = 'pending'
ON CONFLICT (checkin_id) DO NOTHING
"""

# One statement queues an alert for every friend who opted in.
CREATE_FRIEND_ALERTS_SQL = """
INSERT INTO notifications_friendalert (recipient_id, response_id, status, channel, created_at)
SELECT f.friend_id, %s, 'pending', '', %s
FROM social_friendship f
JOIN accounts_user u ON u.id = f.friend_id AND u.is_active AND u.friend_alerts
WHERE f.person_id = %s
ON CONFLICT (recipient_id, response_id) DO NOTHING
"""


# --- Which channel -----------------------------------------------------------------------


def channels_for(person: User) -> list[str]:
    """The channels that reach PERSON, in the order they chose."""
    names = dict.fromkeys(name for name in person.channel_order if name in CHANNELS)
    return [name for name in names if CHANNELS[name].reaches(person)]


def _first_channel(person: User) -> str | None:
    """The first of `channels_for(PERSON)`, without asking the later channels."""
    for name in person.channel_order:
        if name in CHANNELS and CHANNELS[name].reaches(person):
            return name
    return None


# Columns a first ask never reads. Each timestamp is parsed in Python (Django's time-zone
# loader), and a thousand rows of them per batch showed in a push worker's profile.
FAN_OUT_UNREAD = (
    "note",
    "answered_at",
    "delivered_at",
    "created_at",
    "person__password",
    "person__last_login",
    "person__date_joined",
    "person__phone__code_hash",
    "person__phone__code_sent_at",
)


def _with_addresses(checkins: QuerySet[CheckIn], *, incident: bool = True) -> list[CheckIn]:
    """Load what `channels_for` and the channels read, in a fixed number of queries."""
    related = ("person", "person__phone", "incident") if incident else ("person", "person__phone")
    loaded = list(checkins.select_related(*related))
    attach_push_devices(checkin.person for checkin in loaded)
    return loaded


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


def message_for(checkin: CheckIn, *, purpose: str, sender_name: str = "", seq: int = 0) -> Message:
    token = checkin_token(checkin.id, checkin.incident_id)
    return Message(
        checkin_id=checkin.id,
        incident_title=checkin.incident.title,
        drill=checkin.incident.drill,
        purpose=purpose,
        token=token,
        link=one_tap_url(token),
        language=checkin.person.language,
        sender_name=sender_name,
        key=f"{checkin.id}-{purpose}-{seq}",
    )


@dataclass(eq=False, slots=True)
class Claim:
    """A `FanOutClaim` this worker holds, and when it last claimed it (compare-and-set)."""

    id: int
    stamp: datetime


@dataclass(slots=True)
class Outgoing:
    """An outbox row, or a message of a fan-out's claim, on its way out: what claiming,
    sending and recording it read.

    Not the model: a fan-out handles a thousand per batch, and building `Delivery` instances
    cost ~15 µs each, reading them back ~33, against ~3 for these (PostgreSQL, 1,000 rows).
    """

    id: int | None  # None for a message held by a fan-out's CLAIM: no row yet
    checkin: CheckIn  # with its person (addresses attached) and incident
    channel: str
    purpose: str
    seq: int
    attempts: int = 0  # before this send's claim
    claim: Claim | None = None

    @property
    def checkin_id(self) -> int:
        return self.checkin.id

    @property
    def incident_id(self) -> int:
        return self.checkin.incident_id

    @classmethod
    def of(cls, delivery: Delivery) -> "Outgoing":
        """The row DELIVERY, loaded with its check-in."""
        d = delivery
        return cls(d.id, d.checkin, d.channel, d.purpose, d.seq, d.attempts)


# --- The outbox --------------------------------------------------------------------------


def deliveries_send_batch(
    *, checkin_ids: list[int], purpose: str = Purpose.ASK, seq: int = 0
) -> dict[str, int]:
    """Create the outbox rows for a batch of check-ins on each person's FIRST channel; send.

    Later channels come from escalation (`reminders_sweep`). Check-ins of incidents no longer
    active are skipped. Returns counts per outcome.
    """
    # By id alone: a filter on the incident too let the planner scan the whole incident
    # (its check-ins, just inserted, look few to it) against the array of ids.
    batch = CheckIn.objects.filter(InArray(F("id"), checkin_ids)).defer(*FAN_OUT_UNREAD)
    loaded = _with_addresses(batch, incident=False)
    # The incident is the same for the whole batch: one object, not a copy per row.
    incidents = Incident.objects.filter(
        id__in={checkin.incident_id for checkin in loaded}, status=Incident.Status.ACTIVE
    ).in_bulk()
    checkins = {checkin.id: checkin for checkin in loaded if checkin.incident_id in incidents}
    # First asks on a channel that `claims_at_insert` are held by one claim per channel;
    # every other message gets an outbox row.
    by_claim = purpose == Purpose.ASK and seq == 0
    held: dict[tuple[int, str], list[int]] = defaultdict(list)
    rows = []
    for checkin in checkins.values():
        checkin.incident = incidents[checkin.incident_id]
        channel = _first_channel(checkin.person)
        if channel is None:
            continue
        if by_claim and CHANNELS[channel].claims_at_insert:
            held[checkin.incident_id, channel].append(checkin.id)
        else:
            rows.append((checkin.id, checkin.incident_id, channel))
    now = timezone.now()
    deliveries: list[Outgoing] = []
    for (incident_id, channel), ids in held.items():
        # Keyed on the task's first check-in, not the channel's: a redelivered task finds
        # its claim even if someone's first channel has changed since.
        first = min(i for i, checkin in checkins.items() if checkin.incident_id == incident_id)
        claim = _claim_insert(incident_id, channel, first=first, checkin_ids=ids, now=now)
        if claim is not None:  # else the task ran before: its claim holds or was taken over
            deliveries += [
                Outgoing(None, checkins[i], channel, purpose, seq, claim=claim) for i in ids
            ]
    inserted = _insert_rows(rows, purpose, seq, now=now)
    # The rows this run inserted are due: built here, not read back. Rows that were there
    # already (a redelivered task) are read, and sent only if still pending.
    deliveries += [
        Outgoing(delivery_id, checkins[checkin_id], channel, purpose, seq)
        for delivery_id, checkin_id, channel in inserted
    ]
    fresh = {checkin_id for _, checkin_id, _ in inserted}
    earlier = [checkin_id for checkin_id, *_ in rows if checkin_id not in fresh]
    if earlier:
        deliveries += _deliveries_due(checkins, earlier, purpose=purpose, seq=seq)
    return deliveries_send(deliveries=deliveries)


def _deliveries_due(
    checkins: dict[int, CheckIn], checkin_ids: list[int], *, purpose: str, seq: int
) -> list[Outgoing]:
    """The pending, due rows of CHECKIN_IDS for PURPOSE and SEQ, their check-ins attached."""
    # Status and time are tested here, not in SQL: given them, the planner scanned every
    # pending row of the table (`delivery_due`) against the array of ids.
    now = timezone.now()
    return [
        Outgoing(d.id, checkins[d.checkin_id], d.channel, purpose, seq, d.attempts)
        for d in Delivery.objects.filter(
            InArray(F("checkin_id"), checkin_ids), purpose=purpose, seq=seq
        )
        if d.status == Delivery.Status.PENDING and d.next_attempt_at <= now
    ]


# A second run (a redelivered task) inserts nothing: one row per (check-in, channel, purpose,
# seq). Raw, because building 500 model instances for `bulk_create` cost the fan-out more
# CPU than the statement (py-spy: 9 % of a push fan-out). On PostgreSQL the rows go in as one
# array per column: a VALUES list of a thousand rows is a statement too long for psycopg's
# cache of parsed queries, and splitting it again for every batch was 8.6 % of a push
# sender's samples (py-spy, bench_push_channel.py on PostgreSQL).
INSERT_DELIVERIES_SQL = """
INSERT INTO notifications_delivery
    (checkin_id, incident_id, channel, purpose, seq, status, attempts, last_error,
     created_at, next_attempt_at, claimed_at)
{rows}
ON CONFLICT (checkin_id, channel, purpose, seq) DO NOTHING
RETURNING id, checkin_id, channel
"""
DELIVERY_ROWS_FROM_ARRAYS = """
SELECT r.checkin_id, r.incident_id, r.channel, %s, %s, %s, %s, '', %s, %s, %s::timestamptz
FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS r(checkin_id, incident_id, channel)"""


def _insert_rows(
    rows: list[tuple[int, int, str]], purpose: str, seq: int, *, now: datetime
) -> list[tuple[int, int, str]]:
    """Insert pending outbox rows for ROWS of (check-in id, incident id, channel), due NOW.

    Returns (id, check-in id, channel) of the rows inserted: not those that were there.
    """
    if not rows:
        return []
    at = connection.ops.adapt_datetimefield_value(now)
    common = [Delivery.Status.PENDING, 0, at, at, None]  # status, attempts, created, due, claimed
    if connection.vendor == "postgresql":
        statement = INSERT_DELIVERIES_SQL.format(rows=DELIVERY_ROWS_FROM_ARRAYS)
        params: list[Any] = [purpose, seq, *common, *map(list, zip(*rows, strict=True))]
    else:
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, '', %s, %s, %s)"] * len(rows))
        statement = INSERT_DELIVERIES_SQL.format(rows=f"VALUES {values}")
        params = []
        for row in rows:
            params += (*row, purpose, seq, *common)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def _claim_insert(
    incident_id: int, channel: str, *, first: int, checkin_ids: list[int], now: datetime
) -> Claim | None:
    """Claim the first asks of CHECKIN_IDS on CHANNEL for this task (see `FanOutClaim`);
    None if the task's claim exists already (a redelivered task)."""
    try:
        with transaction.atomic():
            claim = FanOutClaim.objects.create(
                incident_id=incident_id,
                channel=channel,
                first_checkin_id=first,
                checkin_ids=checkin_ids,
                size=len(checkin_ids),
                created_at=now,
                claimed_at=now,
            )
    except IntegrityError:
        return None
    return Claim(claim.id, now)


def _delivery(
    checkin: CheckIn, channel: str, purpose: str, seq: int, *, now: datetime | None = None
) -> Delivery:
    # One clock reading for a batch: the defaults would read it twice per row.
    now = now or timezone.now()
    return Delivery(
        checkin_id=checkin.id,
        incident_id=checkin.incident_id,
        channel=channel,
        purpose=purpose,
        seq=seq,
        created_at=now,
        next_attempt_at=now,
    )


# Compare-and-set on a whole chunk: a row is ours only if this statement moved it from
# pending to sending; a second worker's identical statement returns none of them.
# `(…) IS TRUE` (status is never NULL) keeps PostgreSQL on the primary key: while a fan-out
# fills the table faster than ANALYZE runs, the planner believes few rows are pending and
# scanned every pending row through the status index for each chunk, 56 µs of server CPU
# per message (pg_stat_statements, 8,000 pushes).
CLAIM_SQL = """
UPDATE notifications_delivery
SET status = 'sending', claimed_at = %s, attempts = attempts + 1
WHERE id {ids} AND (status = 'pending') IS TRUE
RETURNING id
"""


def deliveries_claim(*, delivery_ids: list[int]) -> set[int]:
    """Take the pending rows among DELIVERY_IDS for sending; returns the ids this call won."""
    if not delivery_ids:
        return set()
    condition, params = in_ids(delivery_ids)
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL.format(ids=condition), [timezone.now(), *params])
        return {row[0] for row in cursor.fetchall()}


def _take(chunk: list[Outgoing]) -> list[Outgoing]:
    """The rows of CHUNK this worker now holds, to start them.

    Pending rows are claimed (one statement). Messages of a fan-out's claim are held while
    it is younger than a fifth of SAFE_INSERT_CLAIM_SECONDS, and once older only if renewing
    it (compare-and-set) wins: `retry_due` takes over only claims that old and never renewed,
    so a message this worker starts is never started by another too.
    """
    won = deliveries_claim(delivery_ids=[d.id for d in chunk if d.id is not None])
    held = {d.claim for d in chunk if d.claim is not None}
    held = {claim for claim in held if _hold(claim)}
    return [d for d in chunk if (d.id in won if d.claim is None else d.claim in held)]


def _hold(claim: Claim) -> bool:
    """Whether CLAIM is still this worker's (renewed if it is getting old)."""
    now = timezone.now()
    if claim.stamp > now - timedelta(seconds=settings.SAFE_INSERT_CLAIM_SECONDS / 5):
        return True
    renewed = FanOutClaim.objects.filter(
        id=claim.id, status=FanOutClaim.Status.OPEN, claimed_at=claim.stamp
    ).update(claimed_at=now)
    if renewed:
        claim.stamp = now
    return bool(renewed)


def deliveries_send(*, deliveries: Sequence[Outgoing]) -> dict[str, int]:
    """Claim, send and record DELIVERIES (their check-in, person and incident loaded).

    Rows another worker claimed first are 'skipped'. A first ask or escalation that failed
    for good falls back to the person's next channel at once (see `_fall_back`).
    """
    outcomes: dict[str, int] = defaultdict(int)
    by_channel: dict[str, list[Outgoing]] = defaultdict(list)
    for delivery in deliveries:
        # A channel switched off since the row was made: leave the row pending.
        if delivery.channel in CHANNELS:
            by_channel[delivery.channel].append(delivery)
    for name, rows in by_channel.items():
        _send_rows(name, rows, outcomes)
    return dict(outcomes)


def _send_rows(name: str, deliveries: list[Outgoing], outcomes: dict[str, int]) -> None:
    """Take DELIVERIES a chunk at a time (see `_take`: at most one statement each), send
    them through channel NAME and record each result as soon as it is known.

    A worker killed mid-send leaves its claimed rows 'sending'; they go back to pending after
    the lease (SAFE_INSERT_CLAIM_SECONDS for a fan-out insert's claims) and are sent again.
    Only the messages in the channel's send window (started, not yet recorded: see
    `SendWindow`) can have reached the person already, so a kill sends at most
    `CHANNELS[name].window()` messages twice, however many rows are claimed. Results are
    committed as the window's results come in (one transaction each): email up to
    `SAFE_EMAIL_IN_FLIGHT` (16) at once, Web Push up to `SAFE_PUSH_IN_FLIGHT` (256).

    A channel whose stream takes more items as it goes (`Channel.takes_more`: Web Push) gets
    the next chunk claimed while the last one's slowest messages are still out, so one slow
    answer holds its own slot, not the whole chunk. It claims only while fewer than
    SEND_CHUNK rows are left to start, so a kill holds back at most the window and two
    chunks until the lease.
    """
    channel = CHANNELS[name]
    # The first claim fills the window: a chunk smaller than it would drain it before each.
    size = max(SEND_CHUNK, channel.window())
    later = SEND_CHUNK if channel.takes_more else size
    chunks = deque([deliveries[:size]])
    chunks.extend(deliveries[i : i + later] for i in range(size, len(deliveries), later))
    given_up: list[Outgoing] = []
    while chunks:
        claimed, items = _claim_chunk(chunks.popleft(), outcomes)
        if not claimed:
            continue
        record = partial(_record_ready, claimed, outcomes=outcomes, given_up=given_up)
        more = partial(_claim_ahead, chunks, claimed, items, outcomes)
        _send_recorded(name, items, record, more=more if channel.takes_more else None)
    # Every message taken is recorded by now: the claims are done with.
    claims = {d.claim.id for d in deliveries if d.claim is not None}
    FanOutClaim.objects.filter(id__in=claims, status=FanOutClaim.Status.OPEN).update(
        status=FanOutClaim.Status.DONE
    )
    if given_up:
        with transaction.atomic():
            _fall_back(deliveries=given_up)


def _claim_ahead(
    chunks: deque[list[Outgoing]],
    claimed: list[Outgoing],
    items: list[tuple[User, Message]],
    outcomes: dict[str, int],
    started: int,
) -> None:
    """Claim from CHUNKS onto CLAIMED and ITEMS until a chunk's worth is left to start after
    the STARTED first items (or nothing is left to claim)."""
    while chunks and len(items) - started < SEND_CHUNK:
        fresh, fresh_items = _claim_chunk(chunks.popleft(), outcomes)
        claimed += fresh
        items += fresh_items


def _claim_chunk(
    chunk: list[Outgoing], outcomes: dict[str, int]
) -> tuple[list[Outgoing], list[tuple[User, Message]]]:
    """Take CHUNK (see `_take`); the rows this call holds and their (person, message)."""
    claimed = _take(chunk)
    if len(claimed) < len(chunk):
        outcomes["skipped"] += len(chunk) - len(claimed)
    nudgers = _nudger_names(claimed)
    items = [
        (
            d.checkin.person,
            message_for(
                d.checkin,
                purpose=d.purpose,
                sender_name=nudgers.get((d.checkin_id, d.seq), ""),
                seq=d.seq,
            ),
        )
        for d in claimed
    ]
    return claimed, items


def _send_recorded(
    name: str,
    items: list[tuple[User, Message]],
    record: Callable[[Ready], None],
    *,
    more: Callable[[int], None] | None = None,
) -> None:
    """Send ITEMS through channel NAME, calling RECORD(results) to commit each batch of
    results (index into ITEMS, outcome) before their slots of the send window come back.

    MORE(started), if given, may append to ITEMS before each step of the stream (a channel
    that `takes_more` reads their number as it goes). Every item is recorded exactly once:
    a channel that crashes makes its unrecorded items retries, and a stream that stopped
    early its unstarted ones.
    """
    channel = CHANNELS[name]
    window = SendWindow(channel.window())
    stream = channel.send_stream(items, window)
    recorded: set[int] = set()
    waiting: Ready = []
    half = max(window.size // 2, 1)

    def flush() -> None:
        if waiting:
            record(waiting)
        recorded.update(index for index, _ in waiting)
        window.recorded(index for index, _ in waiting)
        waiting.clear()

    try:
        # To the end of the stream even once all is recorded: the channel cleans up after.
        while True:
            if more is not None:
                more(len(recorded) + window.held())
            try:
                ready = next(stream)
            except StopIteration:
                break
            except Exception as exc:  # a channel bug must not leave rows claimed until the lease
                log.exception("channel %s crashed on %d messages", name, len(items))
                failure = SendResult("retry", error=repr(exc)[:500])
                known = recorded.union(index for index, _ in waiting)
                waiting += [(i, failure) for i in range(len(items)) if i not in known]
                break
            waiting += ready
            # Commit once every started message has its result, or half the window has:
            # then a slow answer holds its own slot while the rest come back. Committing
            # each batch as it came cost more CPU in the counters than it saved in waiting
            # (tests/bench/bench_push_channel.py, msg per CPU-second: ~560 against ~660).
            if waiting and len(waiting) >= min(window.held(), half):
                flush()
        flush()
        left = [index for index in range(len(items)) if index not in recorded]
        if left:  # a stream that stopped early: nothing more was sent
            waiting[:] = [(index, NOT_STARTED) for index in left]
            flush()
    finally:
        stream.close()


def _record_ready(
    claimed: list[Outgoing],
    ready: Ready,
    *,
    outcomes: dict[str, int],
    given_up: list[Outgoing],
) -> None:
    """Record one batch of results in one transaction."""
    rows = [claimed[index] for index, _ in ready]
    results = [result for _, result in ready]
    if (
        connection.vendor == "postgresql"
        and all(result.outcome == "sent" for result in results)
        and len({(delivery.incident_id, delivery.claim) for delivery in rows}) == 1
    ):
        _record_sent_at_once(rows)  # the common case
        outcomes["sent"] += len(rows)
        return
    with transaction.atomic():
        recorded = _deliveries_record(rows, results)
    for outcome, delivery in recorded:
        outcomes[outcome] += 1
        if outcome in ("failed", "expired") and delivery.purpose in FALLBACK_PURPOSES:
            given_up.append(delivery)


def _fall_back(*, deliveries: list[Outgoing]) -> int:
    """Ask again on the next channel now for first asks/escalations that failed for good.

    Without this a person whose only push subscription is gone (410) would hear nothing
    until the first reminder. The row is the escalation the sweep would make for that
    channel (same purpose and seq, so a later sweep inserts no second one), and the
    reminder's channel step moves on so the sweep does not escalate to it again.
    Returns how many fallbacks were queued.
    """
    pending = set(
        CheckIn.objects.filter(
            id__in=[d.checkin_id for d in deliveries],
            status=CheckIn.Status.PENDING,
            incident__status=Incident.Status.ACTIVE,
        ).values_list("id", flat=True)
    )
    # Fresh addresses: a 410 has just deleted the subscription the prefetch still holds.
    people = User.objects.select_related("phone").in_bulk(
        [d.checkin.person_id for d in deliveries if d.checkin_id in pending]
    )
    attach_push_devices(people.values())
    rows = []
    moved_on: dict[int, list[int]] = {}
    for delivery in deliveries:
        person = people.get(delivery.checkin.person_id)
        if person is None:
            continue
        reach = channels_for(person)
        order = list(person.channel_order)
        after = order.index(delivery.channel) if delivery.channel in order else len(order)
        later = [c for c in reach if c in order and order.index(c) > after]
        if not later:
            continue
        step = reach.index(later[0])
        rows.append(_delivery(delivery.checkin, later[0], Purpose.ESCALATION, step))
        moved_on.setdefault(step, []).append(delivery.checkin_id)
    for step, checkin_ids in moved_on.items():  # one update per step, not per person
        Reminder.objects.filter(checkin_id__in=checkin_ids, channel_step__lt=step).update(
            channel_step=step
        )
    _create_and_enqueue(rows)
    return len(rows)


def _nudger_names(deliveries: Iterable[Outgoing]) -> dict[tuple[int, int], str]:
    """For nudge deliveries, by (check-in id, seq), the name of the friend who asked (the
    SEQ-th nudge), in one query."""
    nudges = [d for d in deliveries if d.purpose == Purpose.NUDGE]
    if not nudges:
        return {}
    askers: dict[int, list[str]] = defaultdict(list)
    for checkin_id, name in (
        Nudge.objects.filter(checkin_id__in={d.checkin_id for d in nudges})
        .order_by("id")
        .values_list("checkin_id", "from_person__name")
    ):
        askers[checkin_id].append(name)
    return {
        (d.checkin_id, d.seq): ([*askers[d.checkin_id][max(d.seq - 1, 0) :], ""])[0] for d in nudges
    }


# Sent is final: a row still 'sending' is ours; one the lease already put back to pending
# (a worker slower than the lease) must not be sent again either. RETURNING says which rows
# this statement moved, so a person is counted as reached once, whoever records.
# The status test is kept away from its index as in CLAIM_SQL (80 µs per message before).
RECORD_SENT_SQL = """
UPDATE notifications_delivery
SET status = 'sent', sent_at = %s, last_error = ''
WHERE id {ids} AND (status IN ('sending', 'pending')) IS TRUE
RETURNING checkin_id
"""


# What `_deliveries_record` does for a window of sent messages of one incident, in one
# statement (atomic without a transaction block): RECORD_SENT_SQL, then
# `checkins_mark_delivered` and its counter bump. The BEGIN, three statements and COMMIT
# it replaces were a third of a push worker's time (py-spy), the worker waiting on each.
# Locks are taken in the same order: deliveries, check-ins (by id), one counter shard.
RECORD_ROWS_SENT_SQL = """
WITH sent AS (
    UPDATE notifications_delivery SET status = 'sent', sent_at = %(now)s, last_error = ''
    WHERE id = ANY(%(ids)s::{kind}[]) AND (status IN ('sending', 'pending')) IS TRUE
    RETURNING checkin_id
), reached AS (
    UPDATE checkins_checkin SET delivered_at = %(now)s
    WHERE id = ANY(ARRAY(SELECT checkin_id FROM sent ORDER BY checkin_id))
        AND delivered_at IS NULL
    RETURNING 1
)
INSERT INTO checkins_incidentcounter
    (incident_id, shard, targeted, delivered, safe, need_help, not_in_area)
SELECT %(incident)s, %(shard)s, 0, count(*), 0, 0, 0 FROM reached HAVING count(*) > 0
ON CONFLICT (incident_id, shard)
DO UPDATE SET delivered = checkins_incidentcounter.delivered + EXCLUDED.delivered
"""
# The same for messages of a fan-out's claim (IDS are their check-ins'): no outbox row is
# written, the claim counts them. With a row per message (inserted, then updated), PostgreSQL
# spent twice the CPU per push (docs/performance.md, B2).
RECORD_CLAIMED_SENT_SQL = """
WITH reached AS (
    UPDATE checkins_checkin SET delivered_at = %(now)s
    WHERE id = ANY(%(ids)s::{kind}[]) AND delivered_at IS NULL
    RETURNING 1
), claim AS (
    UPDATE notifications_fanoutclaim SET sent = sent + %(sent)s WHERE id = %(claim)s
)
INSERT INTO checkins_incidentcounter
    (incident_id, shard, targeted, delivered, safe, need_help, not_in_area)
SELECT %(incident)s, %(shard)s, 0, count(*), 0, 0, 0 FROM reached HAVING count(*) > 0
ON CONFLICT (incident_id, shard)
DO UPDATE SET delivered = checkins_incidentcounter.delivered + EXCLUDED.delivered
"""


def _record_sent_at_once(deliveries: list[Outgoing]) -> None:
    """Record DELIVERIES (sent, of one incident and one claim or none) in one statement
    (PostgreSQL): RECORD_ROWS_SENT_SQL, or RECORD_CLAIMED_SENT_SQL."""
    claim = deliveries[0].claim
    params: dict[str, Any] = {
        "now": timezone.now(),
        "incident": deliveries[0].incident_id,
        "shard": random.randrange(settings.SAFE_COUNTER_SHARDS),  # noqa: S311 - spreading load
    }
    if claim is None:
        ids = sorted(delivery.id for delivery in deliveries if delivery.id is not None)
        statement = RECORD_ROWS_SENT_SQL
    else:
        ids = sorted(delivery.checkin_id for delivery in deliveries)
        params.update(claim=claim.id, sent=len(ids))
        statement = RECORD_CLAIMED_SENT_SQL
    params["ids"], kind = int_array(ids)
    with connection.cursor() as cursor:
        cursor.execute(statement.format(kind=kind), params)


def _deliveries_record(
    deliveries: list[Outgoing], results: Sequence[SendResult]
) -> list[tuple[str, Outgoing]]:
    """Record results: the sent ones set-based (one counter shard per incident, in order).

    Recording them one by one with a random counter shard each let two workers deadlock;
    sorted incidents and one statement per incident take the locks in one order.
    """
    outcomes = []
    sent: dict[int, list[Outgoing]] = defaultdict(list)
    held_not_sent: list[Outgoing] = []
    new_rows: list[Delivery] = []
    for delivery, result in zip(deliveries, results, strict=True):
        if result.outcome == "sent":
            sent[delivery.incident_id].append(delivery)
            outcomes.append(("sent", delivery))
            continue
        outcome, row = _delivery_record(delivery, result)
        outcomes.append((outcome, delivery))
        if row is not None:
            held_not_sent.append(delivery)
            new_rows.append(row)
    if new_rows:
        # A row there already was made by `retry_due` taking its claim over: it stands.
        Delivery.objects.bulk_create(new_rows, ignore_conflicts=True)
        _claims_count(held_not_sent, "not_sent")
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    for incident_id in sorted(sent):
        rows = sorted(d.id for d in sent[incident_id] if d.id is not None)
        reached = [d.checkin_id for d in sent[incident_id] if d.claim is not None]
        if rows:
            condition, params = in_ids(rows)
            with connection.cursor() as cursor:
                cursor.execute(RECORD_SENT_SQL.format(ids=condition), [now, *params])
                reached += [row[0] for row in cursor.fetchall()]
        if reached:
            checkins_mark_delivered(checkin_ids=reached, incident_id=incident_id)
        _claims_count(sent[incident_id], "sent")
    return outcomes


def _claims_count(deliveries: list[Outgoing], field: str) -> None:
    """Add DELIVERIES held by claims to their claims' FIELD (sent or not_sent)."""
    counts = Counter(d.claim.id for d in deliveries if d.claim is not None)
    for claim_id, n in sorted(counts.items()):
        FanOutClaim.objects.filter(id=claim_id).update(**{field: F(field) + n})


def _delivery_record(delivery: Outgoing, result: SendResult) -> tuple[str, Delivery | None]:
    """Record one delivery that was not sent: retry later, or give up. A message of a
    fan-out's claim has no row yet: the row it gets is returned, for the caller to insert
    with the batch's others."""
    now = timezone.now()
    # `attempts` was bumped by the claim; the in-memory copy is the count before it.
    attempt = delivery.attempts + 1
    if result.outcome == "retry" and attempt < MAX_ATTEMPTS:
        status, outcome = Delivery.Status.PENDING, "retry"
        due = now + timedelta(seconds=retry_delay(attempt, result.retry_after))
    elif result.outcome == "gone":
        status, outcome, due = Delivery.Status.EXPIRED, "expired", now
    else:
        status, outcome, due = Delivery.Status.FAILED, "failed", now
    error = result.error[:500]
    if delivery.claim is not None:
        row = Delivery(
            checkin_id=delivery.checkin_id,
            incident_id=delivery.incident_id,
            channel=delivery.channel,
            purpose=delivery.purpose,
            seq=delivery.seq,
            status=status,
            attempts=attempt,
            last_error=error,
            created_at=now,
            next_attempt_at=due,
            claimed_at=delivery.claim.stamp,  # when this attempt was taken, as for any row
        )
        return outcome, row
    if delivery.id is not None:
        Delivery.objects.filter(id=delivery.id, status=Delivery.Status.SENDING).update(
            status=status,
            last_error=error,
            **({"next_attempt_at": due} if status == Delivery.Status.PENDING else {}),
        )
    return outcome, None


def deliveries_send_ids(*, delivery_ids: list[int]) -> dict[str, int]:
    """Send the pending deliveries among DELIVERY_IDS (the task behind sweeps and nudges)."""
    deliveries = list(
        Delivery.objects.filter(id__in=delivery_ids, status=Delivery.Status.PENDING).select_related(
            "checkin__person__phone", "checkin__incident"
        )
    )
    attach_push_devices(d.checkin.person for d in deliveries)
    return deliveries_send(deliveries=[Outgoing.of(d) for d in deliveries])


def deliveries_retry_due(*, now: datetime | None = None, limit: int = 1000) -> dict[str, int]:
    """Try again the deliveries whose time has come, first releasing dead workers' claims.

    Reminders, escalations and nudges to someone who has answered since are dropped.
    """
    now = now or timezone.now()
    # A claim older than the lease belongs to a worker that died mid-send: try it again.
    lease = timedelta(seconds=settings.SAFE_CLAIM_LEASE_SECONDS)
    Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lt=now - lease).update(
        status=Delivery.Status.PENDING, last_error=CLAIM_EXPIRED
    )
    claims_take_over(now=now, limit=limit)
    Delivery.objects.filter(
        status=Delivery.Status.PENDING,
        purpose__in=UNANSWERED_PURPOSES,
        checkin__in=CheckIn.objects.exclude(status=CheckIn.Status.PENDING),
    ).update(status=Delivery.Status.EXPIRED, last_error="answered before it was sent")
    due = list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING,
            next_attempt_at__lte=now,
            incident__status=Incident.Status.ACTIVE,
        ).select_related("checkin__person__phone", "checkin__incident")[:limit]
    )
    attach_push_devices(d.checkin.person for d in due)
    return deliveries_send(deliveries=[Outgoing.of(d) for d in due])


def claims_take_over(*, now: datetime, limit: int) -> int:
    """Turn the fan-out claims of dead workers into pending rows; returns how many rows.

    A claim older than the lease, or one its worker never renewed older than
    SAFE_INSERT_CLAIM_SECONDS (see `_take`), is taken by compare-and-set, so its worker can
    no longer start a message of it. Its check-ins not yet reached (no `delivered_at`) nor
    answered get a pending row each, unless a row is there already (a failure recorded).
    Only messages of its worker's send window can have gone out unrecorded: those are sent
    again, as with rows.
    """
    lease = timedelta(seconds=settings.SAFE_CLAIM_LEASE_SECONDS)
    takeover = timedelta(seconds=settings.SAFE_INSERT_CLAIM_SECONDS)
    unrenewed = Q(claimed_at__lt=now - takeover, claimed_at=F("created_at"))
    stale = FanOutClaim.objects.filter(
        Q(claimed_at__lt=now - lease) | unrenewed, status=FanOutClaim.Status.OPEN
    ).order_by("claimed_at")
    made = 0
    for claim in stale[:limit]:
        with transaction.atomic():
            taken = FanOutClaim.objects.filter(
                id=claim.id, status=FanOutClaim.Status.OPEN, claimed_at=claim.claimed_at
            ).update(status=FanOutClaim.Status.TAKEN_OVER)
            if not taken:
                continue
            unreached = CheckIn.objects.filter(
                InArray(F("id"), claim.checkin_ids),
                delivered_at__isnull=True,
                status=CheckIn.Status.PENDING,
            ).values_list("id", flat=True)
            rows = [
                Delivery(
                    checkin_id=checkin_id,
                    incident_id=claim.incident_id,
                    channel=claim.channel,
                    purpose=Purpose.ASK,
                    attempts=1,  # the claim's
                    last_error=CLAIM_EXPIRED,
                    created_at=now,
                    next_attempt_at=now,
                )
                for checkin_id in unreached
            ]
            Delivery.objects.bulk_create(rows, ignore_conflicts=True)
            made += len(rows)
    return made


def _enqueue_sends(*, delivery_ids: list[int]) -> None:
    """Send these rows from workers, in batches, once the caller's transaction commits."""
    from .tasks import send_deliveries  # the tasks module imports this one

    size = settings.SAFE_FANOUT_BATCH
    for start in range(0, len(delivery_ids), size):
        transaction.on_commit(partial(send_deliveries.delay, delivery_ids[start : start + size]))


# --- Escalation and reminders ------------------------------------------------------------


def _offsets(incident: Incident) -> list[timedelta]:
    return [timedelta(minutes=m) for m in sorted(incident.reminder_minutes or [])]


def reminders_schedule(*, incident_id: int, now: datetime | None = None) -> int:
    """Give every unanswered check-in of the incident a reminder row, set-based. Idempotent.

    The first sweep is due at the earlier of the escalation delay and the first reminder.
    Returns how many rows this call created.
    """
    incident = Incident.objects.get(id=incident_id)
    now = now or timezone.now()
    first = [timedelta(minutes=settings.SAFE_ESCALATION_MINUTES), *_offsets(incident)[:1]]
    # Adapted as the ORM stores it: SQLite compares text, and the claim matches on equality.
    first_at = connection.ops.adapt_datetimefield_value(now + min(first))
    with connection.cursor() as cursor:
        cursor.execute(SCHEDULE_REMINDERS_SQL, [first_at, incident_id])
        return max(cursor.rowcount, 0)


def reminders_sweep(*, now: datetime | None = None, limit: int = 1000) -> dict[str, int]:
    """Escalate and remind the unanswered check-ins that are due; drop finished rows.

    Each row is claimed by compare-and-set on (next_at, reminders_sent, channel_step), so
    two sweeps never act on it twice. Steps missed while beat was down are coalesced: one
    reminder (on every channel reached so far) or one escalation (on the next channel).
    Returns counts: reminded, escalated, stopped.
    """
    now = now or timezone.now()
    counts = {"reminded": 0, "escalated": 0, "stopped": 0}
    due = list(
        Reminder.objects.filter(next_at__lte=now)
        .select_related("checkin__person__phone", "checkin__incident")
        .order_by("next_at")[:limit]
    )
    attach_push_devices(reminder.checkin.person for reminder in due)
    new_rows: list[Delivery] = []
    for reminder in due:
        checkin = reminder.checkin
        claim = Reminder.objects.filter(
            id=reminder.id,
            next_at=reminder.next_at,
            reminders_sent=reminder.reminders_sent,
            channel_step=reminder.channel_step,
        )
        if (
            checkin.status != CheckIn.Status.PENDING
            or checkin.incident.status != Incident.Status.ACTIVE
        ):
            counts["stopped"] += claim.delete()[0]
            continue
        reach = channels_for(checkin.person)
        step, sent, next_at = _reminder_plan(reminder, reach, now)
        if next_at is None:
            won = claim.delete()[0] == 1
        else:
            won = claim.update(next_at=next_at, reminders_sent=sent, channel_step=step) == 1
        if not won or not reach:
            continue
        if sent > reminder.reminders_sent:
            new_rows += [_delivery(checkin, c, Purpose.REMINDER, sent) for c in reach[: step + 1]]
            counts["reminded"] += 1
        elif step > reminder.channel_step:
            new_rows.append(_delivery(checkin, reach[step], Purpose.ESCALATION, step))
            counts["escalated"] += 1
    _create_and_enqueue(new_rows)
    return counts


def _reminder_plan(
    reminder: Reminder, reach: list[str], now: datetime
) -> tuple[int, int, datetime | None]:
    """(channel step, reminders sent, next time) after everything due by NOW is done."""
    start = reminder.checkin.created_at
    escalate = timedelta(minutes=settings.SAFE_ESCALATION_MINUTES)
    offsets = _offsets(reminder.checkin.incident)
    step = min(reminder.channel_step, max(len(reach) - 1, 0))
    while step + 1 < len(reach) and start + (step + 1) * escalate <= now:
        step += 1
    sent = reminder.reminders_sent
    while sent < len(offsets) and start + offsets[sent] <= now:
        sent += 1
    upcoming = []
    if step + 1 < len(reach):
        upcoming.append(start + (step + 1) * escalate)
    if sent < len(offsets):
        upcoming.append(start + offsets[sent])
    return step, sent, min(upcoming) if upcoming else None


def _create_and_enqueue(rows: list[Delivery]) -> None:
    """Insert outbox rows (duplicates ignored) and queue the pending ones for sending."""
    if not rows:
        return
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    ids: list[int] = []
    # Look the rows up in chunks: one OR per row would exceed SQLite's expression depth.
    for start in range(0, len(rows), 200):
        chunk = rows[start : start + 200]
        match = Q()
        for row in chunk:
            match |= Q(
                checkin_id=row.checkin_id, channel=row.channel, purpose=row.purpose, seq=row.seq
            )
        ids += Delivery.objects.filter(match, status=Delivery.Status.PENDING).values_list(
            "id", flat=True
        )
    _enqueue_sends(delivery_ids=ids)


# --- Answers: stop reminders, queue friend alerts -----------------------------------------


def answer_recorded(checkin_id: int) -> None:
    """React to an answer (an `answer_listeners` hook, run after commit).

    Stops the check-in's reminders and queues an alert for each friend who opted in, in two
    statements and one commit (commits are what the answer path pays for at peak). Never
    raises: the answer is already recorded and must not look failed.
    """
    try:
        with transaction.atomic():
            _answer_recorded(checkin_id)
    except Exception:
        log.exception("could not queue friend alerts for check-in %s", checkin_id)


# The batched equivalent for the answers drainer: the latest answer of each check-in.
CREATE_FRIEND_ALERTS_FOR_BATCH_SQL = """
INSERT INTO notifications_friendalert (recipient_id, response_id, status, channel, created_at)
SELECT f.friend_id, r.id, 'pending', '', %s
FROM checkins_response r
JOIN checkins_checkin c ON c.id = r.checkin_id
JOIN social_friendship f ON f.person_id = c.person_id
JOIN accounts_user u ON u.id = f.friend_id AND u.is_active AND u.friend_alerts
WHERE r.id IN (
    SELECT MAX(id) FROM checkins_response WHERE checkin_id {ids} GROUP BY checkin_id
)
ON CONFLICT (recipient_id, response_id) DO NOTHING
"""
STOP_REMINDERS_FOR_BATCH_SQL = "DELETE FROM notifications_reminder WHERE checkin_id {ids}"


def answers_recorded(checkin_ids: list[int]) -> None:
    """`answer_recorded` for a batch of answers (the drainer's), in two statements.

    Per answer it cost the drainer ~2 ms of CPU, more than recording the answers themselves.
    Raises on failure: the drainer logs it.
    """
    if not checkin_ids:
        return
    condition, params = in_ids(checkin_ids)
    with transaction.atomic(), connection.cursor() as cursor:
        plan_by_keys()
        cursor.execute(STOP_REMINDERS_FOR_BATCH_SQL.format(ids=condition), params)
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        cursor.execute(CREATE_FRIEND_ALERTS_FOR_BATCH_SQL.format(ids=condition), [now, *params])


def _answer_recorded(checkin_id: int) -> None:
    Reminder.objects.filter(checkin_id=checkin_id).delete()
    latest = (
        Response.objects.filter(checkin_id=checkin_id)
        .order_by("-id")
        .values_list("id", "checkin__person_id")
        .first()
    )
    if latest is not None:
        response_id, person_id = latest
        with connection.cursor() as cursor:
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            cursor.execute(CREATE_FRIEND_ALERTS_SQL, [response_id, now, person_id])


# Recipients whose alerts one task takes, loads and sends together: one statement each for
# the take, their answers and the recipients, instead of one of each per recipient.
FRIEND_ALERT_CHUNK = 100
# Recipients one sweep claims. A sweep that reaches it queues the next at once rather than
# leaving the rest to beat: 1,000 per 30-second sweep capped a crisis at 33 alerts/s.
FRIEND_ALERT_SWEEP_LIMIT = 20_000


def friend_alerts_sweep(
    *, now: datetime | None = None, limit: int = FRIEND_ALERT_SWEEP_LIMIT
) -> dict[str, int]:
    """Claim the pending friend alerts and queue their sending, a chunk of recipients per task.

    At most one alert per recipient per window: a recipient alerted within the window is
    left for a later sweep, and the claim (pending → sending) re-checks that in the same
    statement, so two sweeps never both alert. The tasks (`send_friend_alerts`) run on the
    delivery queue, beside the asks. Returns counts: alerts claimed, tasks queued.
    """
    from .tasks import send_friend_alerts, sweep_friend_alerts  # the tasks import this module

    now = now or timezone.now()
    # Alerts left claimed by a sweep or task that died go back to pending after the outbox's
    # lease: the claim is committed before the send, so nothing else would ever send them.
    FriendAlert.objects.filter(
        status=FriendAlert.Status.SENDING,
        sent_at__lt=now - timedelta(seconds=settings.SAFE_CLAIM_LEASE_SECONDS),
    ).update(status=FriendAlert.Status.PENDING, sent_at=None)
    window_start = now - timedelta(seconds=settings.SAFE_FRIEND_ALERT_WINDOW_SECONDS)
    recent = FriendAlert.objects.filter(
        recipient_id=OuterRef("recipient_id"),
        status__in=[FriendAlert.Status.SENT, FriendAlert.Status.SENDING],
        sent_at__gt=window_start,
    )
    recipients = list(
        FriendAlert.objects.filter(status=FriendAlert.Status.PENDING)
        .exclude(Exists(recent))
        .values_list("recipient_id", flat=True)
        .distinct()[:limit]
    )
    counts: dict[str, int] = defaultdict(int)
    for start in range(0, len(recipients), FRIEND_ALERT_CHUNK):
        chunk = recipients[start : start + FRIEND_ALERT_CHUNK]
        claimed = (
            FriendAlert.objects.filter(recipient_id__in=chunk, status=FriendAlert.Status.PENDING)
            .exclude(Exists(recent))
            .update(status=FriendAlert.Status.SENDING, sent_at=now)
        )
        if claimed:
            counts["alerts"] += claimed
            counts["tasks"] += 1
            transaction.on_commit(partial(send_friend_alerts.delay, chunk, now.isoformat()))
    if len(recipients) == limit and counts["alerts"]:
        transaction.on_commit(sweep_friend_alerts.delay)
    return dict(counts)


UNREACHABLE = SendResult("failed", error="no channel reaches the recipient")
# Takes the alerts a sweep claimed for a chunk of recipients. The new send time makes them
# this run's alone: a copy of the task (a broker redelivery) finds none, and the lease
# counts from the take.
TAKE_FRIEND_ALERTS_SQL = """
UPDATE notifications_friendalert SET sent_at = %s
WHERE recipient_id {recipients} AND status = 'sending' AND sent_at = %s
RETURNING id, recipient_id, response_id
"""


def friend_alerts_send(*, recipient_ids: list[int], claimed_at: datetime) -> dict[str, int]:
    """Send each of RECIPIENT_IDS one alert telling every friend's answer claimed for them
    at CLAIMED_AT; returns counts: sent, failed, retry.

    The alerts go through each recipient's first channel's send stream, recorded a send
    window at a time, so a task killed mid-send sends at most a window of alerts twice
    (after the lease), each copy under the same Topic, tag or Message-ID.
    """
    taken_at = timezone.now()
    if taken_at == claimed_at:  # the take must change the row
        taken_at += timedelta(microseconds=1)
    condition, params = in_ids(recipient_ids)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            TAKE_FRIEND_ALERTS_SQL.format(recipients=condition),
            [adapt(taken_at), *params, adapt(claimed_at)],
        )
        taken = sorted(cursor.fetchall(), key=lambda row: row[2])  # oldest answer first
    alerts: dict[int, list[int]] = defaultdict(list)
    told: dict[int, list[int]] = defaultdict(list)  # recipient -> answers, oldest first
    for alert_id, recipient_id, response_id in taken:
        alerts[recipient_id].append(alert_id)
        told[recipient_id].append(response_id)
    responses = Response.objects.filter(
        id__in={r for ids in told.values() for r in ids}
    ).select_related("checkin__person", "checkin__incident")
    answers = {response.id: response for response in responses}
    people = User.objects.select_related("phone").in_bulk(list(alerts))
    attach_push_devices(people.values())
    outcomes: dict[str, int] = defaultdict(int)
    record = partial(_friend_alerts_record, taken_at=taken_at, outcomes=outcomes)
    unreachable: list[list[int]] = []
    by_channel: dict[str, list[tuple[User, Message, list[int]]]] = defaultdict(list)
    for recipient_id, alert_ids in alerts.items():
        recipient = people[recipient_id]
        message = _friend_alert_message(recipient, [answers[r] for r in told[recipient_id]])
        reach = channels_for(recipient)
        if message is None or not reach:
            unreachable.append(alert_ids)
        else:
            by_channel[reach[0]].append((recipient, message, alert_ids))
    if unreachable:
        record(unreachable, [(i, UNREACHABLE) for i in range(len(unreachable))], channel="")
    for name, rows in by_channel.items():
        items = [(recipient, message) for recipient, message, _ in rows]
        _send_recorded(name, items, partial(record, [ids for *_, ids in rows], channel=name))
    return dict(outcomes)


def _friend_alert_message(recipient: User, responses: list[Response]) -> Message | None:
    """The alert telling RECIPIENT of RESPONSES (oldest first), or None if there is none."""
    # The latest answer per friend and incident: a changed answer is told once, as it is now.
    latest = {(r.checkin.person_id, r.checkin.incident_id): r for r in responses}
    friends = tuple(
        FriendNews(
            name=r.checkin.person.name, status=r.status, incident_title=r.checkin.incident.title
        )
        for r in latest.values()
    )
    if not friends:
        return None
    return Message(
        checkin_id=0,
        incident_title=friends[0].incident_title,
        drill=False,
        purpose="friend_alert",
        token="",
        link=settings.SITE_URL + "/",
        language=recipient.language,
        friends=friends,
        # Named by its oldest answer: a copy sent again after a task died (the same alerts,
        # maybe more) carries the same key, so it replaces the first.
        key=f"friends-{recipient.id}-{min(r.id for r in responses)}",
    )


def _friend_alerts_record(
    alert_ids: Sequence[list[int]],
    ready: Ready,
    *,
    channel: str,
    taken_at: datetime,
    outcomes: dict[str, int],
) -> None:
    """Record READY (index into ALERT_IDS, the recipient's result); only alerts this run took
    are changed."""
    ids: dict[str, list[int]] = {"sent": [], "retry": [], "failed": []}
    for index, result in ready:
        outcome = result.outcome if result.outcome in ("sent", "retry") else "failed"
        ids[outcome] += alert_ids[index]
        outcomes[outcome] += 1
    mine = FriendAlert.objects.filter(status=FriendAlert.Status.SENDING, sent_at=taken_at)
    changes: dict[str, dict[str, Any]] = {
        # Back to pending with no send time: the next sweep tries again.
        "retry": {"status": FriendAlert.Status.PENDING, "sent_at": None},
        "sent": {"status": FriendAlert.Status.SENT, "channel": channel},
        "failed": {"status": FriendAlert.Status.FAILED, "channel": channel},
    }
    updates = [(ids[outcome], change) for outcome, change in changes.items() if ids[outcome]]
    # One transaction only when there are several statements: each costs a round trip.
    with transaction.atomic() if len(updates) > 1 else contextlib.nullcontext():
        for changed, change in updates:
            mine.filter(InArray(F("id"), changed)).update(**change)


# --- Ask to check in ---------------------------------------------------------------------


def checkin_nudge(*, sender: User, checkin_id: int, now: datetime | None = None) -> Nudge:
    """Let SENDER ask a friend who has not answered to check in; atomic.

    Sends a nudge (seq = how many nudges this check-in had) on every channel reached so far.
    404 unless the check-in is a friend's; 409 once answered or closed; 429 (TooManyRequests)
    if SENDER asked the same person within SAFE_NUDGE_INTERVAL_SECONDS.
    """
    now = now or timezone.now()
    checkin = CheckIn.objects.select_related("incident").filter(id=checkin_id).first()
    if (
        checkin is None
        or not Friendship.objects.filter(person=sender, friend_id=checkin.person_id).exists()
    ):
        raise NotFound("No such check-in.")
    interval = settings.SAFE_NUDGE_INTERVAL_SECONDS
    with transaction.atomic():
        # Lock the check-in: concurrent nudges for it are serialised, so the rate limit and
        # the sequence number hold.
        locked = CheckIn.objects.select_for_update(of=("self",)).filter(id=checkin_id)
        found = _with_addresses(locked)
        if not found:  # deleted since the look-up above
            raise NotFound("No such check-in.")
        checkin = found[0]
        if checkin.incident.status != Incident.Status.ACTIVE:
            raise Conflict("This incident is closed.", code="closed")
        if checkin.status != CheckIn.Status.PENDING:
            raise Conflict("Your friend has already answered.", code="answered")
        last = (
            Nudge.objects.filter(from_person=sender, checkin__person_id=checkin.person_id)
            .order_by("-created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if last is not None and last > now - timedelta(seconds=interval):
            wait = math.ceil((last + timedelta(seconds=interval) - now).total_seconds())
            raise TooManyRequests(
                "You asked this friend recently; please wait before asking again.",
                retry_after=max(wait, 1),
            )
        nudge = Nudge.objects.create(from_person=sender, checkin=checkin, created_at=now)
        seq = Nudge.objects.filter(checkin=checkin).count()
        reach = channels_for(checkin.person)
        step = Reminder.objects.filter(checkin=checkin).values_list("channel_step", flat=True)
        reached = reach[: (step.first() or 0) + 1]
        _create_and_enqueue([_delivery(checkin, c, Purpose.NUDGE, seq) for c in reached])
    return nudge


# --- People's settings: push subscriptions, channel order --------------------------------


def push_subscription_save(
    *, person: User, endpoint: str, p256dh: str, auth: str
) -> tuple[PushSubscription, bool]:
    """Store a browser's subscription for PERSON; returns (subscription, created).

    Posting a known endpoint again updates it, moving it to PERSON if someone else had it
    (the browser now belongs to whoever signed in). Beyond the per-person limit the oldest
    device is dropped. Raises ServiceError (400) for a bad subscription; nothing is stored.
    """
    try:
        validate_subscription(
            endpoint, p256dh, auth, allow_http_loopback=settings.SAFE_PUSH_ALLOW_HTTP_LOOPBACK
        )
    except ValueError as exc:
        raise ServiceError(str(exc), code="invalid_subscription") from exc
    with transaction.atomic():
        subscription, created = PushSubscription.objects.update_or_create(
            endpoint=endpoint, defaults={"person": person, "p256dh": p256dh, "auth": auth}
        )
        keep = settings.SAFE_PUSH_MAX_SUBSCRIPTIONS
        stale = PushSubscription.objects.filter(person=person).order_by("-created_at", "-id")
        PushSubscription.objects.filter(
            id__in=list(stale.values_list("id", flat=True)[keep:])
        ).delete()
    return subscription, created


def push_subscription_delete(*, person: User, endpoint: str) -> None:
    """Forget one of PERSON's devices; someone else's endpoint is 404."""
    deleted, _ = PushSubscription.objects.filter(person=person, endpoint=endpoint).delete()
    if not deleted:
        raise NotFound("No such push subscription.")


def known_channel_names() -> set[str]:
    """Names a person may put in their channel order (including ones not set up here)."""
    return set(CHANNELS) | set(default_channel_order())


def channel_preferences_set(*, person: User, order: list[str], friend_alerts: bool) -> User:
    """Set PERSON's channel order and friend-alert choice; 400 for unknown or repeated names."""
    known = known_channel_names()
    unknown = [name for name in order if name not in known]
    if unknown:
        raise ServiceError(
            f"Unknown channel {unknown[0]!r}; expected some of {', '.join(sorted(known))}.",
            code="unknown_channel",
            fields={"order": ["unknown channel"]},
        )
    if len(set(order)) != len(order):
        raise ServiceError(
            "A channel appears twice in the order.",
            code="duplicate_channel",
            fields={"order": ["duplicate"]},
        )
    if not order:
        raise ServiceError(
            "Keep at least one channel: this is how you are asked if you are safe.",
            fields={"order": ["empty"]},
        )
    User.objects.filter(id=person.id).update(channel_order=order, friend_alerts=friend_alerts)
    person.channel_order, person.friend_alerts = order, friend_alerts
    return person
