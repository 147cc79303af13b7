"""The outbox's hot statements find their rows by primary key, whatever the statistics say.

A fan-out fills the delivery table faster than ANALYZE runs. With statistics from before
it (almost every row sent) PostgreSQL guessed that few rows were pending and scanned every
pending row through a status index for each chunk of 32 it claimed: 56 µs of server CPU per
message at 8,000 pushes, growing with the fan-out.
"""

import pytest
from django.db import connection
from django.utils import timezone

from backend.accounts.models import User
from backend.checkins.models import CheckIn
from backend.notifications.models import Delivery
from backend.notifications.services import CLAIM_SQL, RECORD_SENT_SQL, deliveries_claim

PEOPLE = 2000


@pytest.fixture
def pending_deliveries(incident) -> list[int]:
    """PEOPLE pending push deliveries, inserted as a fan-out does: after an ANALYZE that saw
    PEOPLE earlier emails, all sent."""
    people = User.objects.bulk_create(
        User(email=f"p{n}@example.test", name=f"P{n}") for n in range(PEOPLE)
    )
    checkins = CheckIn.objects.bulk_create(CheckIn(incident=incident, person=p) for p in people)
    now = timezone.now()
    for channel, status in (("email", "sent"), ("webpush", "pending")):
        Delivery.objects.bulk_create(
            Delivery(
                checkin=c,
                incident=incident,
                channel=channel,
                status=status,
                created_at=now,
                next_attempt_at=now,
            )
            for c in checkins
        )
        if status == "sent":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE notifications_delivery")
    pending = Delivery.objects.filter(status="pending").order_by("id")
    return list(pending.values_list("id", flat=True))


def plan(sql: str, params: list) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN " + sql, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def id_condition(ids: list[int]) -> tuple[str, list]:
    if connection.vendor == "postgresql":
        return "= ANY(%s)", [ids]
    return f"IN ({', '.join(['%s'] * len(ids))})", ids


@pytest.mark.django_db
def test_claim_and_record_use_the_primary_key(pending_deliveries):
    chunk = pending_deliveries[100:132]
    condition, params = id_condition(chunk)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    claim = plan(CLAIM_SQL.format(ids=condition), [now, *params])
    record = plan(RECORD_SENT_SQL.format(ids=condition), [now, *params])

    key = "notifications_delivery_pkey" if connection.vendor == "postgresql" else "PRIMARY KEY"
    assert key in claim, claim
    assert key in record, record
    for index in ("delivery_due", "delivery_claimed", "delivery_stats"):
        assert index not in claim
        assert index not in record


@pytest.mark.django_db
def test_a_claim_takes_only_pending_rows(pending_deliveries):
    first, second = pending_deliveries[:32], pending_deliveries[16:48]

    assert deliveries_claim(delivery_ids=first) == set(first)
    assert deliveries_claim(delivery_ids=second) == set(pending_deliveries[32:48])
    assert Delivery.objects.filter(status="sending").count() == 48
