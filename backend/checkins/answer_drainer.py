"""The answers write-behind, drainer side: record streamed answers in PostgreSQL in batches.

Runs as its own process (`manage.py drain_answers`; `make run` and deploy/ start it), not
as a Celery task: answers peak during an activation's fan-out, exactly when the Celery
queue is full of delivery batches, and an answer waiting behind them would not show on
the person's pages or reach their friends for minutes. A dedicated consumer reads with a
blocking XREADGROUP and records within milliseconds; several may run (one consumer group).

Semantics are those of `checkin_respond`, per batch and in stream order:
- the last answer wins, every change is kept once in the history (Response.key is the
  entry's idempotency key, unique: an entry processed twice is recorded once);
- repeating the current answer changes nothing and records nothing;
- counters stay exact: the batch's check-ins are locked (FOR UPDATE, in id order) before
  they are read, so the compare-and-set is the lock, and one shard per incident is bumped;
- an answer older than the check-in's current one (given while the stream was bypassed)
  does not overwrite it;
- answers to closed incidents, or to check-ins that no longer exist, are rejected and
  reported (logged and counted);
- listeners (friend alerts, reminders stopped) run after commit, before XACK, and again
  for an entry seen twice: they are idempotent, so friends are alerted once.

An entry is acknowledged (XACK, then XDEL) only after its batch committed; entries of a
consumer that died are claimed by another after `RECLAIM_IDLE_MS` (XAUTOCLAIM).
"""

import contextlib
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from django.db import OperationalError, close_old_connections, connection, transaction

from backend.common.sql import plan_by_keys
from backend.incidents.models import Incident

from . import answer_stream
from .models import Answer, CheckIn, Response
from .services import answer_batch_listeners, answer_listeners, counters_bump

log = logging.getLogger(__name__)

GROUP = "drainers"
_ANSWERS = frozenset(Answer.values)
BATCH = 500
# A drainer announces itself for this long; the web stops enqueueing soon after it dies.
ALIVE_MS = 10_000
# Entries pending this long on a consumer are taken over: it died or hangs.
RECLAIM_IDLE_MS = 30_000
# How long an idle drainer waits for answers before announcing itself again.
BLOCK_MS = 1000
# After a partial batch, how long to let answers gather before reading again. Under load
# the database then gets a few large batches instead of many small ones: recording costs
# about 0.15 ms of CPU per answer in batches of 500 and 0.45 ms in the batches of 5-20 a
# drainer reading at once gets at 1,500 answers/s (drainer + PostgreSQL, `make bench` B3).
LINGER_MS = 250

# Drop the pending overlay of each recorded entry unless a newer answer replaced it.
_FORGET = """
for i = 1, #ARGV, 2 do
  local value = redis.call('HGET', KEYS[1], ARGV[i])
  if value and string.sub(value, 1, 32) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 0
"""


@dataclass
class Entry:
    id: str
    key: str
    checkin_id: int
    status: str
    note: str
    via: str
    at: datetime


@dataclass
class Outcome:
    recorded: int = 0
    unchanged: int = 0
    duplicate: int = 0
    superseded: int = 0
    rejected: int = 0
    malformed: int = 0
    listened: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, int]:
        return {
            "recorded": self.recorded,
            "unchanged": self.unchanged,
            "duplicate": self.duplicate,
            "superseded": self.superseded,
            "rejected": self.rejected,
            "malformed": self.malformed,
        }


def _parse(entry_id: str, fields: dict[str, str]) -> Entry | None:
    try:
        if "a" in fields:  # "<checkin>|<via>|<pending value>" (answer_stream._ENQUEUE)
            checkin, via, value = fields["a"].split("|", 2)
            answer = answer_stream.PendingAnswer.decode(value)
            key, status, note, at = answer.key, answer.status, answer.note, answer.at
        else:  # one field per value: written by the web before this release
            key, checkin, status = fields["key"], fields["checkin"], fields["status"]
            note, via, at = (
                fields.get("note", ""),
                fields["via"],
                datetime.fromisoformat(fields["at"]),
            )
        entry = Entry(entry_id, key, int(checkin), status, note, via, at)
    except (KeyError, ValueError):
        return None
    if entry.status not in _ANSWERS or len(entry.note) > 280 or len(entry.key) != 32:
        return None
    return entry


@dataclass(slots=True)
class _Row:
    """A locked check-in's answer, as the batch changes it. Rows are read as tuples: model
    instances were the drainer's largest Python cost per batch (cProfile)."""

    id: int
    incident_id: int
    status: str
    note: str
    answered_at: datetime | None
    answered_via: str
    incident_active: bool


# On PostgreSQL a batch's lookups take their ids as one array parameter: the IN list of 500
# placeholders the ORM builds cost the drainer more CPU to build and parse than the rest.
_LOCK_SQL = """
SELECT c.id, c.incident_id, c.status, c.note, c.answered_at, c.answered_via, i.status
FROM checkins_checkin c JOIN incidents_incident i ON i.id = c.incident_id
WHERE c.id = ANY(%s) ORDER BY c.id FOR UPDATE OF c
"""
_SEEN_SQL = "SELECT key FROM checkins_response WHERE key = ANY(%s)"
_ROW_FIELDS = (
    "id", "incident_id", "status", "note", "answered_at", "answered_via", "incident__status",
)  # fmt: skip


def _lock_rows(ids: list[int]) -> dict[int, _Row]:
    """Lock the check-ins IDS (in id order, so two drainers never deadlock) and read them."""
    rows: Iterable[tuple[Any, ...]]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_SQL, [ids])
            rows = cursor.fetchall()
    else:
        rows = (
            CheckIn.objects.select_for_update(of=("self",))
            .filter(id__in=ids)
            .order_by("id")
            .values_list(*_ROW_FIELDS)
        )
    return {
        id_: _Row(id_, incident_id, status, note, at, via, incident == Incident.Status.ACTIVE)
        for id_, incident_id, status, note, at, via, incident in rows
    }


def _seen_keys(keys: list[str]) -> set[str]:
    """The KEYS already in the history: entries recorded before (and delivered again)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_SEEN_SQL, [keys])
            return {key for (key,) in cursor.fetchall()}
    seen = Response.objects.filter(key__in=keys).values_list("key", flat=True)
    return {key for key in seen if key is not None}


def record_entries(entries: list[Entry]) -> Outcome:
    """Record ENTRIES (in stream order) in one transaction; run listeners after commit."""
    outcome = Outcome()
    if not entries:
        return outcome
    with transaction.atomic():
        plan_by_keys()
        current = _lock_rows(sorted({e.checkin_id for e in entries}))
        seen = _seen_keys([e.key for e in entries])
        changed: dict[int, _Row] = {}
        closed: set[int] = set()
        history: list[Entry] = []
        deltas: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for entry in entries:
            checkin = current.get(entry.checkin_id)
            if entry.key in seen:
                outcome.duplicate += 1
                outcome.listened.add(entry.checkin_id)
                continue
            seen.add(entry.key)
            if checkin is None or not checkin.incident_active:
                outcome.rejected += 1
                log.warning(
                    "answer %s to check-in %s rejected: %s",
                    entry.key,
                    entry.checkin_id,
                    "no such check-in" if checkin is None else "incident closed",
                )
                if checkin is not None:
                    closed.add(checkin.incident_id)
                continue
            if checkin.answered_at is not None and entry.at <= checkin.answered_at:
                outcome.superseded += 1
                continue
            if checkin.status == entry.status and checkin.note == entry.note:
                outcome.unchanged += 1
                continue
            counts = deltas[checkin.incident_id]
            counts[entry.status] += 1
            if checkin.status != CheckIn.Status.PENDING:
                counts[checkin.status] -= 1
            checkin.status, checkin.note = entry.status, entry.note
            checkin.answered_at, checkin.answered_via = entry.at, entry.via
            changed[checkin.id] = checkin
            history.append(entry)
            outcome.recorded += 1
        if changed:
            _save_answers(sorted(changed.values(), key=lambda c: c.id))
            _save_history(history)
            for incident_id, counts in sorted(deltas.items()):
                counters_bump(incident_id=incident_id, **counts)
        outcome.listened |= set(changed)
    for incident_id in closed:  # answers to it must take the synchronous path, which refuses
        answer_stream.incident_closed(incident_id)
    _notify(sorted(outcome.listened))
    return outcome


def _notify(checkin_ids: list[int]) -> None:
    """Run the answer listeners for CHECKIN_IDS: batched where a listener offers it.

    A listener that raises is logged, not retried: the answers are committed, and a batch
    that could never be acknowledged would be recorded-and-skipped forever.
    """
    if not checkin_ids:
        return
    for listener in answer_listeners:
        batched = answer_batch_listeners.get(listener)
        try:
            if batched is not None:
                batched(checkin_ids)
            else:
                for checkin_id in checkin_ids:
                    listener(checkin_id)
        except Exception:
            log.exception("answer listener %s failed for %d answers", listener, len(checkin_ids))


# One statement for the batch: Django's bulk_update builds a CASE per row and column,
# which cost more CPU than everything else the drainer does (measured: ~2.5 ms per answer).
_SAVE_ANSWERS_SQL = """
UPDATE checkins_checkin AS c
SET status = v.status, note = v.note, answered_at = v.at, answered_via = v.via
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::text[])
    AS v(id, status, note, at, via)
WHERE c.id = v.id
"""


def _save_answers(checkins: list[_Row]) -> None:
    """Store the answer fields of CHECKINS (locked by the caller)."""
    fields = ["status", "note", "answered_at", "answered_via"]
    if connection.vendor != "postgresql":
        CheckIn.objects.bulk_update(
            [CheckIn(id=c.id, **{f: getattr(c, f) for f in fields}) for c in checkins], fields
        )
        return
    _execute_by_column(_SAVE_ANSWERS_SQL, checkins, ["id", *fields])


# Like _SAVE_ANSWERS_SQL: one statement, not one model instance per answer.
_SAVE_HISTORY_SQL = """
INSERT INTO checkins_response (checkin_id, status, note, via, at, key)
SELECT * FROM unnest(
    %s::bigint[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::text[]
)
"""


def _save_history(entries: list[Entry]) -> None:
    """Keep each recorded entry in the check-ins' history (`Response`), with its key."""
    if connection.vendor != "postgresql":
        Response.objects.bulk_create(
            Response(
                checkin_id=e.checkin_id, status=e.status, note=e.note, via=e.via, at=e.at, key=e.key
            )
            for e in entries
        )
        return
    _execute_by_column(
        _SAVE_HISTORY_SQL, entries, ["checkin_id", "status", "note", "via", "at", "key"]
    )


def _execute_by_column(sql: str, rows: list[Any], fields: list[str]) -> None:
    """Run one of the unnest statements above: one array parameter per field of ROWS."""
    with connection.cursor() as cursor:
        cursor.execute(sql, [[getattr(row, field) for row in rows] for field in fields])


class Drainer:
    """One consumer of the answers stream."""

    def __init__(
        self,
        *,
        name: str | None = None,
        batch: int = BATCH,
        reclaim_idle_ms: int = RECLAIM_IDLE_MS,
        linger_ms: int = LINGER_MS,
    ) -> None:
        # Its own connection: blocking reads wait longer than the web's timeout allows.
        self.redis = answer_stream.new_client(timeout=BLOCK_MS / 1000 + 5)
        self.keys = answer_stream.keys()
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.batch = batch
        self.reclaim_idle_ms = reclaim_idle_ms
        self.linger_ms = linger_ms
        self.forget = self.redis.register_script(_FORGET)
        self._own_first = True  # a consumer re-reads its own unacknowledged entries first
        try:
            self.redis.xgroup_create(self.keys.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def announce(self) -> None:
        """Tell the web a drainer is alive, so it enqueues answers instead of writing them."""
        self.redis.set(self.keys.alive, self.name, px=ALIVE_MS)

    def withdraw(self) -> None:
        """Stop new answers coming to the stream (a clean stop): the web writes them itself."""
        if self.redis.get(self.keys.alive) == self.name:
            self.redis.delete(self.keys.alive)
        # Leave no consumer behind unless it holds entries (another drainer claims those).
        mine = self.redis.xpending_range(self.keys.stream, GROUP, "-", "+", 1, self.name)
        if not mine:
            self.redis.xgroup_delconsumer(self.keys.stream, GROUP, self.name)

    def _read(self, block_ms: int | None) -> list[tuple[str, dict[str, str]]]:
        # RESP2 replies, typed loosely by redis-py: [[stream, [(id, fields), ...]]].
        got: Any
        if self._own_first:
            got = self.redis.xreadgroup(GROUP, self.name, {self.keys.stream: "0"}, count=self.batch)
            messages = got[0][1] if got else []
            if messages:
                return list(messages)
            self._own_first = False
        claimed: Any = self.redis.xautoclaim(
            self.keys.stream, GROUP, self.name, self.reclaim_idle_ms, "0-0", count=self.batch
        )
        if claimed[1]:
            log.warning("claimed %d answers from a dead drainer", len(claimed[1]))
            self._forget_dead_consumers()
            return [(i, f) for i, f in claimed[1] if f]
        got = self.redis.xreadgroup(
            GROUP, self.name, {self.keys.stream: ">"}, count=self.batch, block=block_ms
        )
        return list(got[0][1]) if got else []

    def _forget_dead_consumers(self) -> None:
        """Drop consumers with nothing pending and long idle (each process has its own name)."""
        for consumer in self.redis.xinfo_consumers(self.keys.stream, GROUP):
            idle = int(consumer["idle"])
            if (
                consumer["name"] != self.name
                and not consumer["pending"]
                and idle > self.reclaim_idle_ms
            ):
                self.redis.xgroup_delconsumer(self.keys.stream, GROUP, consumer["name"])

    def drain_once(self, *, block_ms: int | None = None) -> dict[str, int]:
        """Read one batch, record it, acknowledge it; returns what happened (empty: idle)."""
        messages = self._read(block_ms)
        if not messages:
            return {}
        entries, malformed = [], []
        for entry_id, fields in messages:
            entry = _parse(entry_id, fields)
            if entry is None:
                log.error("malformed answer entry %s dropped: %r", entry_id, fields)
                malformed.append(entry_id)
            else:
                entries.append(entry)
        try:
            outcome = record_entries(entries)
        except Exception:
            # Not acknowledged: read again (ours first) once the database answers.
            self._own_first = True
            raise
        outcome.malformed = len(malformed)
        ids = [entry_id for entry_id, _ in messages]
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(self.keys.stream, GROUP, *ids)
        pipe.xdel(self.keys.stream, *ids)
        args: list[Any] = []
        for entry in entries:
            args += [entry.checkin_id, entry.key]
        if args:
            self.forget(keys=[self.keys.pending], args=args, client=pipe)
        pipe.execute()
        return outcome.as_dict()

    def run(self, *, stop: Any, idle_block_ms: int = BLOCK_MS) -> None:
        """Drain until STOP (a threading.Event-like) is set; survive Redis and DB outages."""
        while not stop.is_set():
            # What Django does around each request: drop a connection the database closed
            # (a restart) or that is past its age, or every batch after an outage would fail.
            close_old_connections()
            try:
                self.announce()
                done = self.drain_once(block_ms=idle_block_ms)
                if done and (done["rejected"] or done["malformed"]):
                    log.warning("answers drained with rejections: %s", done)
                if done and sum(done.values()) < self.batch:
                    stop.wait(self.linger_ms / 1000)
            except redis.RedisError as exc:
                log.warning("answers stream unavailable: %s", exc)
                stop.wait(1)
            except OperationalError as exc:
                log.warning("database unavailable, answers kept in the stream: %s", exc)
                stop.wait(1)
            except Exception:
                log.exception("answers batch not recorded; will retry")
                stop.wait(1)
        with contextlib.suppress(redis.RedisError):
            self.withdraw()

    def backlog(self) -> int:
        """Entries not yet acknowledged (new and pending)."""
        return int(self.redis.xlen(self.keys.stream))


def drain_until_empty(*, timeout: float = 60.0) -> int:
    """Record everything in the stream now (tests, benchmarks, a last drain); returns the count."""
    drainer = Drainer(name=f"until-empty-{os.getpid()}")
    deadline = time.monotonic() + timeout
    total = 0
    while drainer.backlog() and time.monotonic() < deadline:
        done = drainer.drain_once()
        total += sum(done.values())
        if not done:
            # Entries held by another live consumer: wait for it (or for them to be claimable).
            time.sleep(0.05)
    drainer.withdraw()
    return total
