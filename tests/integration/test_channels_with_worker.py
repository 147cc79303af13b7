"""Channels with a real worker: each person gets exactly what their preferences call for."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from backend.accounts.models import User
from backend.checkins.models import CheckIn
from backend.checkins.selectors import incident_stats
from backend.checkins.services import checkin_respond, checkins_create_for_incident
from backend.incidents.models import Incident
from backend.incidents.services import incident_create
from backend.notifications.models import Delivery, FriendAlert, PushSubscription
from backend.notifications.services import reminders_sweep
from backend.notifications.tasks import sweep_friend_alerts
from backend.notifications.webpush import generate_vapid_keypair
from tests.conftest import sent_emails
from tests.factories import PARIS, PARIS_POLYGON, befriend, make_operator, make_person
from tests.support.push_service import PushService
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PEOPLE = 2000


@pytest.fixture
def push_service():
    with PushService() as service:
        yield service


@pytest.fixture
def worker(request, monkeypatch, settings):
    """The real worker, started with a VAPID key in its environment (and ours: we sweep)."""
    private_key, _ = generate_vapid_keypair()
    for name, value in (
        ("VAPID_PRIVATE_KEY", private_key),
        ("VAPID_SUBJECT", "mailto:ops@example.org"),
    ):
        monkeypatch.setenv(name, value)
        setattr(settings, name, value)
    return request.getfixturevalue("celery_worker")


def _store(subscriptions: dict[int, dict]) -> None:
    """Store SUBSCRIPTIONS (person id -> the subscription its browser made)."""
    PushSubscription.objects.bulk_create(
        PushSubscription(
            person_id=pid,
            endpoint=s["endpoint"],
            p256dh=s["keys"]["p256dh"],
            auth=s["keys"]["auth"],
        )
        for pid, s in subscriptions.items()
    )


def _received(service: PushService, sub_of: dict[int, str]) -> Counter[int]:
    person_of = {sub: person for person, sub in sub_of.items()}
    return Counter(person_of[m.subscription_id] for m in service.received())


def _emailed(mail_dir) -> Counter[str]:
    return Counter(m["To"] for m in sent_emails(mail_dir))


def test_people_get_exactly_the_messages_their_preferences_call_for(
    api, worker, push_service, mail_dir
):
    call_command("seed_population", people=PEOPLE, prefix="ch")
    people = list(User.objects.filter(email__startswith="ch-").order_by("id"))
    subscriptions = {person.id: push_service.subscribe() for person in people[::2]}
    _store(subscriptions)
    sub_of = {pid: PushService.id_of(s) for pid, s in subscriptions.items()}
    email_of = {person.id: person.email for person in people}

    olivia = make_operator("olivia@example.org", "Olivia")
    created = api(olivia).post(
        "/api/incidents/",
        {"title": "Paris attacks", "kind": "attack", "regions": [{"geometry": PARIS_POLYGON}]},
        format="json",
    )
    incident_id = created.json()["id"]
    assert api(olivia).post(f"/api/incidents/{incident_id}/activate/").status_code == 202
    wait_for(
        lambda: (
            0
            < incident_stats(incident_id=incident_id)["targeted"]
            <= incident_stats(incident_id=incident_id)["delivered"]
        ),
        timeout=180,
    )
    targeted = set(
        CheckIn.objects.filter(incident_id=incident_id).values_list("person_id", flat=True)
    )
    with_push = targeted & set(subscriptions)
    email_only = targeted - with_push
    assert len(with_push) > 200
    assert len(email_only) > 200

    # Activation: the first channel only. Push people get one push and no email yet.
    assert _received(push_service, sub_of) == Counter(dict.fromkeys(with_push, 1))
    assert _emailed(mail_dir) == Counter({email_of[pid]: 1 for pid in email_only})
    assert push_service.rejections == []

    # A third answer; then time passes beyond escalation and the first reminder.
    answered = set(sorted(targeted)[::3])
    for checkin_id in CheckIn.objects.filter(
        incident_id=incident_id, person_id__in=answered
    ).values_list("id", flat=True):
        checkin_respond(checkin_id=checkin_id, status="safe", via="app")
    later = timezone.now() + timedelta(minutes=16)
    while any(reminders_sweep(now=later).values()):
        pass
    reminders = Delivery.objects.filter(incident_id=incident_id, purpose="reminder")
    wait_for(lambda: not reminders.filter(status__in=["pending", "sending"]).exists(), timeout=180)

    # Escalation and the first reminder were due together: one reminder on every channel
    # reached so far. Those who answered get nothing more.
    pushes = _received(push_service, sub_of)
    emails = _emailed(mail_dir)
    for pid in answered:
        assert pushes[pid] == (1 if pid in with_push else 0)
        assert emails[email_of[pid]] == (0 if pid in with_push else 1)
    for pid in with_push - answered:
        assert (pushes[pid], emails[email_of[pid]]) == (2, 1)
    for pid in email_only - answered:
        assert (pushes[pid], emails[email_of[pid]]) == (0, 2)
    assert set(pushes) <= targeted
    assert reminders.filter(status="sent").count() == len(with_push - answered) * 2 + len(
        email_only - answered
    )


def test_friend_alerts_go_out_from_the_sweep_through_delivery_tasks(worker, push_service, mail_dir):
    """The sweep (as beat queues it) claims; `send_friend_alerts` tasks send, once each."""
    olivia = make_operator("olivia@example.org", "Olivia")
    alice = make_person("alice@example.org", "Alice", places=[PARIS])
    friends = [make_person(f"friend{n}@example.org", f"Friend {n}") for n in range(250)]
    with_push = {friend.id: push_service.subscribe() for friend in friends[::2]}
    _store(with_push)
    for friend in friends:
        befriend(alice, friend)
    incident = incident_create(
        creator=olivia, title="Paris attacks", regions=[{"geometry": PARIS_POLYGON}]
    )
    Incident.objects.filter(id=incident.id).update(status=Incident.Status.ACTIVE)
    checkins_create_for_incident(incident_id=incident.id)
    checkin = CheckIn.objects.get(person=alice, incident=incident)
    checkin_respond(checkin_id=checkin.id, status="safe", via="app")
    assert FriendAlert.objects.filter(status="pending").count() == len(friends)

    sweep_friend_alerts.delay()  # as beat queues it; its chunks go to the delivery queue
    wait_for(lambda: not FriendAlert.objects.exclude(status="sent").exists(), timeout=60)

    sub_of = {pid: PushService.id_of(s) for pid, s in with_push.items()}
    assert _received(push_service, sub_of) == Counter(dict.fromkeys(with_push, 1))
    pushes = push_service.received()
    assert len({m.payload for m in pushes}) == 1  # the same news for each
    assert len({m.headers["topic"] for m in pushes}) == len(with_push)
    emailed = _emailed(mail_dir)
    assert emailed == Counter({f.email: 1 for f in friends if f.id not in with_push})
