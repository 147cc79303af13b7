"""The drainer's batch lookups go through an index, whatever the statistics say.

A crisis fills `checkins_response` faster than ANALYZE runs. With statistics taken while it
was nearly empty, PostgreSQL read the whole table twice for every batch the drainer
recorded (the answers' keys already seen, each check-in's latest answer): 0.13 ms of server
CPU per answer at 1,600 answers/s over 150,000 answers, and growing with the table.
"""

import pytest
from django.db import connection, transaction
from django.utils import timezone

from backend.accounts.models import User
from backend.checkins.answer_drainer import _SEEN_SQL
from backend.checkins.models import CheckIn, Response
from backend.common.sql import in_ids, plan_by_keys
from backend.notifications.services import CREATE_FRIEND_ALERTS_FOR_BATCH_SQL

PEOPLE = 3000
BATCH = 500

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's planner and its settings"
)


@pytest.fixture
def answered(incident) -> list[CheckIn]:
    """PEOPLE answered check-ins, their answers inserted after an ANALYZE of the empty table."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE checkins_response")
    people = User.objects.bulk_create(
        User(email=f"p{n}@example.test", name=f"P{n}") for n in range(PEOPLE)
    )
    checkins = CheckIn.objects.bulk_create(CheckIn(incident=incident, person=p) for p in people)
    now = timezone.now()
    Response.objects.bulk_create(
        Response(checkin=c, status="safe", via="push", at=now, key=f"{c.id:032x}") for c in checkins
    )
    return checkins


def plan(sql: str, params: list) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_the_drainers_lookups_use_an_index_on_a_table_that_grew_since_analyze(answered):
    batch = answered[1000 : 1000 + BATCH]
    condition, params = in_ids([c.id for c in batch])
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic():
        plan_by_keys()
        seen = plan(_SEEN_SQL, [[f"{c.id:032x}" for c in batch]])
        alerts = plan(CREATE_FRIEND_ALERTS_FOR_BATCH_SQL.format(ids=condition), [now, *params])

    assert "one_response_per_key" in seen, seen
    assert "Seq Scan on checkins_response" not in seen, seen
    assert "Seq Scan on checkins_response" not in alerts, alerts


@pytest.mark.django_db(transaction=True)
def test_plan_by_keys_lasts_until_the_transaction_ends():
    with connection.cursor() as cursor:
        with transaction.atomic():
            plan_by_keys()
            cursor.execute("SHOW enable_seqscan")
            assert cursor.fetchone()[0] == "off"
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone()[0] == "on"
