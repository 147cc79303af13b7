"""A push fan-out batch costs the same statements for 4 people as for 40: none per person.

(Email is recorded one message at a time by design: see `SendWindow`.)
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backend.checkins.models import CheckIn
from backend.notifications.services import deliveries_send_batch
from tests.factories import make_person

from .conftest import subscribe

pytestmark = pytest.mark.django_db


def _send_to(count: int, incident, push_service) -> tuple[int, dict[str, int]]:
    """Ask COUNT new people by push (every other one has a second device)."""
    checkins = []
    for n in range(count):
        person = make_person(f"q{count}-{n}@example.org", f"Q {n}")
        subscribe(push_service, person)
        if n % 2:
            subscribe(push_service, person)
        checkins.append(CheckIn.objects.create(incident=incident, person=person))
    with CaptureQueriesContext(connection) as queries:
        outcomes = deliveries_send_batch(checkin_ids=[c.id for c in checkins])
    return len(queries), outcomes


def test_a_batch_costs_the_same_statements_whatever_its_size(
    settings, push_service, vapid, incident
):
    # Half the window (64) is more than a batch here has in flight: one claim and one record
    # either way, however the answers come in.
    settings.SAFE_PUSH_IN_FLIGHT = 128

    small, small_outcomes = _send_to(4, incident, push_service)
    large, large_outcomes = _send_to(40, incident, push_service)

    assert (small_outcomes, large_outcomes) == ({"sent": 4}, {"sent": 40})
    assert push_service.count() == 4 + 2 + 40 + 20
    assert large == small
