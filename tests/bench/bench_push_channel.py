"""Measure Web Push through the real channel beside encryption alone, in one run.

    DEBUG=1 .venv/bin/python tests/bench/bench_push_channel.py --people 2000
    DEBUG=1 .venv/bin/python tests/bench/bench_push_channel.py --people 2000 --profile out.prof
    DEBUG=1 .venv/bin/python tests/bench/bench_push_channel.py --people 8000 --postgres

(a) encrypts a 1 KB payload in a tight loop on one core (tests/bench/bench_webpush_crypto.py);
(b) sends one "are you safe?" to each of N people through `deliveries_send_batch` (outbox
    claim, payload, WebPushChannel, PushSender, outbox record) to a receiver in its own
    process, so its work does not share our GIL. `--receiver fast` (the default, as
    `make bench` B2 uses) is tests/bench/push_receiver.py, which counts every message and
    verifies VAPID + decrypts one in 50; `--receiver full` is tests/support/push_service.py,
    which decrypts every message (on two cores it then competes with the sender for CPU).
Uses a throw-away SQLite database in a temporary directory, or with `--postgres` a fresh
database `bench_push_channel` on the PostgreSQL of DATABASE_URL's server (127.0.0.1 by
default), whose server process's CPU is then counted too. `--profile FILE` writes a
cProfile of (b) (read it with `python -m pstats FILE`). (b) is also given per CPU-second of
the sending process, which other load on a shared machine does not change.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import multiprocessing
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.procfs import cpu_seconds  # noqa: E402 - needs the path above


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0, help="for the encryption loop")
    parser.add_argument("--receiver", choices=("fast", "full"), default="fast")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of (b) to FILE")
    parser.add_argument(
        "--latency-ms", type=float, default=0, help="the fast receiver answers this much later"
    )
    parser.add_argument("--slow", default="", metavar="N:MS", help="one answer in N, MS later")
    parser.add_argument("--postgres", action="store_true", help="on PostgreSQL, not SQLite")
    options = parser.parse_args()

    if options.postgres:
        os.environ["DATABASE_URL"] = fresh_postgres_database("bench_push_channel")
    else:
        workdir = tempfile.mkdtemp(prefix="bench-push-")
        os.environ["SQLITE_PATH"] = str(Path(workdir) / "bench.sqlite3")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.urls import reverse

    from backend.accounts.models import User
    from backend.checkins.models import CheckIn
    from backend.incidents.models import Incident
    from backend.notifications.models import PushSubscription
    from backend.notifications.services import deliveries_send_batch
    from backend.notifications.webpush import generate_vapid_keypair
    from tests.bench.bench_webpush_crypto import (
        _serve,
        _target,
        bench_encrypt,
        payload_like_ask,
    )
    from tests.bench.push_receiver import running, shared_subscription_keys

    settings.VAPID_PRIVATE_KEY, _ = generate_vapid_keypair()
    settings.VAPID_SUBJECT = "mailto:bench@example.org"
    call_command("migrate", verbosity=0)

    receiver = contextlib.ExitStack()
    if options.receiver == "fast":
        origin = receiver.enter_context(running(latency_ms=options.latency_ms, slow=options.slow))
        p256dh, auth = shared_subscription_keys()
        subscriptions = [
            {"endpoint": f"{origin}/push/{n}", "keys": {"p256dh": p256dh, "auth": auth}}
            for n in range(options.people)
        ]
    else:
        parent, child = multiprocessing.Pipe()
        server = multiprocessing.Process(target=_serve, args=(child, options.people), daemon=True)
        server.start()
        subscriptions = parent.recv()
    people = User.objects.bulk_create(
        User(email=f"b{n}@example.test", name=f"Person {n}") for n in range(options.people)
    )
    operator = User.objects.create(email="op@example.test", name="Operator")
    incident = Incident.objects.create(
        title="Paris attacks", status=Incident.Status.ACTIVE, created_by=operator
    )
    CheckIn.objects.bulk_create(CheckIn(incident=incident, person=p) for p in people)
    PushSubscription.objects.bulk_create(
        PushSubscription(
            person=p, endpoint=s["endpoint"], p256dh=s["keys"]["p256dh"], auth=s["keys"]["auth"]
        )
        for p, s in zip(people, subscriptions, strict=True)
    )
    checkin_ids = list(CheckIn.objects.values_list("id", flat=True))

    payload = payload_like_ask(checkin_ids[0])
    encrypt_rate = bench_encrypt(options.seconds, 1, _target(subscriptions[0]), payload)
    # Import the URLconf now, as a worker has long done by its 200,000th push.
    reverse("one-tap", args=["0.x"])
    profile = cProfile.Profile() if options.profile else None
    server_cpu = server_cpu_seconds() if options.postgres else lambda: 0.0
    server_started = server_cpu()
    started, cpu_started = time.perf_counter(), time.process_time()
    if profile is not None:
        profile.enable()
    outcomes = deliveries_send_batch(checkin_ids=checkin_ids)
    if profile is not None:
        profile.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    server = server_cpu() - server_started
    if options.receiver == "fast":
        with urllib.request.urlopen(f"{origin}/stats", timeout=5) as answer:
            stats = json.load(answer)
        receiver.close()
        accepted, rejected = stats["accepted"], stats["rejected"]
        checked = f", verified + decrypted {stats['checked']}"
    else:
        parent.send("stop")
        accepted, rejected = parent.recv()
        server.join(timeout=10)
        checked = ""
    if profile is not None:
        profile.dump_stats(options.profile)

    in_flight = settings.SAFE_PUSH_IN_FLIGHT
    print(
        f"{options.people} people, one device each; payload ~1 KB; {in_flight} pushes in flight, "
        f"{settings.SAFE_PUSH_ORIGIN_CONCURRENCY} connections per origin; receiver "
        f"{options.receiver}"
        + (f", answering {options.latency_ms:g} ms later" if options.latency_ms else "")
    )
    print(f"{'measurement':<60}{'msg/s':>10}")
    label = f"(a) encrypt only ({len(payload)} B, as the ask's payload), 1 process"
    print(f"{label:<60}{encrypt_rate:>10.0f}")
    label = "(b) accepted by the receiver via deliveries_send_batch"
    print(f"{label:<60}{accepted / elapsed:>10.0f}")
    # On a shared machine the wall-clock rate depends on what else runs; CPU time does not.
    label = "(b) per CPU-second of the sending process (all its threads)"
    print(f"{label:<60}{accepted / cpu:>10.0f}")
    if options.postgres:
        label = "(b) per CPU-second of the sending process and its PostgreSQL server process"
        print(f"{label:<60}{accepted / (cpu + server):>10.0f}")
        print(f"    PostgreSQL: {server * 1e6 / max(accepted, 1):.0f} µs per message")
    print(
        f"outcomes {outcomes}, accepted {accepted}, rejected {rejected}{checked}, {elapsed:.2f} s"
    )


def fresh_postgres_database(name: str) -> str:
    """Drop and create database NAME on DATABASE_URL's server; return its URL."""
    import psycopg

    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    base = server.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}"


def server_cpu_seconds() -> Callable[[], float]:
    """A reader of the CPU seconds used so far by this connection's PostgreSQL process
    (on this machine)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return partial(cpu_seconds, pid)


if __name__ == "__main__":
    main()
