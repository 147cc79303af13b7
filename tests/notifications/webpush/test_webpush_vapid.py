import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from backend.notifications.webpush.vapid import (
    MAX_CACHED_ORIGINS,
    RENEW_WHEN_LEFT,
    TOKEN_LIFETIME,
    VapidSigner,
    b64url_decode,
    endpoint_origin,
    generate_vapid_keypair,
)

T0 = 1_800_000_000.0
FCM = "https://fcm.googleapis.com/fcm/send/abc"


@pytest.fixture
def signer() -> VapidSigner:
    private_key, _ = generate_vapid_keypair()
    return VapidSigner(private_key, "mailto:ops@example.org")


def parse_header(header: str) -> tuple[dict, str, str]:
    assert header.startswith("vapid t=")
    token_part, key_part = header.removeprefix("vapid ").split(", ")
    token = token_part.removeprefix("t=")
    claims = json.loads(b64url_decode(token.split(".")[1]))
    return claims, token, key_part.removeprefix("k=")


def test_keypair_is_a_raw_scalar_and_an_uncompressed_point():
    private_key, public_key = generate_vapid_keypair()

    assert len(b64url_decode(private_key)) == 32
    point = b64url_decode(public_key)
    assert len(point) == 65
    assert point[0] == 0x04
    assert "=" not in private_key + public_key


def test_header_carries_a_verifiable_es256_jwt_for_the_endpoint_origin(signer):
    claims, token, key = parse_header(signer.authorization(FCM, now=T0))

    assert claims == {
        "aud": "https://fcm.googleapis.com",
        "exp": int(T0) + TOKEN_LIFETIME,
        "sub": "mailto:ops@example.org",
    }
    assert key == signer.public_key
    header_b64, claims_b64, signature_b64 = token.split(".")
    assert json.loads(b64url_decode(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    signature = b64url_decode(signature_b64)
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
    public_key.verify(
        encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        ),
        f"{header_b64}.{claims_b64}".encode(),
        ec.ECDSA(hashes.SHA256()),
    )


def test_header_is_reused_for_every_endpoint_of_the_same_origin(signer):
    first = signer.authorization(FCM, now=T0)

    assert signer.authorization("https://fcm.googleapis.com/fcm/send/xyz", now=T0 + 60) is first


def test_another_origin_gets_its_own_header(signer):
    fcm = signer.authorization(FCM, now=T0)
    mozilla = signer.authorization("https://updates.push.services.mozilla.com/wpush/v2/x", now=T0)

    assert mozilla != fcm
    assert parse_header(mozilla)[0]["aud"] == "https://updates.push.services.mozilla.com"
    assert signer.authorization(FCM, now=T0) is fcm


def test_the_audience_is_the_origin_whatever_the_endpoint_spells(signer):
    """Headers are cached by the endpoint's scheme and authority as written; the audience
    is still the normalised origin, and an endpoint with no path or a query has one too."""
    for endpoint, audience in [
        ("https://push.example:443/a", "https://push.example"),
        ("https://push.example", "https://push.example"),
        ("https://push.example:8443?x=1", "https://push.example:8443"),
        ("https://[::1]:8443/p", "https://[::1]:8443"),
    ]:
        assert parse_header(signer.authorization(endpoint, now=T0))[0]["aud"] == audience
    with pytest.raises(ValueError, match="http"):
        signer.authorization("ftp://push.example/a", now=T0)


def test_the_header_cache_stays_bounded_however_many_hosts_subscribe(signer):
    for n in range(MAX_CACHED_ORIGINS + 10):
        signer.authorization(f"https://host{n}.example/push", now=T0)

    assert len(signer._cache) <= MAX_CACHED_ORIGINS
    assert parse_header(signer.authorization(FCM, now=T0))[0]["aud"] == "https://fcm.googleapis.com"


def test_header_is_kept_until_less_than_an_hour_of_validity_remains(signer):
    first = signer.authorization(FCM, now=T0)
    last_reuse = T0 + TOKEN_LIFETIME - RENEW_WHEN_LEFT

    assert signer.authorization(FCM, now=last_reuse) is first
    renewed = signer.authorization(FCM, now=last_reuse + 1)
    assert renewed != first
    assert parse_header(renewed)[0]["exp"] == int(last_reuse + 1) + TOKEN_LIFETIME


@pytest.mark.parametrize(
    ("endpoint", "origin"),
    [
        ("https://push.example.org/a/b?c=d", "https://push.example.org"),
        ("https://push.example.org:443/a", "https://push.example.org"),
        ("https://PUSH.example.org:8443/a", "https://push.example.org:8443"),
        ("http://127.0.0.1:8080/push/x", "http://127.0.0.1:8080"),
        ("http://[::1]:9000/push/x", "http://[::1]:9000"),
    ],
)
def test_audience_is_the_serialized_origin(endpoint, origin):
    assert endpoint_origin(endpoint) == origin


@pytest.mark.parametrize("subject", ["mailto:ops@example.org", "https://safe.example.org/contact"])
def test_subject_may_be_a_mailto_address_or_an_https_url(subject):
    private_key, _ = generate_vapid_keypair()

    assert VapidSigner(private_key, subject).subject == subject


@pytest.mark.parametrize(
    "subject", ["", "ops@example.org", "mailto:", "http://safe.example.org", "https://"]
)
def test_subject_that_is_not_mailto_or_https_is_rejected(subject):
    private_key, _ = generate_vapid_keypair()

    with pytest.raises(ValueError, match="subject"):
        VapidSigner(private_key, subject)


def test_private_key_that_is_not_a_32_byte_scalar_is_rejected():
    _, public_key = generate_vapid_keypair()

    with pytest.raises(ValueError, match="32-byte"):
        VapidSigner(public_key, "mailto:ops@example.org")
