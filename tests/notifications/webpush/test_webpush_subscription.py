import secrets
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from backend.notifications.webpush.transport import (
    PushTarget,
    split_endpoint,
    validate_subscription,
)
from backend.notifications.webpush.vapid import b64url_encode

ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc"


def browser_keys() -> tuple[str, str]:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return b64url_encode(point), b64url_encode(secrets.token_bytes(16))


def validate(endpoint: str = ENDPOINT, *, p256dh: str = "", auth: str = "", loopback=False):
    good_p256dh, good_auth = browser_keys()
    return validate_subscription(
        endpoint, p256dh or good_p256dh, auth or good_auth, allow_http_loopback=loopback
    )


def test_valid_subscription_becomes_a_push_target():
    p256dh, auth = browser_keys()

    target = validate_subscription(ENDPOINT, p256dh, auth, allow_http_loopback=False)

    assert target == PushTarget(endpoint=ENDPOINT, p256dh=p256dh, auth=auth)


def test_padded_base64url_keys_are_accepted():
    p256dh, auth = browser_keys()

    target = validate(p256dh=p256dh + "=", auth=auth + "==")

    assert target.p256dh == p256dh + "="


def test_http_endpoint_is_rejected_unless_loopback_is_allowed():
    with pytest.raises(ValueError, match="https"):
        validate("http://127.0.0.1:8000/push/x")


@pytest.mark.parametrize(
    "endpoint",
    ["http://127.0.0.1:8000/push/x", "http://localhost/push/x", "http://[::1]:9000/push/x"],
)
def test_http_loopback_endpoint_is_accepted_when_allowed(endpoint):
    assert validate(endpoint, loopback=True).endpoint == endpoint


def test_http_endpoint_on_another_host_is_rejected_even_when_loopback_is_allowed():
    with pytest.raises(ValueError, match="loopback"):
        validate("http://push.example.org/x", loopback=True)


@pytest.mark.parametrize("endpoint", ["ftp://push.example.org/x", "push.example.org/x", ""])
def test_endpoint_that_is_not_an_https_url_is_rejected(endpoint):
    with pytest.raises(ValueError, match="endpoint"):
        validate(endpoint)


def test_endpoint_longer_than_1024_characters_is_rejected():
    endpoint = "https://push.example.org/" + "a" * 1000

    with pytest.raises(ValueError, match="1024"):
        validate(endpoint)


def test_endpoint_of_exactly_1024_characters_is_accepted():
    endpoint = ENDPOINT + "a" * (1024 - len(ENDPOINT))

    assert validate(endpoint).endpoint == endpoint


def test_p256dh_that_is_not_base64url_is_rejected():
    with pytest.raises(ValueError, match="p256dh is not valid base64url"):
        validate(p256dh="not base64!")


def test_p256dh_of_the_wrong_length_is_rejected():
    with pytest.raises(ValueError, match="65-byte"):
        validate(p256dh=b64url_encode(b"\x04" + secrets.token_bytes(32)))


def test_compressed_p256dh_point_is_rejected():
    compressed = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    )

    with pytest.raises(ValueError, match="uncompressed"):
        validate(p256dh=b64url_encode(compressed))


def test_p256dh_point_off_the_curve_is_rejected():
    off_curve = b"\x04" + (1).to_bytes(32, "big") + (1).to_bytes(32, "big")

    with pytest.raises(ValueError, match="curve"):
        validate(p256dh=b64url_encode(off_curve))


@pytest.mark.parametrize("size", [8, 15, 17, 32])
def test_auth_secret_that_is_not_16_bytes_is_rejected(size):
    with pytest.raises(ValueError, match="16-byte"):
        validate(auth=b64url_encode(secrets.token_bytes(size)))


def test_auth_secret_that_is_not_base64url_is_rejected():
    with pytest.raises(ValueError, match="auth is not valid base64url"):
        validate(auth="***")


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc:APA91b-x_y",
        "http://127.0.0.1:8080/push/1",
        "https://push.example.org",
        "https://u:p@push.example.org:8443//a;b",
        # Not the plain shape: left to urlsplit, whatever it makes of them.
        "HTTPS://push.example.org/x",
        "https://push.example.org/x?q=1#f",
        "https://[::1]:443/x",
        " https://push.example.org/x\n",
        "https://push.example.org\t/x y",
        "https://pùsh.example.org/x",
        "https://push.example.org\\x/y",
        "ftp://push.example.org/x",
    ],
)
def test_an_endpoint_is_split_as_urlsplit_splits_it(endpoint):
    assert split_endpoint(endpoint) == urlsplit(endpoint)


def test_a_broken_endpoint_fails_as_urlsplit_does():
    with pytest.raises(ValueError, match="Invalid IPv6 URL"):
        split_endpoint("https://[::1/push")
