"""Friend alerts: friends who opted in are told, at most once per window per recipient."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backend.accounts.models import User
from backend.checkins.models import CheckIn
from backend.checkins.selectors import incident_stats
from backend.checkins.services import checkin_respond
from backend.notifications.models import FriendAlert
from backend.notifications.services import friend_alerts_send, friend_alerts_sweep
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
def sweep(django_capture_on_commit_callbacks):
    """`friend_alerts_sweep`, its tasks run (inline) once it commits, as in production."""

    def run(**kwargs) -> dict[str, int]:
        with django_capture_on_commit_callbacks(execute=True):
            return friend_alerts_sweep(**kwargs)

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


def test_the_alert_names_the_friend_their_answer_and_the_incident(
    answer, alice_checkin, bob, sweep
):
    answer(alice_checkin)

    assert sweep() == {"alerts": 1, "tasks": 1}

    [message] = mail.outbox
    assert message.to == ["bob@example.org"]
    assert message.subject == "Alice is safe — Paris attacks"
    assert FriendAlert.objects.get().status == "sent"


def test_alerts_within_the_window_are_coalesced_into_one(
    answer, alice_checkin, bob, dora, incident, settings, sweep
):
    settings.SAFE_FRIEND_ALERT_WINDOW_SECONDS = 300
    answer(alice_checkin)
    sweep()
    sent_at = FriendAlert.objects.get().sent_at
    answer(alice_checkin, "need_help")
    answer(CheckIn.objects.get(person=dora, incident=incident), "safe")

    assert sweep(now=sent_at + timedelta(seconds=299)) == {}
    # Two answers, one alert.
    assert sweep(now=sent_at + timedelta(seconds=301)) == {"alerts": 2, "tasks": 1}

    assert len(mail.outbox) == 2
    second = mail.outbox[1]
    assert second.subject == "News from your friends"
    assert "Alice needs help — Paris attacks" in second.body
    assert "Dora is safe — Paris attacks" in second.body
    assert "Alice is safe" not in second.body  # told already; her answer changed since


def test_two_sweeps_at_once_send_one_alert(answer, alice_checkin, bob, sweep):
    answer(alice_checkin)
    now = timezone.now()

    first = sweep(now=now)
    second = sweep(now=now)

    assert (first, second) == ({"alerts": 1, "tasks": 1}, {})
    assert len(mail.outbox) == 1


def test_alerts_a_killed_sweep_left_claimed_go_out_after_the_lease(
    settings, answer, alice_checkin, bob, sweep
):
    answer(alice_checkin)
    claimed_at = timezone.now()
    # What a sweep killed between its claim and its send leaves behind.
    FriendAlert.objects.update(status=FriendAlert.Status.SENDING, sent_at=claimed_at)
    lease = timedelta(seconds=settings.SAFE_CLAIM_LEASE_SECONDS)

    assert sweep(now=claimed_at + lease / 2) == {}  # maybe still being sent
    after_the_lease = claimed_at + lease + timedelta(seconds=1)
    assert sweep(now=after_the_lease) == {"alerts": 1, "tasks": 1}
    assert len(mail.outbox) == 1
    assert FriendAlert.objects.get().status == FriendAlert.Status.SENT


def test_the_alert_goes_to_the_recipients_first_channel(
    answer, alice_checkin, bob, push_service, vapid, sweep
):
    import json

    subscribe(push_service, bob)
    answer(alice_checkin)

    sweep()

    [message] = push_service.wait_for(1)
    payload = json.loads(message.payload)
    assert payload["title"] == "Alice is safe — Paris attacks"
    assert "actions" not in payload
    assert "token" not in payload
    assert message.headers["urgency"] == "normal"
    assert mail.outbox == []
    assert FriendAlert.objects.get().channel == "webpush"


def test_a_stranger_is_never_alerted(answer, alice_checkin, charlie, bob, sweep):
    answer(alice_checkin)
    sweep()

    assert not FriendAlert.objects.filter(recipient=charlie).exists()
    assert all(m.to != ["charlie@example.org"] for m in mail.outbox)


def _alert_friends(
    sweep, answer, alice_checkin, friends: list[User], status: str
) -> tuple[int, int]:
    """Befriend alice with FRIENDS, let her answer STATUS (a change), sweep:
    (alerts claimed, statements)."""
    for friend in friends:
        befriend(alice_checkin.person, friend)
    answer(alice_checkin, status)
    with CaptureQueriesContext(connection) as queries:
        claimed = sweep()["alerts"]
    return claimed, len(queries)


def test_email_alerts_one_at_a_time_cost_a_statement_each_beyond_a_fixed_few(
    answer, alice_checkin, bob, settings, sweep
):
    settings.SAFE_FRIEND_ALERT_WINDOW_SECONDS = 0  # each sweep may alert the same people again
    settings.SAFE_EMAIL_IN_FLIGHT = 1

    people = [make_person(f"fr{n}@example.org", f"Fr {n}") for n in range(33)]
    few, few_statements = _alert_friends(sweep, answer, alice_checkin, people[:3], "need_help")
    many, many_statements = _alert_friends(sweep, answer, alice_checkin, people[3:], "safe")

    assert (few, many) == (1 + 3, 1 + 3 + 30)  # bob, then her new friends
    # One at a time, each recorded before the next (a killed task repeats at most one);
    # everything else is one statement per chunk of recipients.
    assert many_statements - few_statements == many - few


def test_push_alerts_are_recorded_a_send_window_at_a_time(
    answer, alice_checkin, bob, settings, push_service, vapid, sweep
):
    settings.SAFE_FRIEND_ALERT_WINDOW_SECONDS = 0
    settings.SAFE_PUSH_IN_FLIGHT = 128  # half of it is more than the 31 in flight here
    subscribe(push_service, bob)

    people = [make_person(f"push{n}@example.org", f"Push {n}") for n in range(30)]
    for person in people:
        subscribe(push_service, person)

    few, few_statements = _alert_friends(sweep, answer, alice_checkin, people[:3], "need_help")
    many, many_statements = _alert_friends(sweep, answer, alice_checkin, people[3:], "safe")

    assert (few, many) == (1 + 3, 1 + 3 + 27)
    assert len(push_service.wait_for(few + many)) == few + many
    # 31 pushes in flight at once, their results recorded together, however they come in.
    assert many_statements == few_statements
    assert set(FriendAlert.objects.values_list("status", "channel")) == {("sent", "webpush")}


def test_a_copy_sent_again_after_a_task_died_has_the_same_topic(
    settings, answer, alice_checkin, bob, push_service, vapid, sweep
):
    subscribe(push_service, bob)
    answer(alice_checkin)
    sweep()
    # What a task killed after the push was accepted and before its record leaves behind.
    FriendAlert.objects.update(status=FriendAlert.Status.SENDING)
    lease = timedelta(seconds=settings.SAFE_CLAIM_LEASE_SECONDS)

    sweep(now=FriendAlert.objects.get().sent_at + lease + timedelta(seconds=1))

    first, again = push_service.wait_for(2)
    assert first.headers["topic"] == again.headers["topic"]
    assert first.payload == again.payload


def test_a_copy_of_a_send_task_sends_nothing(answer, alice_checkin, bob):
    answer(alice_checkin)
    claimed_at = timezone.now()
    FriendAlert.objects.update(status=FriendAlert.Status.SENDING, sent_at=claimed_at)

    first = friend_alerts_send(recipient_ids=[bob.id], claimed_at=claimed_at)
    copy = friend_alerts_send(recipient_ids=[bob.id], claimed_at=claimed_at)

    assert (first, copy) == ({"sent": 1}, {})
    assert len(mail.outbox) == 1


def test_a_task_running_after_the_lease_leaves_the_alerts_to_the_next_claim(
    settings, answer, alice_checkin, bob, sweep
):
    answer(alice_checkin)
    claimed_at = timezone.now() - timedelta(seconds=settings.SAFE_CLAIM_LEASE_SECONDS + 1)
    FriendAlert.objects.update(status=FriendAlert.Status.SENDING, sent_at=claimed_at)
    assert sweep() == {"alerts": 1, "tasks": 1}  # claimed again, and sent

    assert friend_alerts_send(recipient_ids=[bob.id], claimed_at=claimed_at) == {}  # too late
    assert len(mail.outbox) == 1


def test_a_sweep_that_reaches_its_limit_queues_the_next_at_once(answer, alice_checkin, bob, sweep):
    for n in range(4):
        befriend(alice_checkin.person, make_person(f"lim-{n}@example.org", f"Lim {n}"))
    answer(alice_checkin)

    assert sweep(limit=2) == {"alerts": 2, "tasks": 1}

    # The next sweep ran at once (inline here, on the sweeps queue in production).
    assert set(FriendAlert.objects.values_list("status", flat=True)) == {"sent"}
    assert len(mail.outbox) == 5


def test_an_alert_nobody_can_be_reached_for_fails(answer, alice_checkin, bob, settings, sweep):
    bob.channel_order = ["sms"]  # no phone
    bob.save()
    answer(alice_checkin)

    sweep()

    assert FriendAlert.objects.get().status == "failed"
