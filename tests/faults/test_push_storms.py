"""A push service storm: 500s, 429s with Retry-After and 410s during an activation.

300 people whose channel order is push then email, each with a subscription at a real local
push service (which decrypts what it accepts). Some subscriptions answer 500 a few times,
some 429 with `Retry-After`, some 410 for ever, some 500 until we give up. The test owns the
clock: `timezone.now` is a fake that only the test moves, one second per step, and every
step calls `deliveries_retry_due` as beat would. No sleeping, no worker: deterministic apart
from the backoff jitter, whose bounds are asserted.
"""

import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from backend.accounts.models import Place, User
from backend.geo.cells import cell_for_point
from backend.incidents.services import incident_activate, incident_create
from backend.notifications.models import Delivery, FanOutClaim, PushSubscription
from backend.notifications.services import MAX_ATTEMPTS, deliveries_retry_due
from tests.factories import PARIS, PARIS_POLYGON, make_operator
from tests.notifications.conftest import vapid  # noqa: F401 - the fixture, used by name
from tests.support.push_service import PushService

pytestmark = [pytest.mark.faults, pytest.mark.django_db, pytest.mark.usefixtures("vapid")]

PER_GROUP = 50
ORDER = ["webpush", "email"]
# Longer than the first backoffs (2.5-5 s, then 5-10 s), so a retry this late can only come
# from honouring the header; a 2 s header would hide behind the backoff.
RETRY_AFTER = 30
STEP = timedelta(seconds=1)
# Fake seconds; the slowest group (500 until the last attempt) needs at most 5+10+20+40.
HORIZON = 300
# `retry_delay`'s backoff: attempt n waits between half and all of BASE * 2**(n - 1).
BACKOFF_BASE = 5.0


@dataclass(frozen=True)
class Group:
    """How one group's subscriptions behave, and how its push delivery must end."""

    name: str
    faults: tuple[tuple[int, int, int | None], ...]  # (status, times, retry_after) per device
    gone: tuple[bool, ...]  # per device: answers 410 for ever
    status: str  # the webpush delivery's final status
    attempts: int
    emailed: bool  # falls back to email

    @property
    def has_row(self) -> bool:
        """Whether the push ask gets an outbox row: only if its first attempt is not sent
        (a sent first ask is recorded by the fan-out's claim)."""
        return (self.status, self.attempts) != ("sent", 1)


GROUPS = (
    Group("healthy", ((0, 0, None),), (False,), "sent", 1, False),
    Group("flaky", ((500, 3, None),), (False,), "sent", 4, False),
    Group("throttled", ((429, 2, RETRY_AFTER),), (False,), "sent", 3, False),
    Group("gone", ((0, 0, None),), (True,), "expired", 1, True),
    Group("broken", ((500, MAX_ATTEMPTS, None),), (False,), "failed", MAX_ATTEMPTS, True),
    # Two devices: a dead one next to a throttled live one is a retry, then a single push.
    Group("mixed", ((0, 0, None), (429, 1, RETRY_AFTER)), (True, False), "sent", 2, False),
)


class Clock:
    """A `timezone.now` that moves only when the test says so."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, by: timedelta) -> datetime:
        self.current += by
        return self.current


@pytest.fixture
def clock(monkeypatch) -> Clock:
    # An hour ahead of the real clock: rows stamped by model defaults (the real clock) are
    # then never in the fake clock's future, so they are due at once as they would be.
    clock = Clock(timezone.now().replace(microsecond=0) + timedelta(hours=1))
    monkeypatch.setattr(timezone, "now", clock.now)
    return clock


def _seed(service: PushService) -> tuple[dict[int, Group], dict[int, list[str]]]:
    """Create the people in Paris with their devices; return their groups and device ids."""
    people = User.objects.bulk_create(
        [
            User(email=f"{g.name}-{n}@example.org", name=f"{g.name} {n}", channel_order=ORDER)
            for g in GROUPS
            for n in range(PER_GROUP)
        ]
    )
    people = list(User.objects.filter(email__in=[p.email for p in people]).order_by("id"))
    cell = cell_for_point(lat=PARIS[0], lon=PARIS[1])
    Place.objects.bulk_create([Place(person=p, cell=cell) for p in people])
    group_of: dict[int, Group] = {}
    devices: dict[int, list[str]] = defaultdict(list)
    subscriptions = []
    for index, person in enumerate(people):
        group = GROUPS[index // PER_GROUP]
        group_of[person.id] = group
        for (status, times, retry_after), gone in zip(group.faults, group.gone, strict=True):
            sub = service.subscribe()
            sub_id = PushService.id_of(sub)
            devices[person.id].append(sub_id)
            if gone:
                service.gone(sub_id)
            if times:
                service.fail_next(sub_id, status, times=times, retry_after=retry_after)
            keys = sub["keys"]
            subscriptions.append(
                PushSubscription(
                    person=person,
                    endpoint=sub["endpoint"],
                    p256dh=keys["p256dh"],
                    auth=keys["auth"],
                )
            )
    PushSubscription.objects.bulk_create(subscriptions)
    return group_of, devices


def _push_rows() -> dict[int, dict[str, Any]]:
    fields = ("id", "checkin__person_id", "attempts", "claimed_at", "next_attempt_at", "status")
    return {r["id"]: r for r in Delivery.objects.filter(channel="webpush").values(*fields)}


def _record_attempts(
    log: dict[int, list[dict[str, Any]]], before: dict[int, dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    """Append each push row's new attempt to LOG; return the rows as they are now."""
    after = _push_rows()
    for row_id, row in after.items():
        tried = row["attempts"] - (before[row_id]["attempts"] if row_id in before else 0)
        # One call of the sweep tries a row at most once.
        assert tried in (0, 1), row
        if tried:
            log[row_id].append(row)
    return after


def test_push_storm_backs_off_drops_gone_devices_and_falls_back_to_email_once(
    clock, django_capture_on_commit_callbacks
):
    started = time.monotonic()
    olivia = make_operator("olivia@example.org", "Olivia")
    with PushService() as service:
        group_of, devices = _seed(service)
        incident = incident_create(
            creator=olivia, title="Storm", regions=[{"geometry": PARIS_POLYGON}]
        )
        log: dict[int, list[dict[str, Any]]] = defaultdict(list)
        activated_at = clock.now()
        # Fan-out runs inline (eager tasks); so do fallbacks, which are queued on commit.
        with django_capture_on_commit_callbacks(execute=True):
            incident_activate(actor=olivia, incident_id=incident.id)
        rows = _record_attempts(log, {})
        steps = 0
        while Delivery.objects.filter(status__in=["pending", "sending"]).exists():
            assert clock.now() - activated_at < timedelta(seconds=HORIZON), "did not settle"
            now = clock.advance(STEP)
            with django_capture_on_commit_callbacks(execute=True):
                deliveries_retry_due(now=now)
            rows = _record_attempts(log, rows)
            steps += 1
        settled_after = clock.now() - activated_at
        pushes = Counter(m.subscription_id for m in service.received())
        assert service.rejections == []

    # A person whose first push was sent has no row: the claim counted it. Everyone else has
    # one push row, ended as their group says, after the expected attempts.
    claims = FanOutClaim.objects.filter(incident=incident)
    assert sum(c.sent for c in claims) == sum(PER_GROUP for g in GROUPS if not g.has_row)
    assert sum(c.not_sent for c in claims) == sum(PER_GROUP for g in GROUPS if g.has_row)
    assert Counter(group_of[r["checkin__person_id"]].name for r in rows.values()) == {
        g.name: PER_GROUP for g in GROUPS if g.has_row
    }
    gaps: dict[str, list[float]] = defaultdict(list)
    for row_id, row in rows.items():
        group = group_of[row["checkin__person_id"]]
        attempts = log[row_id]
        assert (row["status"], row["attempts"], len(attempts)) == (
            group.status,
            group.attempts,
            group.attempts,
        ), group.name
        assert attempts[0]["claimed_at"] == activated_at
        for n, (tried, retried) in enumerate(pairwise(attempts), start=1):
            wait = (tried["next_attempt_at"] - tried["claimed_at"]).total_seconds()
            gaps[group.name].append(wait)
            retry_after = group.faults[-1][2] or 0
            backoff = BACKOFF_BASE * 2 ** (n - 1)
            # Retry-After is a floor; otherwise equal-jitter exponential backoff.
            assert max(retry_after, backoff / 2) <= wait <= max(retry_after, backoff), group.name
            # Never before its time, and picked up by the first sweep after it.
            assert tried["next_attempt_at"] <= retried["claimed_at"]
            assert retried["claimed_at"] - tried["next_attempt_at"] < STEP

    # 410s removed the dead devices and nothing else.
    endpoints = PushSubscription.objects.values_list("endpoint", flat=True)
    live = {PushService.id_of({"endpoint": e}) for e in endpoints}
    for person_id, group in group_of.items():
        kept = [not gone for gone in group.gone]
        assert [d in live for d in devices[person_id]] == kept, group.name

    # Exactly one decrypted push per device that recovered; none to dead or broken ones.
    for person_id, group in group_of.items():
        expected = [int(group.status == "sent" and not gone) for gone in group.gone]
        assert [pushes[d] for d in devices[person_id]] == expected, group.name

    # Expired or failed first asks fell back to email at once, exactly once each; no one else
    # got an email.
    emails = Counter(to for message in mail.outbox for to in message.to)
    people = User.objects.in_bulk(list(group_of))
    assert emails == {people[p].email: 1 for p, g in group_of.items() if g.emailed}
    fallbacks = Delivery.objects.filter(channel="email")
    assert fallbacks.count() == sum(g.emailed for g in group_of.values())
    final_ask = {r["checkin__person_id"]: r["claimed_at"] for r in rows.values()}
    for fallback in fallbacks.select_related("checkin"):
        assert (fallback.purpose, fallback.status, fallback.attempts) == ("escalation", "sent", 1)
        assert fallback.sent_at == final_ask[fallback.checkin.person_id]

    print(
        f"\npush storm: {len(group_of)} people, {sum(map(len, devices.values()))} devices; "
        f"settled after {settled_after.total_seconds():.0f} fake s ({steps} sweeps) in "
        f"{time.monotonic() - started:.1f} s; {sum(pushes.values())} pushes, "
        f"{len(mail.outbox)} emails, "
        f"{sum(len(a) for a in log.values())} push attempts; waits before retries (s): "
        + ", ".join(
            f"{name} {min(waits):.1f}-{max(waits):.1f}" for name, waits in sorted(gaps.items())
        )
    )
