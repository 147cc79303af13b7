"""The Web Push channel end to end: outbox → PushSender → a real push service that decrypts."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from backend.checkins.tokens import checkin_id_from_token
from backend.notifications.models import Delivery, PushSubscription
from backend.notifications.selectors import delivery_counts
from backend.notifications.services import deliveries_retry_due, deliveries_send_batch
from tests.support.push_service import PushService

from .conftest import subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_push(push_service, vapid, alice):
    return subscribe(push_service, alice)


def _sent(incident_id: int) -> dict[str, int]:
    """Messages recorded as sent per channel, as operators see them."""
    counts = delivery_counts(incident_id=incident_id)
    return {channel: n["sent"] for channel, n in counts.items() if n["sent"]}


def test_ask_arrives_decrypted_with_token_actions_and_headers(
    push_service, vapid, alice_push, alice_checkin
):
    outcomes = deliveries_send_batch(checkin_ids=[alice_checkin.id])

    assert outcomes == {"sent": 1}
    [message] = push_service.wait_for(1)
    assert message.subscription_id == PushService.id_of(alice_push)
    payload = json.loads(message.payload)
    assert payload["checkin"] == alice_checkin.id
    assert payload["incident"] == "Paris attacks"
    assert payload["drill"] is False
    assert checkin_id_from_token(payload["token"]) == alice_checkin.id
    assert payload["answer_url"].endswith("/api/answer/")
    assert f"/r/{payload['token']}" in payload["url"]
    assert payload["title"] == "Are you safe? — Paris attacks"
    assert payload["actions"] == [
        {"action": "safe", "title": "I'm safe"},
        {"action": "need_help", "title": "I need help"},
    ]
    assert len(message.payload) <= 4096
    assert message.headers["ttl"] == str(24 * 3600)
    assert message.headers["urgency"] == "high"
    # VAPID: the push service verified the ES256 JWT for its origin; the key is ours.
    assert message.headers["authorization"].endswith(f"k={vapid}")
    assert push_service.rejections == []
    assert mail.outbox == []  # push is alice's first channel: no email yet
    assert _sent(alice_checkin.incident_id) == {"webpush": 1}


def test_every_device_of_the_person_gets_the_message(push_service, vapid, alice, alice_checkin):
    phone, laptop = subscribe(push_service, alice), subscribe(push_service, alice)

    deliveries_send_batch(checkin_ids=[alice_checkin.id])

    received = {m.subscription_id for m in push_service.wait_for(2)}
    assert received == {PushService.id_of(phone), PushService.id_of(laptop)}
    assert _sent(alice_checkin.incident_id) == {"webpush": 1}  # one message, two devices


def test_gone_subscription_is_deleted_and_the_delivery_expires(
    push_service, vapid, alice_push, alice_checkin
):
    push_service.gone(PushService.id_of(alice_push))

    outcomes = deliveries_send_batch(checkin_ids=[alice_checkin.id])

    assert outcomes == {"expired": 1}
    assert not PushSubscription.objects.exists()
    delivery = Delivery.objects.get(channel="webpush")
    assert delivery.status == "expired"
    assert "410" in delivery.last_error
    # Gone for good: she is asked on her next channel at once, not at the first reminder.
    assert Delivery.objects.get(channel="email").purpose == "escalation"


def test_one_dead_device_among_live_ones_still_counts_as_sent(
    push_service, vapid, alice, alice_checkin
):
    dead, live = subscribe(push_service, alice), subscribe(push_service, alice)
    push_service.gone(PushService.id_of(dead))

    assert deliveries_send_batch(checkin_ids=[alice_checkin.id]) == {"sent": 1}
    assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == [live["endpoint"]]


def _broken_device(service: PushService, person) -> None:
    """A stored subscription whose key no longer decodes (written before validation, say)."""
    endpoint = service.subscribe()["endpoint"]
    PushSubscription.objects.create(person=person, endpoint=endpoint, p256dh="AAAA", auth="AAAA")


def test_a_device_whose_stored_key_is_broken_does_not_stop_the_others(
    push_service, vapid, alice, alice_checkin
):
    _broken_device(push_service, alice)
    live = subscribe(push_service, alice)

    assert deliveries_send_batch(checkin_ids=[alice_checkin.id]) == {"sent": 1}
    [message] = push_service.wait_for(1)
    assert message.subscription_id == PushService.id_of(live)


def test_a_person_whose_only_device_is_broken_is_asked_on_the_next_channel(
    push_service, vapid, alice, alice_checkin
):
    _broken_device(push_service, alice)

    outcomes = deliveries_send_batch(checkin_ids=[alice_checkin.id])

    assert push_service.count() == 0
    delivery = Delivery.objects.get(channel="webpush")
    assert (outcomes, delivery.status) == ({"failed": 1}, "failed")
    assert delivery.last_error  # what the key was refused for
    assert Delivery.objects.get(channel="email").purpose == "escalation"


def test_too_many_requests_is_retried_after_the_retry_after_delay(
    push_service, vapid, alice_push, alice_checkin
):
    push_service.fail_next(PushService.id_of(alice_push), 429, retry_after=120)
    before = timezone.now()

    assert deliveries_send_batch(checkin_ids=[alice_checkin.id]) == {"retry": 1}

    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    assert "429" in delivery.last_error
    assert delivery.next_attempt_at >= before + timedelta(seconds=120)
    assert deliveries_retry_due(now=before + timedelta(seconds=60)) == {}
    assert deliveries_retry_due(now=delivery.next_attempt_at) == {"sent": 1}
    assert push_service.count() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)


def test_server_error_is_retried_with_backoff(push_service, vapid, alice_push, alice_checkin):
    push_service.fail_next(PushService.id_of(alice_push), 500)

    assert deliveries_send_batch(checkin_ids=[alice_checkin.id]) == {"retry": 1}
    delivery = Delivery.objects.get()
    assert delivery.next_attempt_at > delivery.created_at
    assert deliveries_retry_due(now=timezone.now() + timedelta(hours=1)) == {"sent": 1}
    assert push_service.count() == 1


def test_retries_stop_after_the_last_attempt_keeping_the_error(
    push_service, vapid, alice_push, alice_checkin
):
    push_service.fail_next(PushService.id_of(alice_push), 503, times=10)
    deliveries_send_batch(checkin_ids=[alice_checkin.id])
    for hours in range(1, 6):
        deliveries_retry_due(now=timezone.now() + timedelta(hours=hours))

    delivery = Delivery.objects.get(channel="webpush")
    assert (delivery.status, delivery.attempts) == ("failed", 5)
    assert "503" in delivery.last_error


def test_the_delivery_task_run_twice_sends_one_push_and_one_email_each(
    push_service, vapid, alice, charlie, incident
):
    subscribe(push_service, alice)
    ids = list(incident.checkins.values_list("id", flat=True))

    from backend.notifications.tasks import send_batch

    send_batch.delay(ids)
    send_batch.delay(ids)  # a broker redelivery

    assert push_service.count() == 1
    assert [m.to for m in mail.outbox] == [["charlie@example.org"]]
    assert _sent(incident.id) == {"webpush": 1, "email": 1}


def test_without_a_vapid_key_in_production_push_reaches_nobody(
    push_service, settings, alice, alice_checkin
):
    settings.DEBUG = False
    settings.VAPID_PRIVATE_KEY = ""
    subscribe(push_service, alice)

    deliveries_send_batch(checkin_ids=[alice_checkin.id])

    assert push_service.count() == 0
    assert [m.to for m in mail.outbox] == [["alice@example.org"]]


def test_debug_without_a_key_generates_and_keeps_a_demo_key(settings, tmp_path, client):
    settings.DEBUG = True
    settings.VAPID_PRIVATE_KEY = ""
    settings.VAR_DIR = tmp_path

    first = client.get("/api/push/vapid-public-key/").json()["public_key"]
    settings.SAFE_PUSH_IN_FLIGHT = 4  # any push setting change rebuilds the sender

    assert client.get("/api/push/vapid-public-key/").json()["public_key"] == first
    assert json.loads((tmp_path / "vapid.json").read_text())["public_key"] == first


@pytest.mark.parametrize(
    ("purpose", "title", "sender", "language", "link", "token"),
    [
        ("ask", "Paris attacks", "", "en", "https://safe.example/r/", "1f.2.abc-_"),
        ("reminder", 'Quote " and \\ and </script>', "", "fr", "http://x/r/", "a.b.c"),
        ("nudge", "Séisme 🌍", 'Bob "the" friend', "fr", "https://s.example/r/", "9.9.Zz"),
        ("escalation", "NUL \x00id\x00 in the title", "", "en", "https://s/r/", "1.2.3"),
        ("ask", "stand-in \\u0000token\\u0000", "", "en", "https://s/r/", "1.2.3"),
        ("ask", "a link that is not prefix + token", "", "en", "https://s/other", "1.2.3"),
        ("ask", "a token that JSON must escape", "", "en", "https://s/r/", 'x"y'),
        ("ask", "A very long title " * 200, "", "en", "https://s/r/", "1.2.3"),
    ],
)
def test_a_checkin_payload_is_the_json_of_its_message(
    purpose, title, sender, language, link, token, settings
):
    """The payload of a check-in's push is filled into a template made once per wording; it
    must be exactly the JSON the message itself encodes to, whatever the words hold."""
    from backend.notifications.channels.base import Message
    from backend.notifications.channels.webpush import _payload_json, push_payload

    for checkin_id, drill in [(1, False), (123456789012, True)]:
        message = Message(
            checkin_id=checkin_id,
            incident_title=title,
            drill=drill,
            purpose=purpose,
            token=token,
            link=link + token if link.endswith("/") else link,
            language=language,
            sender_name=sender,
        )
        payload = push_payload(message)
        assert payload == _payload_json(message, checkin_id)
        data = json.loads(payload)
        assert (data["checkin"], data["tag"], data["token"]) == (
            checkin_id,
            f"checkin-{checkin_id}",
            token,
        )
