"""Measure friend alerts beside first asks: the same people, the same push devices, one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/safe_alerts DEBUG=0 SAFE_INSECURE_DEV_KEY=1 \
        .venv/bin/python tests/bench/bench_friend_alerts.py --people 2000

N people with one push device each (at tests/bench/push_receiver.py, in its own process)
(a) are each asked once by `deliveries_send_batch` (the fan-out's path: the baseline);
(b) each get one friend alert: `friend_alerts_sweep` claims them, and its `send_friend_alerts`
    tasks (run inline here, on the delivery workers in production) send them.
Uses the database it is given (migrated first; its tables must be empty: create a new one)
or, without DATABASE_URL, a throw-away SQLite file. CPU is this process's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    options = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        os.environ["SQLITE_PATH"] = str(Path(tempfile.mkdtemp(prefix="bench-alerts-")) / "db")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
    os.environ["SAFE_PUSH_ALLOW_HTTP_LOOPBACK"] = "1"
    import django

    django.setup()
    from django.conf import settings

    from backend.config.celery import app

    app.conf.task_always_eager = True  # the sweep's send tasks run here, measured with it
    from django.core.management import call_command

    from backend.accounts.models import User
    from backend.checkins.models import CheckIn, Response
    from backend.incidents.models import Incident
    from backend.notifications.models import FriendAlert, PushSubscription
    from backend.notifications.services import deliveries_send_batch, friend_alerts_sweep
    from backend.notifications.webpush import generate_vapid_keypair
    from tests.bench.push_receiver import running, shared_subscription_keys

    settings.VAPID_PRIVATE_KEY, _ = generate_vapid_keypair()
    settings.VAPID_SUBJECT = "mailto:bench@example.org"
    call_command("migrate", verbosity=0)
    with running() as origin:
        p256dh, auth = shared_subscription_keys()
        n = options.people
        operator = User.objects.create(email="op@bench.test", name="Operator")
        incident = Incident.objects.create(
            title="Paris attacks", status=Incident.Status.ACTIVE, created_by=operator
        )
        people = User.objects.bulk_create(
            User(email=f"p{i}@bench.test", name=f"P {i}", channel_order=["webpush"])
            for i in range(n)
        )
        friends = User.objects.bulk_create(
            User(email=f"f{i}@bench.test", name=f"F {i}") for i in range(n)
        )
        PushSubscription.objects.bulk_create(
            PushSubscription(person=p, endpoint=f"{origin}/push/{p.id}", p256dh=p256dh, auth=auth)
            for p in people
        )
        asks = CheckIn.objects.bulk_create(CheckIn(incident=incident, person=p) for p in people)
        answered = CheckIn.objects.bulk_create(
            CheckIn(incident=incident, person=f, status="safe") for f in friends
        )
        responses = Response.objects.bulk_create(
            Response(checkin=c, status="safe", via="web") for c in answered
        )
        FriendAlert.objects.bulk_create(
            FriendAlert(recipient=p, response=r) for p, r in zip(people, responses, strict=True)
        )

        def timed(run: Callable[[], dict[str, int]]) -> tuple[float, float, dict[str, int]]:
            wall, cpu = time.perf_counter(), time.process_time()
            outcomes = run()
            return time.perf_counter() - wall, time.process_time() - cpu, outcomes

        def sweep_all() -> dict[str, int]:
            total: dict[str, int] = {}
            while FriendAlert.objects.filter(status=FriendAlert.Status.PENDING).exists():
                for outcome, count in friend_alerts_sweep().items():
                    total[outcome] = total.get(outcome, 0) + count
            return total

        ask = timed(lambda: deliveries_send_batch(checkin_ids=[c.id for c in asks]))
        alert = timed(sweep_all)
    print(f"{n} people, one push device each ({settings.DATABASES['default']['ENGINE']})")
    print(f"{'':<34}{'msg/s':>8}{'ms CPU/msg':>12}  outcomes")
    for label, (wall, cpu, outcomes) in (
        ("(a) first asks (baseline)", ask),
        ("(b) friend alerts (sweeps)", alert),
    ):
        print(f"{label:<34}{n / wall:>8.0f}{cpu / n * 1e3:>12.2f}  {outcomes}")


if __name__ == "__main__":
    main()
