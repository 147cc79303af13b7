"""Rate limits on atomic Redis counters: fixed windows, one round trip per request.

A scope ("signin", "one_tap", …) has a limit of N hits per W seconds
(`SAFE_RATE_LIMITS[scope] = (N, W)`), counted per client IP or per person. The counter
is created and its expiry set in one Lua call, so concurrent requests never lose a hit
and a key never lives without an expiry. If Redis is down the request is let through:
refusing people in a crisis because a counter is unavailable would be worse.
"""

import functools
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import redis
from django.conf import settings
from django.http import HttpRequest
from rest_framework.exceptions import Throttled
from rest_framework.request import Request

from .errors import TooManyRequests, refusal
from .redis_script import LazyScript

log = logging.getLogger(__name__)

# Counts one hit on KEY: INCR, and EXPIRE only when the key is new (or lost its expiry).
# Also the first part of the answers stream's script, which counts a one-tap request's hit
# in the same round trip as its answer (answer_stream.py).
COUNT_HIT_LUA = """
local function count_hit(key, window)
  local count = redis.call('INCR', key)
  local ttl = redis.call('TTL', key)
  if ttl < 0 then
    redis.call('EXPIRE', key, window)
    ttl = tonumber(window)
  end
  return count, ttl
end
"""
_HIT = COUNT_HIT_LUA + "return {count_hit(KEYS[1], ARGV[1])}"


def counters_url() -> str:
    """The Redis holding the counters."""
    return str(getattr(settings, "SAFE_RATE_LIMIT_REDIS_URL", "") or settings.REDIS_URL)


def _connect() -> redis.Redis:
    return redis.Redis.from_url(counters_url(), socket_timeout=0.5, socket_connect_timeout=0.5)


_hit = LazyScript(_HIT, _connect)


class RateLimited(TooManyRequests):
    code = "throttled"  # the code DRF gives its own 429s

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many attempts. Try again in {retry_after} seconds.", retry_after=retry_after
        )


def reset_client() -> None:
    """Forget the Redis connection (tests point settings at another server)."""
    _hit.reset()


def client_ip(request: HttpRequest) -> str:
    """The client's address; behind the proxy, the last X-Forwarded-For hop it appended."""
    if getattr(settings, "SAFE_TRUST_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return str(request.META.get("REMOTE_ADDR", "") or "unknown")


@dataclass
class Hit:
    """A request's hit on a scope's counter, to be counted once: by `rate_limit_count` or by
    a script that runs COUNT_HIT_LUA, which then sets COUNTED."""

    key: str
    limit: int
    window: int
    counted: bool = False


def rate_limit_pending(*, scope: str, key: str) -> Hit | None:
    """The hit KEY makes on SCOPE's counter, not yet counted; None if SCOPE is not limited."""
    limits: dict[str, tuple[int, int]] = getattr(settings, "SAFE_RATE_LIMITS", {})
    if not getattr(settings, "SAFE_RATE_LIMIT_ENABLED", True) or scope not in limits:
        return None
    limit, window = limits[scope]
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]  # no addresses stored in Redis
    return Hit(key=f"rl:{scope}:{digest}", limit=limit, window=window)


def rate_limit_count(hit: Hit | None) -> None:
    """Count HIT unless it was counted; raise RateLimited when over its limit."""
    if hit is None or hit.counted:
        return
    hit.counted = True
    try:
        client, script = _hit.get()
        count, ttl = script(keys=[hit.key], args=[hit.window], client=client)
    except redis.RedisError as exc:
        log.warning("rate limit %s not checked: %s", hit.key, exc)
        return
    if int(count) > hit.limit:
        raise RateLimited(max(int(ttl), 1))


def rate_limit_hit(*, scope: str, key: str) -> None:
    """Count one hit of KEY in SCOPE; raise RateLimited when over the scope's limit."""
    rate_limit_count(rate_limit_pending(scope=scope, key=key))


F = TypeVar("F", bound=Callable[..., Any])


def _request_of(args: tuple[Any, ...]) -> HttpRequest | Request:
    """The request among a view function's or a view method's arguments."""
    for arg in args[:2]:
        if isinstance(arg, HttpRequest | Request):
            return arg
    raise TypeError("rate_limited() decorates views: no request among the arguments")


def rate_key(request: HttpRequest | Request, per: str = "ip") -> str:
    """Whom a request's hits count against: its person (PER "person", when signed in) or IP."""
    if per == "person":
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"person:{user.pk}"
    return f"ip:{client_ip(request)}"


def rate_limited(
    scope: str, *, per: str = "ip", methods: tuple[str, ...] = ("POST",)
) -> Callable[[F], F]:
    """Decorate a view (function or APIView method) with the SCOPE limit.

    PER is "ip" or "person" (falls back to the IP for anonymous requests). Only METHODS
    count, so showing a form is free and submitting it is limited. DRF views get a 429
    through the API's exception handler; plain Django views get the one error shape.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            request = _request_of(args)
            if request.method in methods:
                try:
                    rate_limit_hit(scope=scope, key=rate_key(request, per))
                except RateLimited as exc:
                    if isinstance(request, Request):
                        raise Throttled(wait=exc.retry_after, detail=exc.message) from exc
                    return refusal(exc)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate
