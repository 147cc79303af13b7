"""The answers write-behind, web side: append an answer to a Redis Stream, read pending ones.

At peak the answer path is what people wait on, and recording an answer in PostgreSQL
costs ~11 statements and two commits (the answer, then its listeners). So when a drainer
is alive (`answer_drainer`, the `drain_answers` process), the endpoint only checks what is
cheap (signed token, status, note length, rate limit) and appends the answer to a stream
with an idempotency key, in one Redis round trip; the drainer records it with the same
compare-and-set semantics as `checkin_respond`.

Durability: an accepted answer lives in Redis until the drainer has committed it, so the
answers Redis must run with AOF (`appendonly yes`; with `appendfsync everysec` a power loss
can lose the last second of acknowledged answers, `always` loses none). See
docs/reliability.md, "Answers write-behind".

Nothing here may refuse or lose an answer: if Redis is unreachable or no drainer is alive,
`answer_enqueue` returns None and the caller records the answer synchronously.

Read-your-writes: until the drainer has recorded it, the latest pending answer of each
check-in is kept in a hash that the person's and their friends' views overlay
(`pending_answers`), so an answer shows at once on every page, not within a second.
"""

import contextlib
import functools
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

import redis
from django.conf import settings
from django.utils import timezone

from backend.common.ratelimit import (
    COUNT_HIT_LUA,
    Hit,
    RateLimited,
    counters_url,
    rate_limit_count,
)
from backend.common.redis_script import LazyScript

log = logging.getLogger(__name__)

# Count the request's rate-limit hit (when KEYS[5] is given), then XADD only if a drainer
# announced itself recently, the incident is known to be active and the backlog is under
# its cap, and remember the answer as pending. One round trip; Redis runs the script
# atomically, so the stream and the hash agree. The entry is one field, "<checkin>|<via>|"
# followed by the pending value (ARGV[1]): the fewer the arguments and fields, the less
# the web, Redis and the drainer spend packing and parsing them at peak.
_ENQUEUE = (
    COUNT_HIT_LUA
    + """
if KEYS[5] then
  local count, ttl = count_hit(KEYS[5], ARGV[7])
  if count > tonumber(ARGV[6]) then
    return math.max(ttl, 1)
  end
end
if redis.call('EXISTS', KEYS[3]) == 0 or redis.call('SISMEMBER', KEYS[4], ARGV[4]) == 0
    or redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[5]) then
  return -1
end
redis.call('XADD', KEYS[1], '*', 'a', ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return 0
"""
)
# What the script returns (an integer: the cheapest reply to parse): the answer is queued,
# must be recorded directly, or (any positive number) the rate limit's seconds to wait.
_QUEUED, _DIRECT = 0, -1


@dataclass(frozen=True)
class Keys:
    stream: str
    pending: str
    alive: str
    active: str


def keys() -> Keys:
    """Redis keys of this deployment's answers, named after its database.

    Two deployments (or test runs) sharing one Redis never drain each other's answers
    into the wrong database.
    """
    return _keys(str(settings.DATABASES["default"]["NAME"]))


@functools.lru_cache(maxsize=8)
def _keys(name: str) -> Keys:
    base = f"answers:{name}"
    return Keys(
        stream=base,
        pending=f"{base}:pending",
        alive=f"{base}:drainer",
        active=f"{base}:active-incidents",
    )


def _url() -> str:
    return str(getattr(settings, "SAFE_ANSWERS_REDIS_URL", "") or settings.REDIS_URL)


def new_client(*, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(
        _url(), socket_timeout=timeout, socket_connect_timeout=0.5, decode_responses=True
    )


# Short timeouts: an unreachable Redis must cost the answer little before it falls back to
# PostgreSQL.
_enqueue = LazyScript(_ENQUEUE, lambda: new_client(timeout=0.5))


def client() -> redis.Redis:
    return _enqueue.get()[0]


def reset_client() -> None:
    """Forget the connection (tests point settings at another server)."""
    _enqueue.reset()


@dataclass(frozen=True)
class PendingAnswer:
    key: str
    status: str
    note: str
    at: datetime

    def encode(self) -> str:
        return "|".join([self.key, self.status, self.at.isoformat(), self.note])

    @classmethod
    def decode(cls, value: str) -> "PendingAnswer":
        key, status, at, note = value.split("|", 3)
        return cls(key=key, status=status, note=note, at=datetime.fromisoformat(at))


def answer_enqueue(
    *, checkin_id: int, incident_id: int, status: str, note: str, via: str, hit: Hit | None = None
) -> PendingAnswer | None:
    """Append a validated answer to the stream; None if it must be recorded synchronously.

    It must whenever no drainer is alive, Redis is unreachable, the backlog reached
    SAFE_ANSWERS_MAX_BACKLOG (the drainer is stuck or starved: Redis must not grow without
    bound), or the incident is not in the set of incidents seen active
    (`incident_seen_active`): a closed incident's answer is then refused by the synchronous
    path at once, never accepted and dropped later.
    HIT, the request's rate-limit hit, is counted in the same call (RateLimited when over).
    """
    pending = PendingAnswer(key=secrets.token_hex(16), status=status, note=note, at=timezone.now())
    k = keys()
    script_keys = [k.stream, k.pending, k.alive, k.active]
    args: list[str | int] = [
        pending.encode(),
        checkin_id,
        via,
        incident_id,
        settings.SAFE_ANSWERS_MAX_BACKLOG,
    ]
    if hit is not None and not hit.counted:
        if counters_url() == _url():
            hit.counted = True  # or given up on, if Redis is down: the limit lets it through
            script_keys.append(hit.key)
            args += [hit.limit, hit.window]
        else:
            rate_limit_count(hit)  # the counters live in another Redis: their own round trip
    try:
        _, enqueue = _enqueue.get()
        outcome = enqueue(keys=script_keys, args=args)
    except redis.RedisError as exc:
        log.warning("answers write-behind unavailable, recording synchronously: %s", exc)
        return None
    if outcome == _DIRECT:
        return None
    if outcome != _QUEUED:
        raise RateLimited(int(outcome))
    return pending


def incident_seen_active(incident_id: int) -> None:
    """Let answers to INCIDENT_ID take the stream: the synchronous path just found it active."""
    with contextlib.suppress(redis.RedisError):
        client().sadd(keys().active, incident_id)


def incident_closed(incident_id: int) -> None:
    """Send answers to INCIDENT_ID back to the synchronous path, which refuses them (409).

    Called when it is resolved, and by the drainer when it rejects an answer to it (so a
    resolution whose call here failed, or raced an answer, heals itself).
    """
    with contextlib.suppress(redis.RedisError):
        client().srem(keys().active, incident_id)


def backlog() -> int | None:
    """Answers acknowledged and not yet recorded; None when no drainer is alive (the web
    then records answers itself)."""
    k, redis_client = keys(), client()
    if not redis_client.exists(k.alive):
        return None
    return int(redis_client.xlen(k.stream))


def pending_answers(checkin_ids: list[int]) -> dict[int, PendingAnswer]:
    """The answers accepted but not yet recorded for CHECKIN_IDS (empty if Redis is down)."""
    if not checkin_ids:
        return {}
    try:
        values = client().hmget(keys().pending, [str(i) for i in checkin_ids])
    except redis.RedisError as exc:
        log.warning("pending answers not read: %s", exc)
        return {}
    found = {}
    for checkin_id, value in zip(checkin_ids, values, strict=True):
        if value:
            found[checkin_id] = PendingAnswer.decode(str(value))
    return found
