"""Wait for something a worker or a browser does, bounded in time."""

import time
from collections.abc import Callable

import pytest


def wait_for(condition: Callable[[], object], *, timeout: float, what: str = "the worker") -> None:
    """Poll CONDITION until it is true; fail the test after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)
