"""POST /api/checkins/{id}/nudge/: a friend asks someone who has not answered to check in."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from backend.checkins.services import checkin_respond
from backend.common.errors import TooManyRequests
from backend.incidents.models import Incident
from backend.notifications.models import Delivery, Nudge
from backend.notifications.services import checkin_nudge

pytestmark = pytest.mark.django_db


@pytest.fixture
def nudge(api, django_capture_on_commit_callbacks):
    def post(user, checkin):
        with django_capture_on_commit_callbacks(execute=True):
            return api(user).post(f"/api/checkins/{checkin.id}/nudge/")

    return post


def test_a_friend_can_ask_someone_to_check_in(nudge, bob, alice_checkin):
    response = nudge(bob, alice_checkin)

    assert response.status_code == 202
    [message] = mail.outbox
    assert message.to == ["alice@example.org"]
    assert message.subject == "Bob asks if you are safe — Paris attacks"
    assert "/r/" in message.body
    delivery = Delivery.objects.get(purpose="nudge")
    assert (delivery.seq, delivery.status) == (1, "sent")


def test_a_stranger_cannot_nudge_and_learns_nothing(nudge, charlie, alice_checkin):
    response = nudge(charlie, alice_checkin)

    assert response.status_code == 404
    assert mail.outbox == []
    assert not Nudge.objects.exists()


def test_an_unknown_checkin_is_not_found(nudge, bob, alice_checkin):
    alice_checkin.id += 1000
    assert nudge(bob, alice_checkin).status_code == 404


def test_a_second_nudge_within_the_interval_is_rate_limited(nudge, bob, alice_checkin, settings):
    settings.SAFE_NUDGE_INTERVAL_SECONDS = 1800
    nudge(bob, alice_checkin)

    response = nudge(bob, alice_checkin)

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1790 <= int(response["Retry-After"]) <= 1800
    assert len(mail.outbox) == 1
    assert Nudge.objects.count() == 1


def test_after_the_interval_a_friend_may_ask_again(bob, alice_checkin, settings):
    settings.SAFE_NUDGE_INTERVAL_SECONDS = 1800
    now = timezone.now()
    checkin_nudge(sender=bob, checkin_id=alice_checkin.id, now=now)

    with pytest.raises(TooManyRequests):
        checkin_nudge(sender=bob, checkin_id=alice_checkin.id, now=now + timedelta(seconds=1799))
    checkin_nudge(sender=bob, checkin_id=alice_checkin.id, now=now + timedelta(seconds=1801))

    assert Nudge.objects.count() == 2


def test_no_nudge_once_answered(nudge, bob, alice_checkin):
    checkin_respond(checkin_id=alice_checkin.id, status="safe", via="app")

    response = nudge(bob, alice_checkin)

    assert response.status_code == 409
    assert mail.outbox == []


def test_no_nudge_once_the_incident_is_resolved(nudge, bob, alice_checkin, incident):
    Incident.objects.filter(id=incident.id).update(status=Incident.Status.RESOLVED)

    assert nudge(bob, alice_checkin).status_code == 409
    assert mail.outbox == []
