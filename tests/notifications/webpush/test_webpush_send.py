import email.utils
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from backend.notifications.webpush.transport import (
    MAX_PAYLOAD,
    PushResult,
    PushSender,
    PushTarget,
    encrypt,
    parse_retry_after,
    retry_delay,
    validate_subscription,
)
from backend.notifications.webpush.vapid import generate_vapid_keypair
from tests.support.push_service import PushService

PAYLOAD = b'{"checkin": 42, "title": "Are you safe?"}'


def target_for(subscription: dict) -> PushTarget:
    return validate_subscription(
        subscription["endpoint"],
        subscription["keys"]["p256dh"],
        subscription["keys"]["auth"],
        allow_http_loopback=True,
    )


def test_sent_message_is_decrypted_by_the_push_service_with_its_headers(push_service, sender):
    subscription = push_service.subscribe()

    result = sender.send(target_for(subscription), PAYLOAD, ttl=3600, urgency="high")

    assert result == PushResult("sent", 201, None, "")
    [message] = push_service.wait_for(1)
    assert message.subscription_id == PushService.id_of(subscription)
    assert message.payload == PAYLOAD
    assert message.headers["ttl"] == "3600"
    assert message.headers["urgency"] == "high"
    assert message.headers["content-encoding"] == "aes128gcm"
    assert message.headers["content-type"] == "application/octet-stream"
    assert message.headers["authorization"].startswith("vapid t=")
    assert "topic" not in message.headers
    assert push_service.rejections == []


def test_sender_ignores_proxy_environment_variables(push_service, sender, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")

    result = sender.send(target_for(push_service.subscribe()), PAYLOAD, ttl=60)

    assert result.outcome == "sent"


def test_topic_and_urgency_are_passed_to_the_push_service(push_service, sender):
    subscription = push_service.subscribe()

    sender.send(target_for(subscription), PAYLOAD, ttl=60, urgency="low", topic="checkin-42")

    [message] = push_service.wait_for(1)
    assert message.headers["urgency"] == "low"
    assert message.headers["topic"] == "checkin-42"


def test_largest_allowed_payload_arrives_intact(push_service, sender):
    payload = bytes(range(256)) * (MAX_PAYLOAD // 256) + b"x" * (MAX_PAYLOAD % 256)

    result = sender.send(target_for(push_service.subscribe()), payload, ttl=60)

    assert result.outcome == "sent"
    assert push_service.wait_for(1)[0].payload == payload


def test_payload_over_the_limit_is_refused_before_sending(push_service, sender):
    target = target_for(push_service.subscribe())

    with pytest.raises(ValueError, match=str(MAX_PAYLOAD)):
        sender.send(target, b"x" * (MAX_PAYLOAD + 1), ttl=60)
    assert push_service.count() == 0


def test_encrypted_body_is_a_single_aes128gcm_record_within_4096_bytes(push_service):
    body = encrypt(b"x" * MAX_PAYLOAD, target_for(push_service.subscribe()))

    assert len(body) == 4096
    assert int.from_bytes(body[16:20], "big") == 4096
    assert body[20] == 65


def test_one_vapid_header_serves_all_subscriptions_on_the_service(push_service, sender):
    for subscription in (push_service.subscribe(), push_service.subscribe()):
        sender.send(target_for(subscription), PAYLOAD, ttl=60)

    first, second = push_service.wait_for(2)
    assert first.headers["authorization"] == second.headers["authorization"]


def test_concurrent_sends_over_the_pool_all_arrive(push_service, sender):
    targets = [target_for(push_service.subscribe()) for _ in range(4)]
    messages = [(targets[i % 4], f"message {i}".encode()) for i in range(40)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda m: sender.send(m[0], m[1], ttl=60), messages))

    assert {r.outcome for r in results} == {"sent"}
    assert sorted(r.payload for r in push_service.wait_for(40)) == sorted(p for _, p in messages)


def test_gone_subscription_is_reported_for_deletion(push_service, sender):
    subscription = push_service.subscribe()
    push_service.gone(PushService.id_of(subscription))

    result = sender.send(target_for(subscription), PAYLOAD, ttl=60)

    assert (result.outcome, result.status) == ("gone", 410)
    assert push_service.count() == 0


def test_unknown_subscription_is_reported_for_deletion(push_service, sender):
    subscription = push_service.subscribe()
    endpoint = f"{push_service.origin}/push/never-subscribed"
    target = PushTarget(endpoint, subscription["keys"]["p256dh"], subscription["keys"]["auth"])

    result = sender.send(target, PAYLOAD, ttl=60)

    assert (result.outcome, result.status) == ("gone", 404)


def test_rate_limit_is_retried_no_sooner_than_retry_after(push_service, sender):
    subscription = push_service.subscribe()
    push_service.fail_next(PushService.id_of(subscription), 429, retry_after=30)

    result = sender.send(target_for(subscription), PAYLOAD, ttl=60)

    assert (result.outcome, result.status, result.retry_after) == ("retry", 429, 30.0)
    assert 30.0 <= retry_delay(1, result.retry_after) <= 900.0
    assert sender.send(target_for(subscription), PAYLOAD, ttl=60).outcome == "sent"


def test_retry_after_may_be_an_http_date(push_service, sender):
    subscription = push_service.subscribe()
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    push_service.fail_next(PushService.id_of(subscription), 503, retry_after=when)

    result = sender.send(target_for(subscription), PAYLOAD, ttl=60)

    assert result.outcome == "retry"
    assert result.retry_after is not None
    assert 100 <= result.retry_after <= 121


def test_server_error_is_retried(push_service, sender):
    subscription = push_service.subscribe()
    push_service.fail_next(PushService.id_of(subscription), 500, times=2)
    target = target_for(subscription)

    outcomes = [sender.send(target, PAYLOAD, ttl=60) for _ in range(3)]

    assert [(r.outcome, r.status, r.retry_after) for r in outcomes] == [
        ("retry", 500, None),
        ("retry", 500, None),
        ("sent", 201, None),
    ]


def test_bad_request_fails_without_retry(push_service, sender):
    subscription = push_service.subscribe()
    push_service.fail_next(PushService.id_of(subscription), 400)

    result = sender.send(target_for(subscription), PAYLOAD, ttl=60)

    assert (result.outcome, result.status) == ("failed", 400)
    assert result.error.startswith("HTTP 400")


def test_refused_connection_is_retried(signer):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with PushService() as service:
        keys = service.subscribe()["keys"]
    target = PushTarget(f"http://127.0.0.1:{port}/push/x", keys["p256dh"], keys["auth"])

    with PushSender(signer=signer) as sender:
        result = sender.send(target, PAYLOAD, ttl=60, timeout=2)

    assert (result.outcome, result.status, result.retry_after) == ("retry", None, None)
    assert "ConnectionError" in result.error


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ttl": -1}, "ttl"),
        ({"ttl": 60, "urgency": "urgent"}, "urgency"),
        ({"ttl": 60, "topic": "has spaces"}, "topic"),
        ({"ttl": 60, "topic": "t" * 33}, "topic"),
    ],
)
def test_bad_send_arguments_are_refused(push_service, sender, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sender.send(target_for(push_service.subscribe()), PAYLOAD, **kwargs)


def test_push_service_rejects_a_header_signed_for_another_origin(push_service, signer):
    subscription = push_service.subscribe()
    target = target_for(subscription)

    response = requests.post(
        subscription["endpoint"],
        data=encrypt(PAYLOAD, target),
        headers={
            "TTL": "60",
            "Content-Encoding": "aes128gcm",
            "Authorization": signer.authorization("https://elsewhere.example.org/push"),
        },
        timeout=5,
    )

    assert response.status_code == 403
    assert "aud" in push_service.rejections[0].reason
    assert push_service.count() == 0


def test_push_service_rejects_a_forged_signature(push_service, signer):
    subscription = push_service.subscribe()
    _, other_public_key = generate_vapid_keypair()
    header = signer.authorization(subscription["endpoint"])
    forged = header.split(", k=")[0] + f", k={other_public_key}"

    response = requests.post(
        subscription["endpoint"],
        data=encrypt(PAYLOAD, target_for(subscription)),
        headers={"TTL": "60", "Content-Encoding": "aes128gcm", "Authorization": forged},
        timeout=5,
    )

    assert response.status_code == 401
    assert "signature" in push_service.rejections[0].reason


def test_retry_delay_grows_exponentially_with_jitter_up_to_the_cap():
    delays = {attempt: retry_delay(attempt, None, base=5, cap=900) for attempt in range(1, 12)}

    assert 2.5 <= delays[1] <= 5
    assert 20 <= delays[4] <= 40
    assert 450 <= delays[11] <= 900
    assert 450 <= retry_delay(5000, None, base=5, cap=900) <= 900
    assert len({retry_delay(3, None) for _ in range(20)}) > 1


def test_retry_delay_never_exceeds_the_cap_even_for_a_long_retry_after():
    assert retry_delay(1, 86_400, cap=900) == 900


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        ("soon", None),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
    ],
)
def test_retry_after_header_is_read_as_seconds(header, seconds):
    assert parse_retry_after(header) == seconds
