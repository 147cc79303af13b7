"""POST/DELETE /api/me/push-subscriptions/ and GET /api/push/vapid-public-key/."""

import pytest

from backend.notifications.models import PushSubscription
from backend.notifications.webpush.vapid import b64url_encode

pytestmark = pytest.mark.django_db

URL = "/api/me/push-subscriptions/"


@pytest.fixture
def browser(push_service, vapid):
    """A subscription as the browser's PushSubscription.toJSON() gives it."""
    return push_service.subscribe()


def test_vapid_public_key_is_public(client, vapid):
    response = client.get("/api/push/vapid-public-key/")

    assert response.status_code == 200
    assert response.json() == {"public_key": vapid}


def test_vapid_public_key_says_when_push_is_off(client, settings):
    settings.DEBUG = False
    settings.VAPID_PRIVATE_KEY = ""

    response = client.get("/api/push/vapid-public-key/")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "push_unavailable"


def test_a_subscription_is_stored_for_the_signed_in_person(api, alice, browser):
    response = api(alice).post(URL, browser, format="json")

    assert response.status_code == 201
    stored = PushSubscription.objects.get()
    assert (stored.person, stored.endpoint) == (alice, browser["endpoint"])
    assert (stored.p256dh, stored.auth) == (browser["keys"]["p256dh"], browser["keys"]["auth"])


def test_posting_the_same_endpoint_again_updates_it(api, alice, browser, push_service):
    api(alice).post(URL, browser, format="json")
    browser["keys"] = push_service.subscribe()["keys"]

    response = api(alice).post(URL, browser, format="json")

    assert response.status_code == 200
    assert PushSubscription.objects.get().auth == browser["keys"]["auth"]


def test_an_endpoint_posted_by_someone_else_moves_to_them(api, alice, bob, browser):
    api(alice).post(URL, browser, format="json")

    api(bob).post(URL, browser, format="json")

    assert PushSubscription.objects.get().person == bob


def test_a_person_may_have_several_devices_up_to_the_limit(
    api, alice, push_service, vapid, settings
):
    settings.SAFE_PUSH_MAX_SUBSCRIPTIONS = 2
    endpoints = []
    for _ in range(3):
        subscription = push_service.subscribe()
        endpoints.append(subscription["endpoint"])
        api(alice).post(URL, subscription, format="json")

    kept = set(PushSubscription.objects.values_list("endpoint", flat=True))
    assert kept == set(endpoints[1:])


def _with(browser: dict, **changes) -> dict:
    keys = dict(browser["keys"], **{k: v for k, v in changes.items() if k in ("p256dh", "auth")})
    body = {**browser, "keys": keys}
    if "endpoint" in changes:
        body["endpoint"] = changes["endpoint"]
    return body


BAD = {
    "https is required": {"endpoint": "ftp://push.example.org/abc"},
    "no host": {"endpoint": "https:///abc"},
    "http off loopback": {"endpoint": "http://push.example.org/abc"},
    "endpoint too long": {"endpoint": "https://push.example.org/" + "a" * 1100},
    "p256dh not base64url": {"p256dh": "not base64!"},
    "p256dh wrong length": {"p256dh": b64url_encode(b"\x04" + b"\x01" * 40)},
    "p256dh not on the curve": {"p256dh": b64url_encode(b"\x04" + b"\x01" * 64)},
    "p256dh too long": {"p256dh": "A" * 200},
    "auth wrong length": {"auth": b64url_encode(b"x" * 8)},
    "auth too long": {"auth": "A" * 40},
}


@pytest.mark.parametrize("change", BAD.values(), ids=BAD.keys())
def test_a_bad_subscription_is_refused_and_nothing_is_stored(api, alice, browser, change):
    response = api(alice).post(URL, _with(browser, **change), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["message"]
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize("body", [{}, {"endpoint": "https://x.org/a"}, {"keys": {}}, []])
def test_a_malformed_body_is_refused(api, alice, body):
    assert api(alice).post(URL, body, format="json").status_code == 400
    assert not PushSubscription.objects.exists()


def test_http_loopback_endpoints_are_refused_unless_allowed(api, alice, browser, settings):
    settings.SAFE_PUSH_ALLOW_HTTP_LOOPBACK = False

    response = api(alice).post(URL, browser, format="json")

    assert response.status_code == 400
    assert "https" in response.json()["error"]["message"]


def test_subscribing_needs_a_signed_in_person(api, browser):
    assert api(None).post(URL, browser, format="json").status_code in (401, 403)


def test_a_person_deletes_their_own_subscription(api, alice, browser):
    api(alice).post(URL, browser, format="json")

    response = api(alice).delete(URL, {"endpoint": browser["endpoint"]}, format="json")

    assert response.status_code == 204
    assert not PushSubscription.objects.exists()


def test_deleting_someone_elses_subscription_is_not_found(api, alice, charlie, browser):
    api(alice).post(URL, browser, format="json")

    response = api(charlie).delete(URL, {"endpoint": browser["endpoint"]}, format="json")

    assert response.status_code == 404
    assert PushSubscription.objects.filter(person=alice).exists()
