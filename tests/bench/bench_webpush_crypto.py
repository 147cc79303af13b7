"""Measure Web Push throughput: aes128gcm encryption alone vs. messages a push service accepts.

    .venv/bin/python tests/bench/bench_webpush_crypto.py --seconds 5

(a) encrypts a 1 KB payload in a tight loop, one process per core;
(b) sends through PushSender (a few threads, pooled keep-alive connections) to the local
    PushService, which runs in its own process so its decryption does not share our GIL.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from backend.notifications.webpush.transport import (
    PushSender,
    PushTarget,
    encrypt,
    validate_subscription,
)
from backend.notifications.webpush.vapid import VapidSigner, generate_vapid_keypair
from tests.support.push_service import PushService

PAYLOAD = os.urandom(1024)


def _target(subscription: dict[str, Any]) -> PushTarget:
    keys = subscription["keys"]
    return validate_subscription(
        subscription["endpoint"], keys["p256dh"], keys["auth"], allow_http_loopback=True
    )


def payload_like_ask(checkin_id: int) -> bytes:
    """Random bytes as long as the push payload of CHECKIN_ID's ask (Django set up): the
    baseline encrypts as much as the fan-out does, not PAYLOAD's 1 KiB."""
    from backend.checkins.models import CheckIn
    from backend.notifications.channels.webpush import push_payload
    from backend.notifications.models import Purpose
    from backend.notifications.services import message_for

    checkin = CheckIn.objects.select_related("incident", "person").get(id=checkin_id)
    return os.urandom(len(push_payload(message_for(checkin, purpose=Purpose.ASK))))


def _encrypt_loop(args: tuple[float, PushTarget, bytes]) -> int:
    seconds, target, payload = args
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        encrypt(payload, target)
        count += 1
    return count


def bench_encrypt(
    seconds: float, processes: int, target: PushTarget, payload: bytes = PAYLOAD
) -> float:
    """Return encryptions of PAYLOAD per second over all processes."""
    with multiprocessing.Pool(processes) as pool:
        counts = pool.map(_encrypt_loop, [(seconds, target, payload)] * processes)
    return sum(counts) / seconds


def bench_sign(seconds: float) -> float:
    """Return uncached VAPID signatures per second on one core (what the cache saves)."""
    private_key, _ = generate_vapid_keypair()
    signer = VapidSigner(private_key, "mailto:bench@example.org")
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        signer._sign("https://push.example.org", 2_000_000_000)
        count += 1
    return count / seconds


def _serve(conn: Connection, subscriptions: int) -> None:
    with PushService() as service:
        conn.send([service.subscribe() for _ in range(subscriptions)])
        conn.recv()
        conn.send((service.count(), len(service.rejections)))


def bench_send(seconds: float, threads: int) -> tuple[float, float, int, int]:
    """Return (sent/s by the sender, accepted/s by the service, failures, rejections)."""
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(child, threads * 4), daemon=True)
    server.start()
    targets = [_target(s) for s in parent.recv()]
    private_key, _ = generate_vapid_keypair()
    sender = PushSender(
        signer=VapidSigner(private_key, "mailto:bench@example.org"), pool_size=threads
    )

    def worker(index: int) -> tuple[int, int]:
        sent = failed = 0
        own = targets[index::threads]
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            result = sender.send(own[(sent + failed) % len(own)], PAYLOAD, ttl=60, timeout=5)
            if result.outcome == "sent":
                sent += 1
            else:
                failed += 1
        return sent, failed

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(worker, range(threads)))
    elapsed = time.perf_counter() - started
    sender.close()
    parent.send("stop")
    accepted, rejected = parent.recv()
    server.join(timeout=10)
    sent = sum(s for s, _ in outcomes)
    failed = sum(f for _, f in outcomes)
    return sent / elapsed, accepted / elapsed, failed, rejected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=4)
    options = parser.parse_args()

    with PushService() as service:
        target = _target(service.subscribe())
    encrypt_rate = bench_encrypt(options.seconds, options.processes, target)
    sign_rate = bench_sign(min(options.seconds, 2.0))
    sent_rate, accepted_rate, failed, rejected = bench_send(options.seconds, options.threads)

    print(f"payload {len(PAYLOAD)} B, {options.seconds:g} s per measurement")
    print(f"{'measurement':<52}{'msg/s':>10}")
    print(f"{f'(a) encrypt only, {options.processes} processes':<52}{encrypt_rate:>10.0f}")
    print(f"{'    per process':<52}{encrypt_rate / options.processes:>10.0f}")
    label = f"(b) accepted by PushService, {options.threads} sender threads"
    print(f"{label:<52}{accepted_rate:>10.0f}")
    print(f"{'    sent (201) as seen by PushSender':<52}{sent_rate:>10.0f}")
    print(f"{'    VAPID signatures/s, one core (cache avoids)':<52}{sign_rate:>10.0f}")
    print(f"failed sends: {failed}, push service rejections: {rejected}")


if __name__ == "__main__":
    main()
