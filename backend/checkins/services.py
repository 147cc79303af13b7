"""Writes for check-ins: set-based creation at activation, answers, live counters."""

import random
from collections.abc import Callable
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from backend.common.errors import Conflict, NotFound, ServiceError
from backend.common.ratelimit import Hit
from backend.common.sql import in_ids
from backend.incidents.models import Incident

from .answer_stream import answer_enqueue, incident_seen_active
from .models import Answer, CheckIn, IncidentCounter, Response
from .tokens import token_claims

COUNTER_FIELDS = ("targeted", "delivered", "safe", "need_help", "not_in_area")
# After inserting this many check-ins at once, refresh the planner's statistics: until
# autovacuum does (a minute or more later), it believes the incident has a handful of rows and
# plans friends' views as a hash of the whole incident (measured: 500 ms instead of 3 ms).
ANALYZE_AFTER_ROWS = 10_000

# One statement creates every check-in; the unique (incident, person) key makes a second
# run (a redelivered task, a double activation) insert nothing.
CREATE_CHECKINS_SQL = """
INSERT INTO checkins_checkin
    (incident_id, person_id, status, note, answered_via, created_at)
SELECT DISTINCT r.incident_id, p.person_id, 'pending', '', '', %s
FROM incidents_cellrange r
JOIN accounts_place p ON p.cell BETWEEN r.lo AND r.hi
JOIN accounts_user u ON u.id = p.person_id AND u.is_active
WHERE r.incident_id = %s
ON CONFLICT (incident_id, person_id) DO NOTHING
"""

# Hooks other apps register to learn of a recorded answer (friend alerts, live views).
# They run after commit, so a slow listener never delays or undoes an answer.
answer_listeners: list[Callable[[int], None]] = []
# A listener's batched equivalent, if it has one: the write-behind drainer records hundreds
# of answers per commit and calls it once with their check-in ids instead of once each.
answer_batch_listeners: dict[Callable[[int], None], Callable[[list[int]], None]] = {}


BUMP_COUNTERS_SQL = (
    "UPDATE checkins_incidentcounter SET {changes} WHERE incident_id = %s AND shard = %s"
)


def counters_bump(*, incident_id: int, **deltas: int) -> None:
    """Add DELTAS to one random shard of the incident's counters (call inside a transaction)."""
    deltas = {field: delta for field, delta in deltas.items() if delta}
    if not deltas:
        return
    unknown = set(deltas) - set(COUNTER_FIELDS)
    if unknown:
        raise ValueError(f"unknown counters: {sorted(unknown)}")
    shard = random.randrange(settings.SAFE_COUNTER_SHARDS)  # noqa: S311 - spreading load only
    # A raw statement: the push fan-out bumps a counter for every 16 messages it records, and
    # the ORM's update cost more CPU to compile than the statement took to run.
    changes = ", ".join(f"{field} = {field} + %s" for field in deltas)  # known names only
    sql = BUMP_COUNTERS_SQL.format(changes=changes)
    params = [*deltas.values(), incident_id, shard]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount:
            return
        IncidentCounter.objects.bulk_create(
            [
                IncidentCounter(incident_id=incident_id, shard=n)
                for n in range(settings.SAFE_COUNTER_SHARDS)
            ],
            ignore_conflicts=True,
        )
        cursor.execute(sql, params)


def checkins_create_for_incident(*, incident_id: int) -> int:
    """Create one check-in per affected person, set-based and idempotent. Atomic.

    Returns how many were created by this call (0 when run again).
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(CREATE_CHECKINS_SQL, [timezone.now(), incident_id])
            created = max(cursor.rowcount, 0)
        counters_bump(incident_id=incident_id, targeted=created)
        if created >= ANALYZE_AFTER_ROWS and connection.vendor == "postgresql":
            # In the same transaction (ANALYZE counts its own transaction's rows): the new
            # statistics commit with the rows, so no reader ever plans with the old ones,
            # even if the worker dies right after the commit (a redelivered task creates 0).
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE checkins_checkin")
        Incident.objects.filter(id=incident_id, fanout_done_at__isnull=True).update(
            fanout_done_at=timezone.now()
        )
    return created


MARK_DELIVERED_SQL = (
    "UPDATE checkins_checkin SET delivered_at = %s WHERE delivered_at IS NULL AND id {ids}"
)


def checkins_mark_delivered(*, checkin_ids: list[int], incident_id: int) -> int:
    """Count people as reached the first time any channel gets through; returns how many.

    Set-based: one update and one counter bump (one shard) per batch of sent messages, so
    two workers recording batches never lock counter shards in opposite orders.
    Call inside the transaction that records the deliveries.
    """
    condition, params = in_ids(sorted(checkin_ids))
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(MARK_DELIVERED_SQL.format(ids=condition), [now, *params])
        first = max(cursor.rowcount, 0)
    counters_bump(incident_id=incident_id, delivered=first)
    return first


def _clean_answer(status: str, note: str) -> str:
    """The note as stored; raises for an unknown status or a note over 280 characters."""
    if status not in Answer.values:
        raise ServiceError(
            f"Unknown answer {status!r}; expected one of {', '.join(Answer.values)}.",
            code="invalid_status",
            fields={"status": ["invalid choice"]},
        )
    note = (note or "").strip()
    if len(note) > 280:
        raise ServiceError("The note is longer than 280 characters.", fields={"note": ["too long"]})
    return note


def checkin_respond(*, checkin_id: int, status: str, note: str = "", via: str) -> CheckIn:
    """Record an answer; the last one wins and every change is kept in the history.

    Idempotent: repeating the current answer changes nothing and records nothing, so a
    double tap or a replayed offline queue is harmless. Compare-and-set on the previous
    answer keeps counters exact when answers race.
    """
    note = _clean_answer(status, note)
    for _attempt in range(10):
        current = CheckIn.objects.select_related("incident").filter(id=checkin_id).first()
        if current is None:
            raise NotFound("No such check-in.")
        if current.incident.status != Incident.Status.ACTIVE:
            raise Conflict(
                "This incident is closed; answers are no longer accepted.", code="closed"
            )
        if current.status == status and current.note == note:
            return current
        now = timezone.now()
        with transaction.atomic():
            changed = CheckIn.objects.filter(
                id=checkin_id,
                status=current.status,
                note=current.note,
                answered_at=current.answered_at,
            ).update(status=status, note=note, answered_at=now, answered_via=via)
            if not changed:
                continue  # another answer landed first; look again
            Response.objects.create(
                checkin_id=checkin_id, status=status, note=note, via=via, at=now
            )
            deltas = {status: 1}
            if current.status != CheckIn.Status.PENDING:
                deltas[current.status] = deltas.get(current.status, 0) - 1
            counters_bump(incident_id=current.incident_id, **deltas)
            for listener in answer_listeners:
                transaction.on_commit(partial(listener, checkin_id))
        current.status, current.note, current.answered_at, current.answered_via = (
            status,
            note,
            now,
            via,
        )
        return current
    raise Conflict("Too many answers at once for this check-in; please retry.", code="busy")


def checkin_respond_with_token(
    *, token: str, status: str, note: str = "", via: str, hit: Hit | None = None
) -> CheckIn:
    """Answer with a one-tap token; a malformed or tampered token is simply not found.

    The peak path (a notification's action): no check-in is read (see `_answer`), and the
    request's rate-limit HIT is counted in the answer's own Redis call when it gets there.
    """
    claims = token_claims(token)
    if claims is None:
        raise NotFound("This link is not valid.", code="invalid_token")
    checkin = CheckIn(id=claims.checkin_id, incident_id=claims.incident_id)
    return _answer(checkin, status=status, note=_clean_answer(status, note), via=via, hit=hit)


def checkin_answer(*, checkin: CheckIn, status: str, note: str = "", via: str) -> CheckIn:
    """Answer CHECKIN, already read with its incident (the one-tap page). A closed incident
    is refused here, at once; repeating the current answer changes nothing."""
    note = _clean_answer(status, note)
    if checkin.incident.status != Incident.Status.ACTIVE:
        raise Conflict("This incident is closed; answers are no longer accepted.", code="closed")
    if checkin.status == status and checkin.note == note:
        return checkin
    return _answer(checkin, status=status, note=note, via=via)


def _answer(
    checkin: CheckIn, *, status: str, note: str, via: str, hit: Hit | None = None
) -> CheckIn:
    """Through the write-behind stream when it takes the answer (answer_stream.py): CHECKIN
    comes back carrying the accepted answer, not a row read back. Otherwise recorded here
    and now, and the incident, found active, may take the stream from then on."""
    pending = answer_enqueue(
        checkin_id=checkin.id,
        incident_id=checkin.incident_id,
        status=status,
        note=note,
        via=via,
        hit=hit,
    )
    if pending is None:
        recorded = checkin_respond(checkin_id=checkin.id, status=status, note=note, via=via)
        incident_seen_active(checkin.incident_id)
        return recorded
    checkin.status, checkin.note, checkin.answered_at, checkin.answered_via = (
        status,
        note,
        pending.at,
        via,
    )
    return checkin
