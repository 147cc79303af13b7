"""Friend alerts: friends who opted in are told, at most once per window per recipient."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backend.checkins.models import CheckIn
from backend.checkins.selectors import incident_stats
from backend.checkins.services import checkin_respond
from backend.notifications.models import FriendAlert
from backend.notifications.services import friend_alerts_sweep
from tests.factories import PARIS, befriend, make_person

from .conftest import subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def answer(django_capture_on_commit_callbacks):
    def run(checkin: CheckIn, status: str = "safe") -> None:
        with django_capture_on_commit_callbacks(execute=True):
            checkin_respond(checkin_id=checkin.id, status=status, via="app")

    return run


@pytest.fixture
def dora(incident, bob):
    """Another friend of bob's, in Paris, with a check-in in the incident."""
    from backend.checkins.services import checkins_create_for_incident

    dora = make_person("dora@example.org", "Dora", places=[PARIS])
    befriend(dora, bob)
    checkins_create_for_incident(incident_id=incident.id)
    return dora


def test_an_answer_queues_an_alert_for_each_opted_in_friend(
    answer, alice_checkin, bob, charlie, incident
):
    answer(alice_checkin)

    assert list(FriendAlert.objects.values_list("recipient_id", "status")) == [(bob.id, "pending")]
    # The operators' counters were updated by the answer itself, not by the alert.
    assert incident_stats(incident_id=incident.id)["safe"] == 1


def test_friends_who_opted_out_get_no_alert(answer, alice_checkin, bob):
    bob.friend_alerts = False
    bob.save()

    answer(alice_checkin)

    assert not FriendAlert.objects.exists()


def test_the_alert_names_the_friend_their_answer_and_the_incident(answer, alice_checkin, bob):
    answer(alice_checkin)

    assert friend_alerts_sweep() == {"sent": 1}

    [message] = mail.outbox
    assert message.to == ["bob@example.org"]
    assert message.subject == "Alice is safe — Paris attacks"
    assert FriendAlert.objects.get().status == "sent"


def test_alerts_within_the_window_are_coalesced_into_one(
    answer, alice_checkin, bob, dora, incident, settings
):
    settings.SAFE_FRIEND_ALERT_WINDOW_SECONDS = 300
    answer(alice_checkin)
    friend_alerts_sweep()
    sent_at = FriendAlert.objects.get().sent_at
    answer(alice_checkin, "need_help")
    answer(CheckIn.objects.get(person=dora, incident=incident), "safe")

    assert friend_alerts_sweep(now=sent_at + timedelta(seconds=299)) == {}
    assert friend_alerts_sweep(now=sent_at + timedelta(seconds=301)) == {"sent": 1}

    assert len(mail.outbox) == 2
    second = mail.outbox[1]
    assert second.subject == "News from your friends"
    assert "Alice needs help — Paris attacks" in second.body
    assert "Dora is safe — Paris attacks" in second.body
    assert "Alice is safe" not in second.body  # told already; her answer changed since


def test_two_sweeps_at_once_send_one_alert(answer, alice_checkin, bob):
    answer(alice_checkin)
    now = timezone.now()

    first = friend_alerts_sweep(now=now)
    second = friend_alerts_sweep(now=now)

    assert (first, second) == ({"sent": 1}, {})
    assert len(mail.outbox) == 1


def test_alerts_a_killed_sweep_left_claimed_go_out_after_the_lease(
    settings, answer, alice_checkin, bob
):
    answer(alice_checkin)
    claimed_at = timezone.now()
    # What a sweep killed between its claim and its send leaves behind.
    FriendAlert.objects.update(status=FriendAlert.Status.SENDING, sent_at=claimed_at)
    lease = timedelta(seconds=settings.SAFE_CLAIM_LEASE_SECONDS)

    assert friend_alerts_sweep(now=claimed_at + lease / 2) == {}  # maybe still being sent
    assert friend_alerts_sweep(now=claimed_at + lease + timedelta(seconds=1)) == {"sent": 1}
    assert len(mail.outbox) == 1
    assert FriendAlert.objects.get().status == FriendAlert.Status.SENT


def test_the_alert_goes_to_the_recipients_first_channel(
    answer, alice_checkin, bob, push_service, vapid
):
    import json

    subscribe(push_service, bob)
    answer(alice_checkin)

    friend_alerts_sweep()

    [message] = push_service.wait_for(1)
    payload = json.loads(message.payload)
    assert payload["title"] == "Alice is safe — Paris attacks"
    assert "actions" not in payload
    assert "token" not in payload
    assert message.headers["urgency"] == "normal"
    assert mail.outbox == []
    assert FriendAlert.objects.get().channel == "webpush"


def test_a_stranger_is_never_alerted(answer, alice_checkin, charlie, bob):
    answer(alice_checkin)
    friend_alerts_sweep()

    assert not FriendAlert.objects.filter(recipient=charlie).exists()
    assert all(m.to != ["charlie@example.org"] for m in mail.outbox)


def _alert_friends(count: int, answer, alice_checkin) -> tuple[int, int]:
    """Give alice COUNT more friends, let her answer again, sweep: (alerts, statements)."""
    for n in range(count):
        befriend(alice_checkin.person, make_person(f"fr{count}-{n}@example.org", f"Fr {n}"))
    answer(alice_checkin, "safe" if count % 2 else "need_help")  # a new answer each time
    with CaptureQueriesContext(connection) as queries:
        outcomes = friend_alerts_sweep()
    return outcomes["sent"], len(queries)


def test_a_sweep_costs_one_statement_per_recipient_beyond_a_fixed_few(
    answer, alice_checkin, bob, settings
):
    settings.SAFE_FRIEND_ALERT_WINDOW_SECONDS = 0  # each sweep may alert the same people again

    few, few_statements = _alert_friends(3, answer, alice_checkin)
    many, many_statements = _alert_friends(30, answer, alice_checkin)

    assert (few, many) == (1 + 3, 1 + 3 + 30)  # bob, then her new friends
    # Each alert is recorded before the next is sent (a killed sweep repeats at most one).
    assert many_statements - few_statements == many - few
