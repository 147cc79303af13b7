"""Reminders: per the incident's schedule, until the first answer or the incident's end."""

from datetime import timedelta

import pytest
from django.core import mail

from backend.checkins.services import checkin_respond
from backend.incidents.models import Incident
from backend.notifications.models import Delivery, Reminder
from backend.notifications.services import reminders_schedule, reminders_sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def start(incident, alice_checkin):
    """Email-only people (alice, charlie) with reminders at 15 min, 1 h and 6 h."""
    assert incident.reminder_minutes == [15, 60, 360]
    assert reminders_schedule(incident_id=incident.id, now=alice_checkin.created_at) == 2
    return alice_checkin.created_at


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    def run(at):
        with django_capture_on_commit_callbacks(execute=True):
            return reminders_sweep(now=at)

    return run


def emails_to(address: str) -> list[str]:
    return [m.subject for m in mail.outbox if m.to == [address]]


def test_scheduling_twice_creates_one_row_per_unanswered_checkin(incident, start):
    assert reminders_schedule(incident_id=incident.id) == 0
    assert Reminder.objects.count() == 2


def test_reminders_follow_the_incident_schedule(start, sweep):
    sweep(start + timedelta(minutes=14))
    assert mail.outbox == []

    sweep(start + timedelta(minutes=15))
    sweep(start + timedelta(minutes=16))  # nothing new is due
    assert len(emails_to("alice@example.org")) == 1
    assert "We have not heard from you yet" in mail.outbox[0].body

    sweep(start + timedelta(minutes=60))
    sweep(start + timedelta(minutes=360))
    sweep(start + timedelta(days=2))

    assert len(emails_to("alice@example.org")) == 3
    assert sorted(
        Delivery.objects.filter(
            purpose="reminder", checkin__person__email="alice@example.org"
        ).values_list("seq", flat=True)
    ) == [1, 2, 3]
    assert not Reminder.objects.exists()


def test_missed_steps_are_coalesced_into_one_reminder(start, sweep):
    sweep(start + timedelta(hours=2))

    assert len(emails_to("alice@example.org")) == 1
    assert (
        Delivery.objects.get(purpose="reminder", checkin__person__email="alice@example.org").seq
        == 2
    )


def test_reminders_stop_at_the_first_answer(
    start, sweep, alice_checkin, django_capture_on_commit_callbacks
):
    sweep(start + timedelta(minutes=15))
    with django_capture_on_commit_callbacks(execute=True):
        checkin_respond(checkin_id=alice_checkin.id, status="safe", via="app")
    sweep(start + timedelta(minutes=60))
    sweep(start + timedelta(minutes=360))

    assert len(emails_to("alice@example.org")) == 1
    assert len(emails_to("charlie@example.org")) == 3


def test_reminders_stop_when_the_incident_is_resolved(start, sweep, incident):
    sweep(start + timedelta(minutes=15))
    Incident.objects.filter(id=incident.id).update(status=Incident.Status.RESOLVED)

    counts = sweep(start + timedelta(minutes=60))

    assert counts["stopped"] == 2
    assert len(mail.outbox) == 2
    assert not Reminder.objects.exists()


def test_two_sweeps_of_the_same_rows_remind_once(start, django_capture_on_commit_callbacks):
    due = list(Reminder.objects.all())
    at = start + timedelta(minutes=15)
    with django_capture_on_commit_callbacks(execute=True):
        reminders_sweep(now=at)
        # A second beat that read the rows before the first claimed them loses the CAS.
        for reminder in due:
            assert not Reminder.objects.filter(
                id=reminder.id, next_at=reminder.next_at, reminders_sent=0
            ).exists()
        reminders_sweep(now=at)

    assert len(mail.outbox) == 2
    assert Delivery.objects.filter(purpose="reminder").count() == 2


def test_a_french_speaker_is_reminded_in_french(start, sweep, alice):
    alice.language = "fr"
    alice.save()

    sweep(start + timedelta(minutes=15))

    [subject] = emails_to("alice@example.org")
    assert subject.startswith("Êtes-vous en sécurité\u00a0?")
