"""Rate limits: atomic Redis counters, 429 with Retry-After in the one error shape."""

import threading

import pytest
from django.test import Client
from rest_framework.test import APIClient

from backend.checkins.tokens import checkin_token
from backend.common.ratelimit import RateLimited, rate_limit_hit


@pytest.fixture
def tight(settings, rate_limits):
    settings.SAFE_RATE_LIMITS = {
        "signin": (3, 60),
        "signup": (2, 3600),
        "one_tap": (4, 60),
        "magic_link": (2, 900),
        "sms_send": (2, 3600),
        "nudge": (2, 3600),
        "one_time_code": (2, 900),
    }


def assert_429(response) -> None:
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert response.json()["error"]["code"] == "throttled"


@pytest.mark.django_db
def test_sign_in_is_limited_per_address(tight, alice):
    client = APIClient()
    body = {"email": alice.email, "password": "guess"}
    statuses = [client.post("/api/auth/token/", body, format="json").status_code for _ in range(3)]
    assert statuses == [400, 400, 400]
    assert_429(client.post("/api/auth/token/", body, format="json"))
    other = APIClient(REMOTE_ADDR="198.51.100.7")
    assert other.post("/api/auth/token/", body, format="json").status_code == 400


@pytest.mark.django_db
def test_sign_up_is_limited_and_refused_sign_ups_create_nobody(tight):
    from backend.accounts.models import User

    client = APIClient()
    for n in range(2):
        body = {"email": f"p{n}@example.org", "password": "long enough pw 1", "name": "P"}
        assert client.post("/api/people/", body, format="json").status_code == 201
    body = {"email": "p9@example.org", "password": "long enough pw 1", "name": "P"}
    assert_429(client.post("/api/people/", body, format="json"))
    assert not User.objects.filter(email="p9@example.org").exists()


@pytest.mark.django_db
def test_one_tap_posts_are_limited_but_showing_the_page_is_not(tight, alice_checkin):
    client = Client()
    url = f"/r/{checkin_token(alice_checkin.id, alice_checkin.incident_id)}"
    for _ in range(4):
        assert client.post(url, {"status": "safe"}).status_code == 200
    assert_429(client.post(url, {"status": "safe"}))
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_counting_is_atomic_under_concurrency(tight):
    refused = []

    def hit() -> None:
        try:
            rate_limit_hit(scope="signin", key="ip:203.0.113.9")
        except RateLimited:
            refused.append(1)

    threads = [threading.Thread(target=hit) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(refused) == 40 - 3


@pytest.mark.django_db
def test_an_unreachable_redis_lets_people_through(tight, settings, alice):
    from backend.common.ratelimit import reset_client

    settings.SAFE_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:9/0"
    reset_client()
    client = APIClient()
    body = {"email": alice.email, "password": "guess"}
    statuses = {client.post("/api/auth/token/", body, format="json").status_code for _ in range(6)}
    assert statuses == {400}


@pytest.mark.django_db
def test_no_address_is_kept_in_redis(tight, settings):
    import redis

    rate_limit_hit(scope="signin", key="ip:203.0.113.77")
    keys = [k.decode() for k in redis.Redis.from_url(settings.REDIS_URL).scan_iter("rl:*")]
    assert keys
    assert not any("203.0.113.77" in key for key in keys)
