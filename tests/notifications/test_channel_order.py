"""Which channel, when: the person's order, the first channel at once, the next on silence."""

from datetime import timedelta

import pytest
from django.core import mail

from backend.checkins.services import checkin_respond
from backend.notifications.models import Delivery, Reminder
from backend.notifications.selectors import delivery_counts
from backend.notifications.services import (
    channels_for,
    deliveries_send_batch,
    reminders_schedule,
    reminders_sweep,
)

from .conftest import subscribe

pytestmark = pytest.mark.django_db


def test_channels_follow_the_persons_order_and_skip_unreachable_ones(push_service, vapid, alice):
    assert channels_for(alice) == ["email"]
    subscribe(push_service, alice)
    assert channels_for(alice) == ["webpush", "email"]

    alice.channel_order = ["email", "sms", "webpush"]
    assert channels_for(alice) == ["email", "webpush"]
    alice.channel_order = ["webpush"]
    assert channels_for(alice) == ["webpush"]


def test_activation_sends_on_the_first_channel_only(push_service, vapid, alice, alice_checkin):
    subscribe(push_service, alice)

    deliveries_send_batch(checkin_ids=[alice_checkin.id])

    assert push_service.count() == 1
    assert mail.outbox == []
    counts = delivery_counts(incident_id=alice_checkin.incident_id)
    assert {channel: n["sent"] for channel, n in counts.items()} == {"webpush": 1}


@pytest.fixture
def escalating(push_service, vapid, alice, alice_checkin, incident, settings):
    """Alice (push, then email) was asked by push; her reminder row is scheduled."""
    settings.SAFE_ESCALATION_MINUTES = 10
    subscribe(push_service, alice)
    deliveries_send_batch(checkin_ids=[alice_checkin.id])
    reminders_schedule(incident_id=incident.id, now=alice_checkin.created_at)
    return alice_checkin.created_at


def test_no_answer_after_the_delay_escalates_to_the_next_channel(
    escalating, push_service, alice_checkin, django_capture_on_commit_callbacks
):
    start = escalating
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders_sweep(now=start + timedelta(minutes=9))["escalated"] == 0
    assert mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True):
        counts = reminders_sweep(now=start + timedelta(minutes=10, seconds=1))

    assert counts["escalated"] == 1
    assert [m.to for m in mail.outbox] == [["alice@example.org"]]
    assert mail.outbox[0].subject == "Are you safe? — Paris attacks"
    escalation = Delivery.objects.get(purpose="escalation")
    assert (escalation.channel, escalation.seq, escalation.status) == ("email", 1, "sent")
    assert push_service.count() == 1


def test_an_answer_before_the_delay_means_no_escalation(
    escalating, alice_checkin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        checkin_respond(checkin_id=alice_checkin.id, status="safe", via="app")
    with django_capture_on_commit_callbacks(execute=True):
        reminders_sweep(now=escalating + timedelta(hours=7))

    assert [m.to for m in mail.outbox] == [["charlie@example.org"]]  # charlie did not answer
    assert not Reminder.objects.filter(checkin=alice_checkin).exists()


def test_the_escalation_delay_is_a_setting(
    escalating, settings, django_capture_on_commit_callbacks
):
    settings.SAFE_ESCALATION_MINUTES = 3
    with django_capture_on_commit_callbacks(execute=True):
        # The row was scheduled for the old delay; once swept, the new delay applies.
        reminders_sweep(now=escalating + timedelta(minutes=10))
    assert len(mail.outbox) == 1


def test_get_channel_preferences(api, alice):
    response = api(alice).get("/api/me/channels/")

    assert response.status_code == 200
    assert response.json() == {
        "order": ["webpush", "sms", "email"],
        "friend_alerts": True,
        "available": ["email"],
    }


def test_put_channel_preferences(api, alice):
    response = api(alice).put(
        "/api/me/channels/", {"order": ["email", "webpush"], "friend_alerts": False}, format="json"
    )

    assert response.status_code == 200
    alice.refresh_from_db()
    assert (alice.channel_order, alice.friend_alerts) == (["email", "webpush"], False)


@pytest.mark.parametrize(
    "body",
    [
        {"order": ["email", "pigeon"], "friend_alerts": True},
        {"order": ["email", "email"], "friend_alerts": True},
        {"order": [], "friend_alerts": True},
        {"order": "email", "friend_alerts": True},
        {"order": ["email"]},
        {"order": ["email"], "friend_alerts": "maybe"},
    ],
    ids=["unknown", "duplicate", "empty", "not a list", "missing", "not a bool"],
)
def test_bad_channel_preferences_are_refused_and_change_nothing(api, alice, body):
    response = api(alice).put("/api/me/channels/", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["message"]
    alice.refresh_from_db()
    assert (alice.channel_order, alice.friend_alerts) == (["webpush", "sms", "email"], True)
