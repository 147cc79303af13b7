"""A 20,000-person activation while workers are SIGKILLed and Redis restarts: nobody twice.

Two real workers (prefork, one child each) on our own Redis and PostgreSQL; one of them is
killed (process group, SIGKILL) every few seconds and started again, and Redis is restarted
once mid-run. Unacknowledged tasks of dead workers come back after the broker's visibility
timeout; rows a dead worker had claimed go back to pending after the claim lease, and the
unreached check-ins of its Web Push fan-out claims become pending rows, through `retry_due`,
which the test queues every few seconds as beat would.

What a person experiences is asserted exactly: one check-in, one record of the ask per
channel (an outbox row, or a fan-out claim's count), one notification on the phone (one
distinct `tag`: the service worker shows one per tag, a copy replaces the first), one email
(one distinct Message-ID). Raw copies on the wire cannot be zero: a worker killed after the
provider accepted a message and before the outbox recorded it leaves it unrecorded (a row
'sending', a claim open), and it is sent again after the lease. The outbox records each
result as soon as it is known, and a channel starts a message only while fewer than
`window()` of its messages are unrecorded (`SendWindow`), so each kill repeats at most that
many messages: in total at most KILLS x the largest window.
"""

import json
import time
from collections import Counter

import pytest
from django.conf import settings
from django.test import override_settings

from backend.notifications.channels import CHANNELS
from backend.notifications.services import SEND_CHUNK
from tests.support.push_service import PushService

from .killing import beat, copies, devices, distinct, emails_written, kill_in_turn, worker_env
from .servers import CeleryWorker, manage

pytestmark = pytest.mark.faults

PEOPLE = 20_000
PUSH_PEOPLE = 2_000
KILLS = 8
KILL_INTERVAL = (3.0, 5.0)
REDIS_RESTART_AFTER_KILL = 3
# Longer than one claimed chunk takes to send (SEND_CHUNK rows: well under a second).
CLAIM_LEASE = 10
RETRY_DUE_EVERY = 3.0
# Pushes in flight per worker, which is also the Web Push channel's send window.
PUSH_IN_FLIGHT = 16
DEADLINE = 240.0
RETRY_DUE = "backend.notifications.tasks.retry_due"
# Well outside the seeded box (seed_population's default: Paris and its inner suburbs).
AREA = {
    "type": "Polygon",
    "coordinates": [[[2.17, 48.77], [2.53, 48.77], [2.53, 48.95], [2.17, 48.95], [2.17, 48.77]]],
}

SEED = """
import json, os
from django.core.management import call_command
from backend.accounts.models import User
from backend.incidents.services import incident_create
from backend.notifications.models import PushSubscription
from tests.factories import make_operator
call_command(
    "seed_population", people=PEOPLE, friends=0, prefix="fault", stdout=open(os.devnull, "w")
)
subs = json.loads(open(SUBS).read())
people = User.objects.filter(email__startswith="fault-").order_by("id")
# Spread over every batch, so kills also land among pushes (claimed by their insert).
ids = list(people.values_list("id", flat=True))[:: PEOPLE // len(subs)][: len(subs)]
PushSubscription.objects.bulk_create([
    PushSubscription(
        person_id=pid, endpoint=s["endpoint"], p256dh=s["keys"]["p256dh"], auth=s["keys"]["auth"]
    )
    for pid, s in zip(ids, subs)
])
User.objects.filter(id__in=ids).update(channel_order=["webpush", "email"])
olivia = make_operator("olivia@example.org", "Olivia")
incident = incident_create(creator=olivia, title="Fault", regions=[{"geometry": AREA}])
print("SEED" + json.dumps({"incident": incident.id}))
"""

ACTIVATE = """
from backend.accounts.models import User
from backend.incidents.services import incident_activate
incident_activate(actor=User.objects.get(email="olivia@example.org"), incident_id=INCIDENT)
"""


def test_fan_out_survives_killed_workers_and_a_redis_restart(worker_stack):
    stack = worker_stack
    queue = f"faults-{time.monotonic_ns()}"
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
        subs = devices(push, PUSH_PEOPLE, subs_path)
        script = (
            SEED.replace("PEOPLE", str(PEOPLE))
            .replace("SUBS", repr(str(subs_path)))
            .replace("AREA", repr(AREA))
        )
        incident = json.loads(manage(env, "shell", stdin=script).split("SEED", 1)[1])["incident"]

        workers = [CeleryWorker(env, queue=queue, name=f"{queue}-{n}") for n in range(2)]

        def restart_redis_once(kill: int) -> None:
            if kill == REDIS_RESTART_AFTER_KILL:
                stack.redis.restart()

        start = time.monotonic()
        manage(env, "shell", stdin=ACTIVATE.replace("INCIDENT", str(incident)))
        try:
            # `retry_due` releases the claims of dead workers after the lease.
            with beat(stack.redis.url, RETRY_DUE, queue=queue, every=RETRY_DUE_EVERY):
                kills = kill_in_turn(
                    workers,
                    kills=KILLS,
                    interval=KILL_INTERVAL,
                    seed=7,
                    after_kill=restart_redis_once,
                )
                killing_done = time.monotonic() - start
                sent = _wait_until_all_sent(stack, push, deadline=start + DEADLINE)
                converged = time.monotonic() - start
                time.sleep(2 * RETRY_DUE_EVERY)  # a late duplicate would show up now
        finally:
            for worker in workers:
                worker.destroy()
        received = push.received()

    push_counts = Counter(r.subscription_id for r in received)
    tags = distinct((r.subscription_id, json.loads(r.payload)["tag"]) for r in received)
    written = emails_written(mail_dir)
    emails = Counter(to for to, _ in written)
    message_ids = distinct(written)
    checkins = stack.postgres.query(
        "SELECT count(*), count(DISTINCT person_id) FROM checkins_checkin"
    )[0]
    deliveries = stack.postgres.query(
        "SELECT channel, status, count(*), count(DISTINCT checkin_id) FROM notifications_delivery "
        "GROUP BY channel, status ORDER BY channel, status"
    )
    # Web Push first asks sent by the worker holding their fan-out claim have no row.
    claimed = stack.postgres.query(
        "SELECT status, count(*), sum(size), sum(sent), sum(not_sent) "
        "FROM notifications_fanoutclaim GROUP BY status ORDER BY status"
    )
    claimed_sent = sum(row[3] for row in claimed)
    reached = stack.postgres.query(
        "SELECT count(*) FROM checkins_checkin WHERE delivered_at IS NOT NULL"
    )[0][0]
    reclaimed_by_channel = dict(
        stack.postgres.query(
            "SELECT channel, count(*) FROM notifications_delivery WHERE attempts > 1 "
            "GROUP BY channel"
        )
    )
    reclaimed = sum(reclaimed_by_channel.values())
    push_ids = {PushService.id_of(s) for s in subs}
    with override_settings(SAFE_PUSH_IN_FLIGHT=PUSH_IN_FLIGHT):
        window = max(CHANNELS["webpush"].window(), CHANNELS["email"].window())
    print(
        f"\n{PEOPLE} people, {kills} kills (killing ended at {killing_done:.0f}s), Redis "
        f"restarted once; all sent at {converged:.0f}s ({sent} recorded); deliveries "
        f"{deliveries}; fan-out claims (status, claims, size, sent, not sent) {claimed}; "
        f"rows claimed more than once {reclaimed} {reclaimed_by_channel}; raw copies on the "
        f"wire: push {copies(push_counts)}, email {copies(emails)} (bound {window} per kill, "
        f"{window * kills} in all); people shown a second notification or email: 0 expected, "
        f"push {sum(len(t) > 1 for t in tags.values())}, "
        f"email {sum(len(m) > 1 for m in message_ids.values())}"
    )
    assert checkins == (PEOPLE, PEOPLE)
    # Everyone reached, each message recorded as sent once: as a row, or by a claim.
    assert reached == PEOPLE
    pushed = [row for row in deliveries if row[0] == "webpush"]
    assert deliveries == [("email", "sent", PEOPLE - PUSH_PEOPLE, PEOPLE - PUSH_PEOPLE), *pushed]
    assert [status for _, status, *_ in pushed] in ([], ["sent"])
    assert claimed_sent + sum(row[2] for row in pushed) == PUSH_PEOPLE
    assert all(status != "open" for status, *_ in claimed)
    # Every phone got the ask, decrypted, and shows one notification: every copy carries
    # the tag of the first (and its Topic), so it replaces it.
    assert set(push_counts) == push_ids
    assert all(len(t) == 1 for t in tags.values())
    # Every inbox has the ask once: a copy has the same Message-ID, so mail systems that
    # deduplicate show one.
    assert len(emails) == PEOPLE - PUSH_PEOPLE
    assert all(len(m) == 1 and "" not in m for m in message_ids.values())
    # Raw copies: only messages in a killed worker's send window; rows it had claimed but
    # not started are sent for the first time after the lease, not again.
    assert copies(push_counts) + copies(emails) <= min(reclaimed, window * kills)
    # Claimed and not recorded at a kill: the window and at most two chunks not yet started
    # (the next chunk is claimed while the last one's slowest answers are still out), or the
    # rest of a batch whose Web Push rows its insert claimed.
    assert reclaimed <= max(window + 2 * SEND_CHUNK, settings.SAFE_FANOUT_BATCH) * kills


def _wait_until_all_sent(stack, push: PushService, *, deadline: float) -> int:
    """Wait until every check-in's ask is recorded as sent (a row, or counted by a fan-out
    claim); return how many are."""
    sent = 0
    while time.monotonic() < deadline:
        sent = stack.postgres.query(
            "SELECT (SELECT count(*) FROM notifications_delivery WHERE status = 'sent')"
            " + (SELECT coalesce(sum(sent), 0) FROM notifications_fanoutclaim)"
        )[0][0]
        if sent >= PEOPLE and push.count() >= PUSH_PEOPLE:
            return sent
        time.sleep(1.0)
    raise AssertionError(f"only {sent} of {PEOPLE} deliveries sent after the deadline")
