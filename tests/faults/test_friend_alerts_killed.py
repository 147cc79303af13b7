"""Friend alerts while workers are SIGKILLed: every friend told, each shown the news once.

One person answers; 12,000 friends opted in, 3,000 of them with a push device first. Beat's
sweep is queued every few seconds, as beat would; it claims the alerts and queues
`send_friend_alerts` tasks on the delivery queue, and one of the two workers is killed
(process group, SIGKILL) every few seconds and started again. A killed task's alerts stay
claimed until the lease, then the next sweep claims them again; a redelivered copy of a task
finds nothing left to take.

Asserted exactly: every alert ends 'sent', each friend on their first channel only, each
phone shown one notification (one Topic: a copy replaces the first) and each inbox one
message (one Message-ID). Raw copies on the wire are bounded by the send window per kill.
"""

import json
import time
from collections import Counter

import pytest
from django.test import override_settings

from backend.notifications.channels import CHANNELS
from tests.support.push_service import PushService

from .killing import beat, copies, devices, distinct, emails_written, kill_in_turn, worker_env
from .servers import CeleryWorker, manage

pytestmark = pytest.mark.faults

FRIENDS = 12_000
PUSH_FRIENDS = 3_000
KILLS = 4
KILL_INTERVAL = (1.5, 3.0)
CLAIM_LEASE = 10
SWEEP_EVERY = 3.0
PUSH_IN_FLIGHT = 16
DEADLINE = 180.0
SWEEP = "backend.notifications.tasks.sweep_friend_alerts"

SEED = """
import json, os
from django.core.management import call_command
from backend.accounts.models import User
from backend.checkins.models import CheckIn
from backend.incidents.models import Incident
from backend.notifications.models import PushSubscription
from backend.social.models import Friendship
call_command(
    "seed_population", people=FRIENDS + 1, friends=0, prefix="alerts", stdout=open(os.devnull, "w")
)
people = list(User.objects.filter(email__startswith="alerts-").order_by("id"))
alice, friends = people[0], people[1:]
Friendship.objects.bulk_create(
    [Friendship(person=alice, friend=f) for f in friends]
    + [Friendship(person=f, friend=alice) for f in friends]
)
subs = json.loads(open(SUBS).read())
PushSubscription.objects.bulk_create([
    PushSubscription(
        person=f, endpoint=s["endpoint"], p256dh=s["keys"]["p256dh"], auth=s["keys"]["auth"]
    )
    for f, s in zip(friends, subs)
])
User.objects.filter(id__in=[f.id for f in friends[: len(subs)]]).update(
    channel_order=["webpush", "email"]
)
incident = Incident.objects.create(
    title="Fault", status=Incident.Status.ACTIVE, created_by=alice
)
checkin = CheckIn.objects.create(incident=incident, person=alice)
print("SEED" + json.dumps({"checkin": checkin.id}))
"""

RECOVERED_SQL = f"""
SELECT count(*) FROM notifications_friendalert
WHERE sent_at > (SELECT min(sent_at) FROM notifications_friendalert) + interval '{CLAIM_LEASE} s'
"""  # noqa: S608 - a constant

ANSWER = """
from backend.checkins.services import checkin_respond
from backend.notifications.models import FriendAlert
checkin_respond(checkin_id=CHECKIN, status="safe", via="app")
print("ALERTS", FriendAlert.objects.filter(status="pending").count())
"""


def test_friend_alerts_survive_killed_workers(worker_stack):
    stack = worker_stack
    queue = f"faults-alerts-{time.monotonic_ns()}"
    mail_dir = stack.base / "mail"
    env = worker_env(
        stack.env,
        queue=queue,
        mail_dir=mail_dir,
        claim_lease=CLAIM_LEASE,
        push_in_flight=PUSH_IN_FLIGHT,
    )
    with PushService() as push:
        subs_path = stack.base / "subs.json"
        subs = devices(push, PUSH_FRIENDS, subs_path)
        script = SEED.replace("FRIENDS", str(FRIENDS)).replace("SUBS", repr(str(subs_path)))
        checkin = json.loads(manage(env, "shell", stdin=script).split("SEED", 1)[1])["checkin"]
        answered = manage(env, "shell", stdin=ANSWER.replace("CHECKIN", str(checkin)))
        assert f"ALERTS {FRIENDS}" in answered

        workers = [CeleryWorker(env, queue=queue, name=f"{queue}-{n}") for n in range(2)]
        start = time.monotonic()
        try:
            with beat(stack.redis.url, SWEEP, queue=f"{queue}.sweeps", every=SWEEP_EVERY):
                kills = kill_in_turn(workers, kills=KILLS, interval=KILL_INTERVAL, seed=11)
                killing_done = time.monotonic() - start
                _wait_until_all_sent(stack, push, deadline=start + DEADLINE)
                converged = time.monotonic() - start
                time.sleep(2 * SWEEP_EVERY)  # a late duplicate would show up now
        finally:
            for worker in workers:
                worker.destroy()
        received = push.received()

    push_counts = Counter(r.subscription_id for r in received)
    topics = distinct((r.subscription_id, r.headers["topic"]) for r in received)
    written = emails_written(mail_dir)
    emails = Counter(to for to, _ in written)
    message_ids = distinct(written)
    alerts = stack.postgres.query(
        "SELECT status, channel, count(*) FROM notifications_friendalert "
        "GROUP BY status, channel ORDER BY channel"
    )
    # Taken by a task only after the lease: alerts a killed sweep or task had left claimed.
    recovered = stack.postgres.query(RECOVERED_SQL)[0][0]
    with override_settings(SAFE_PUSH_IN_FLIGHT=PUSH_IN_FLIGHT):
        window = max(CHANNELS["webpush"].window(), CHANNELS["email"].window())
    print(
        f"\n{FRIENDS} friend alerts, {kills} kills (killing ended at {killing_done:.0f}s); all "
        f"sent at {converged:.0f}s; alerts {alerts}, {recovered} of them taken again after "
        f"the lease; raw copies on the wire: push "
        f"{copies(push_counts)}, email {copies(emails)} (bound {window} per kill, "
        f"{window * kills} in all); friends shown the news twice: 0 expected, "
        f"push {sum(len(t) > 1 for t in topics.values())}, "
        f"email {sum(len(m) > 1 for m in message_ids.values())}"
    )
    assert alerts == [
        ("sent", "email", FRIENDS - PUSH_FRIENDS),
        ("sent", "webpush", PUSH_FRIENDS),
    ]
    # Every phone got the alert, and a copy carries the first one's Topic.
    assert set(push_counts) == {PushService.id_of(s) for s in subs}
    assert all(len(t) == 1 for t in topics.values())
    # Every other friend got one email (a copy has the same Message-ID); none of the push
    # friends was emailed: the first channel only.
    assert len(emails) == FRIENDS - PUSH_FRIENDS
    assert all(len(m) == 1 and "" not in m for m in message_ids.values())
    assert copies(push_counts) + copies(emails) <= window * kills


def _wait_until_all_sent(stack, push: PushService, *, deadline: float) -> None:
    sent = 0
    while time.monotonic() < deadline:
        sent = stack.postgres.query(
            "SELECT count(*) FROM notifications_friendalert WHERE status = 'sent'"
        )[0][0]
        if sent >= FRIENDS and push.count() >= PUSH_FRIENDS:
            return
        time.sleep(1.0)
    raise AssertionError(f"only {sent} of {FRIENDS} friend alerts sent after the deadline")
