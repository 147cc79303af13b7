"""Fixtures for the security suite: rate limits on, with fresh counters."""

from collections.abc import Iterator

import pytest
import redis

from backend.common.ratelimit import reset_client


@pytest.fixture
def rate_limits(settings) -> Iterator[None]:
    """Turn rate limiting on (it is off elsewhere in the suite) with empty counters."""
    settings.SAFE_RATE_LIMIT_ENABLED = True
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter("rl:*"):
        client.delete(key)
    reset_client()
    yield
    reset_client()
