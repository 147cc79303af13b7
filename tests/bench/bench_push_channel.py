"""Measure Web Push through the real channel beside encryption alone, in one run.

    DEBUG=1 .venv/bin/python tests/bench/bench_push_channel.py --people 2000

(a) encrypts a 1 KB payload in a tight loop on one core (tests/bench/bench_webpush_crypto.py);
(b) sends one "are you safe?" to each of N people through `deliveries_send_batch` (outbox
    claim, payload, WebPushChannel, PushSender, outbox record) to the local PushService,
    which runs in its own process so its decryption does not share our GIL.
Uses a throw-away SQLite database in a temporary directory.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0, help="for the encryption loop")
    options = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="bench-push-")
    os.environ["SQLITE_PATH"] = str(Path(workdir) / "bench.sqlite3")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from backend.accounts.models import User
    from backend.checkins.models import CheckIn
    from backend.incidents.models import Incident
    from backend.notifications.models import PushSubscription
    from backend.notifications.services import deliveries_send_batch
    from backend.notifications.webpush import generate_vapid_keypair
    from tests.bench.bench_webpush_crypto import _serve, _target, bench_encrypt

    settings.VAPID_PRIVATE_KEY, _ = generate_vapid_keypair()
    settings.VAPID_SUBJECT = "mailto:bench@example.org"
    call_command("migrate", verbosity=0)

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

    encrypt_rate = bench_encrypt(options.seconds, 1, _target(subscriptions[0]))
    started = time.perf_counter()
    outcomes = deliveries_send_batch(checkin_ids=checkin_ids)
    elapsed = time.perf_counter() - started
    parent.send("stop")
    accepted, rejected = parent.recv()
    server.join(timeout=10)

    threads = settings.SAFE_PUSH_THREADS
    print(f"{options.people} people, one device each; payload ~1 KB; {threads} push threads")
    print(f"{'measurement':<60}{'msg/s':>10}")
    print(f"{'(a) encrypt only, 1 process':<60}{encrypt_rate:>10.0f}")
    label = "(b) accepted by PushService via deliveries_send_batch"
    print(f"{label:<60}{accepted / elapsed:>10.0f}")
    print(f"outcomes {outcomes}, accepted {accepted}, rejected {rejected}, {elapsed:.2f} s")


if __name__ == "__main__":
    main()
