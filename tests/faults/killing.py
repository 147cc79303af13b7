"""For the tests that SIGKILL Celery workers: their settings, a stand-in for beat, the kills,
and what reached people (emails written, copies received)."""

import contextlib
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from celery import Celery

from tests.support.push_service import PushService

from .servers import CeleryWorker

_TO = re.compile(r"^To: (.+)$", re.MULTILINE)
_MESSAGE_ID = re.compile(r"^Message-ID: (.+)$", re.MULTILINE)
# What Django's file backend writes after each message.
_SEPARATOR = "\n" + "-" * 79 + "\n"


# Longer than any task takes here (a 1,000-row batch: a few seconds), so a live worker's task
# is never handed to a second one; a dead worker's comes back within seconds.
VISIBILITY_TIMEOUT = 20
RESTORE_INTERVAL = 2


def worker_env(
    base_env: dict[str, str], *, queue: str, mail_dir: Path, claim_lease: int, push_in_flight: int
) -> dict[str, str]:
    """The workers' environment: their own queues, short timeouts, mail written to files in
    MAIL_DIR (made here)."""
    mail_dir.mkdir(exist_ok=True)
    return {
        **base_env,
        "CELERY_QUEUE": queue,
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "CELERY_RESTORE_INTERVAL": str(RESTORE_INTERVAL),
        "SAFE_CLAIM_LEASE_SECONDS": str(claim_lease),
        # Web Push rows claimed by their insert are taken over after as long as the lease.
        "SAFE_INSERT_CLAIM_SECONDS": str(claim_lease),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "SAFE_PUSH_IN_FLIGHT": str(push_in_flight),
    }


@contextlib.contextmanager
def beat(broker_url: str, task: str, *, queue: str, every: float) -> Iterator[None]:
    """Queue TASK now and every EVERY seconds while the block runs, as beat does, only more
    often. Redis may be down meanwhile: that tick fails and the next one tries again."""
    broker = Celery("faults", broker=broker_url)
    stop = threading.Event()

    def run() -> None:
        while True:
            with contextlib.suppress(Exception):
                broker.send_task(task, queue=queue)
            if stop.wait(every):
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def kill_in_turn(
    workers: list[CeleryWorker],
    *,
    kills: int,
    interval: tuple[float, float],
    seed: int,
    after_kill: Callable[[int], None] = lambda kill: None,
) -> int:
    """SIGKILL the workers in turn KILLS times, a random INTERVAL apart, starting each again;
    AFTER_KILL(n) runs between the n-th kill and the restart. Returns how many kills."""
    rng = random.Random(seed)  # timing jitter, not a secret
    for kill in range(1, kills + 1):
        time.sleep(rng.uniform(*interval))
        victim = workers[(kill - 1) % len(workers)]
        victim.kill()
        after_kill(kill)
        victim.start()
    return kills


def devices(push: PushService, count: int, path: Path) -> list[dict]:
    """COUNT devices subscribed at PUSH, also written to PATH for the seeding script."""
    subscriptions = [push.subscribe() for _ in range(count)]
    path.write_text(json.dumps(subscriptions))
    return subscriptions


def emails_written(mail_dir: Path) -> list[tuple[str, str]]:
    """(To, Message-ID) of every message the file mail backend wrote."""
    emails = []
    for file in mail_dir.iterdir():
        for text in file.read_text().split(_SEPARATOR):
            if to := _TO.search(text):
                message_id = _MESSAGE_ID.search(text)
                emails.append((to[1], message_id[1] if message_id else ""))
    return emails


def copies(counts: Counter[str]) -> int:
    """How many messages were copies of one already received."""
    return sum(n - 1 for n in counts.values())


def distinct(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """For each recipient, the distinct values (tags, Topics, Message-IDs) they received."""
    seen: dict[str, set[str]] = {}
    for recipient, value in pairs:
        seen.setdefault(recipient, set()).add(value)
    return seen
