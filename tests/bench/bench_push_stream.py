"""Measure the push fan-out's CPU per message: 16 threads calling `send` vs. one PushStream.

    .venv/bin/python tests/bench/bench_push_stream.py --messages 3000 --rounds 3
    .venv/bin/python tests/bench/bench_push_stream.py --messages 20000 --ceiling

Sends N messages to tests/bench/push_receiver.py (in its own process) through
(a) `PushSender.send` from a ThreadPoolExecutor of 16 threads, at most 8 sends in flight per
    origin and 16 in all, results handed back through a queue: the fan-out until 2026-12-04
    (channels/webpush.py with SAFE_PUSH_IN_FLIGHT=16, SAFE_PUSH_ORIGIN_CONCURRENCY=8);
(b) one `PushStream` with per_origin=8, a batch started (`start_many`) whenever half of a
    window of 16 is free (the channel does this with its window of 256 and 64 per origin,
    with the outbox around it);
alternating (a) and (b) ROUNDS times after a warm-up of each. CPU is time.process_time of
this process (encryption, signing, HTTP, thread hand-offs), which other load on a shared
machine changes less than wall time.

`--ceiling` instead runs (b) with the channel's window and per-origin limit in one process
per core beside the receiver, against the encryption alone on all cores (B2's baseline):
what B2 could reach with no outbox at all (B2 reports it as its bound).
`--durable` runs (b) in as many processes as B2's worker (4), each recording every send
window with one statement on PostgreSQL (DATABASE_URL), as the fewest writes that keep the
outbox's promise would: which people were sent to, committed before the next window starts.
No claim, no model objects, no message text: the floor under any durable fan-out.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from backend.notifications.webpush import (
    Push,
    PushResult,
    PushSender,
    PushTarget,
    VapidSigner,
    generate_vapid_keypair,
)
from tests.bench.push_receiver import running, shared_subscription_keys

PAYLOAD = os.urandom(1024)
THREADS = 16
IN_FLIGHT = 16
PER_ORIGIN = 8
# The channel's defaults (SAFE_PUSH_IN_FLIGHT, SAFE_PUSH_ORIGIN_CONCURRENCY): `--ceiling`
# and B2's bound send as the fan-out does.
CHANNEL_WINDOW = 256
CHANNEL_PER_ORIGIN = 64


def send_in_threads(sender: PushSender, targets: list[PushTarget]) -> int:
    """Today's fan-out: a window of IN_FLIGHT sends on a pool, PER_ORIGIN per origin."""
    done: queue.SimpleQueue[PushResult] = queue.SimpleQueue()
    slot = threading.BoundedSemaphore(PER_ORIGIN)  # one origin

    def push(target: PushTarget) -> None:
        with slot:
            done.put(sender.send(target, PAYLOAD, ttl=60))

    sent = started = finished = 0
    with ThreadPoolExecutor(THREADS) as pool:
        while finished < len(targets):
            while started < len(targets) and started - finished < IN_FLIGHT:
                pool.submit(push, targets[started])
                started += 1
            sent += done.get().outcome == "sent"
            finished += 1
    return sent


def send_in_stream(
    sender: PushSender,
    targets: list[PushTarget],
    payload: bytes = PAYLOAD,
    *,
    window: int = IN_FLIGHT,
    per_origin: int = PER_ORIGIN,
) -> int:
    """One thread, as the channel: start a batch whenever half the WINDOW is free, collect."""
    sent = started = 0
    with sender.stream(per_origin=per_origin) as stream:
        while started < len(targets) or stream.pending():
            free = window - stream.pending()
            if started < len(targets) and free >= window // 2:
                batch = targets[started : started + free]
                pushes = [Push(started + n, target, payload) for n, target in enumerate(batch)]
                stream.start_many(pushes, ttl=60)
                started += len(batch)
            sent += sum(r.outcome == "sent" for _, r in stream.results())
    return sent


def measure(
    run: Callable[[PushSender, list[PushTarget]], int],
    sender: PushSender,
    targets: list[PushTarget],
) -> tuple[float, float]:
    """Return (CPU microseconds per message, messages per second); every one must be sent."""
    cpu, wall = time.process_time(), time.perf_counter()
    sent = run(sender, targets)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if sent != len(targets):
        raise SystemExit(f"only {sent} of {len(targets)} messages were sent")
    return cpu / len(targets) * 1e6, len(targets) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ceiling", action="store_true", help="(b) on every core vs B2's baseline")
    parser.add_argument(
        "--durable", action="store_true", help="(b) with one PostgreSQL write per send window"
    )
    parser.add_argument("--window", type=int, default=32, help="--durable: SAFE_PUSH_IN_FLIGHT")
    options = parser.parse_args()

    with running() as origin:
        p256dh, auth = shared_subscription_keys()
        targets = [PushTarget(f"{origin}/push/{n}", p256dh, auth) for n in range(options.messages)]
        private_key, _ = generate_vapid_keypair()
        signer = VapidSigner(private_key, "mailto:bench@example.org")
        if options.ceiling or options.durable:
            ceiling(targets, private_key, durable=options.durable, window=options.window)
            return
        modes = {"(a) send, 16 threads": send_in_threads, "(b) one PushStream": send_in_stream}
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in modes}
        with PushSender(signer=signer, pool_size=PER_ORIGIN) as sender:
            for run in modes.values():  # warm up: connections, VAPID header, code paths
                measure(run, sender, targets[:200])
            for round_ in range(options.rounds):
                for name, run in modes.items():
                    cpu, rate = measure(run, sender, targets)
                    figures[name].append((cpu, rate))
                    print(f"round {round_ + 1} {name:<22} {cpu:6.0f} µs CPU/msg {rate:7.0f} msg/s")
        with urllib.request.urlopen(f"{origin}/stats", timeout=5) as response:
            stats = json.load(response)

    print(f"{options.messages} messages of {len(PAYLOAD)} B per run, medians of {options.rounds}:")
    for name, runs in figures.items():
        cpu = statistics.median(c for c, _ in runs)
        rate = statistics.median(r for _, r in runs)
        print(f"  {name:<22} {cpu:6.0f} µs CPU/msg {rate:7.0f} msg/s")
    print(f"receiver: {stats['accepted']} accepted, {stats['checked']} checked (VAPID, decrypted),")
    print(f"          {stats['rejected']} rejected {stats['reasons']}")


def _stream_share(args: tuple[list[PushTarget], str, bytes]) -> int:
    targets, private_key, payload = args
    signer = VapidSigner(private_key, "mailto:bench@example.org")
    with PushSender(signer=signer, pool_size=CHANNEL_PER_ORIGIN) as sender:
        return send_in_stream(
            sender, targets, payload, window=CHANNEL_WINDOW, per_origin=CHANNEL_PER_ORIGIN
        )


def streams_alone(targets: list[PushTarget], payload: bytes) -> float:
    """Messages per second through one PushStream per core and nothing else: encryption,
    VAPID and HTTP, no outbox (what B2 would reach if the outbox cost nothing)."""
    cores = os.cpu_count() or 1
    private_key, _ = generate_vapid_keypair()
    return _rate(_stream_share, [(targets[n::cores], private_key, payload) for n in range(cores)])


def _rate(work: Callable[..., int], shares: list[tuple[Any, ...]]) -> float:
    """Messages per second of WORK on every share at once, a process each; every message
    of the shares (their first item) must be sent."""
    with multiprocessing.Pool(len(shares)) as pool:
        started = time.perf_counter()
        sent = sum(pool.map(work, shares))
        elapsed = time.perf_counter() - started
    expected = sum(len(share[0]) for share in shares)
    if sent != expected:
        raise SystemExit(f"only {sent} of {expected} messages were sent")
    return sent / elapsed


DURABLE_WORKERS = 4  # B2's Celery worker: -c 4
RECORD_SQL = "UPDATE bench_sent SET sent_at = now() WHERE id = ANY(%s) AND sent_at IS NULL"


def _durable_share(args: tuple[list[PushTarget], list[int], str, int]) -> int:
    """Send TARGETS a WINDOW at a time; record each window's ids in one committed UPDATE."""
    import psycopg

    targets, ids, private_key, window_size = args
    signer = VapidSigner(private_key, "mailto:bench@example.org")
    sent = 0
    with (
        psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as db,
        PushSender(signer=signer, pool_size=PER_ORIGIN) as sender,
        sender.stream(per_origin=PER_ORIGIN) as stream,
    ):
        for start in range(0, len(targets), window_size):
            window = range(start, min(start + window_size, len(targets)))
            stream.start_many([Push(ids[n], targets[n], PAYLOAD) for n in window], ttl=60)
            done = []
            while stream.pending():
                done += [key for key, r in stream.results() if r.outcome == "sent"]
            db.execute(RECORD_SQL, [done])
            sent += len(done)
    return sent


def ceiling(
    targets: list[PushTarget], private_key: str, *, durable: bool = False, window: int = 32
) -> None:
    """Print (b) on every core (or recording to PostgreSQL), and the encryption alone on every
    core, in one run."""
    from tests.bench.bench_webpush_crypto import bench_encrypt

    cores = os.cpu_count() or 1
    if durable:
        import psycopg

        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as db:
            db.execute("DROP TABLE IF EXISTS bench_sent")
            db.execute("CREATE TABLE bench_sent (id bigint PRIMARY KEY, sent_at timestamptz)")
            db.execute("INSERT INTO bench_sent SELECT generate_series(1, %s)", [len(targets)])
        ids = list(range(1, len(targets) + 1))
        shares = [
            (targets[n::DURABLE_WORKERS], ids[n::DURABLE_WORKERS], private_key, window)
            for n in range(DURABLE_WORKERS)
        ]
        rate = _rate(_durable_share, shares)
        how = f"{DURABLE_WORKERS} processes, one committed UPDATE per window of {window}"
    else:
        rate = streams_alone(targets, PAYLOAD)
        how = f"one PushStream per core ({cores})"
    bare = bench_encrypt(5, cores, targets[0])
    print(f"{len(targets)} messages, {how}, receiver on the same cores:")
    print(f"  streams            {rate:7.0f} msg/s")
    print(f"  encryption alone   {bare:7.0f} msg/s")
    print(f"  ratio              {rate / bare:7.2f}  (B2's goal: 0.5)")


if __name__ == "__main__":
    main()
