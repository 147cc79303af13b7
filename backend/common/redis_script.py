"""A Redis client with one Lua script, made on first use and shared by a process's threads."""

from collections.abc import Callable
from typing import Any

import redis


class LazyScript:
    """CONNECT() and register SOURCE the first time they are needed; `reset` forgets both
    (tests point settings at another server)."""

    def __init__(self, source: str, connect: Callable[[], redis.Redis]) -> None:
        self._source = source
        self._connect = connect
        self._pair: tuple[redis.Redis, Any] | None = None

    def get(self) -> tuple[redis.Redis, Any]:
        pair = self._pair
        if pair is None:
            client = self._connect()
            # One assignment of both: a thread that sees the client also sees its script.
            pair = self._pair = (client, client.register_script(self._source))
        return pair

    def reset(self) -> None:
        self._pair = None
