"""Send Web Push messages (RFC 8030) encrypted with aes128gcm (RFC 8291) and signed with VAPID.

Plain values in, a `PushResult` out: the Django channel decides what to do with it.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import http_ece
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from requests.adapters import HTTPAdapter

from backend.notifications.webpush.vapid import VapidSigner, b64url_decode

RECORD_SIZE = 4096
# One record of 4096 bytes minus the header (16 salt + 4 rs + 1 idlen + 65 key), the
# padding delimiter (1) and the AEAD tag (16): RFC 8291 section 4.
MAX_PAYLOAD = 3993
MAX_ENDPOINT_LENGTH = 1024
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
URGENCIES = frozenset({"very-low", "low", "normal", "high"})
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_ERROR_BODY_CHARS = 200

Outcome = Literal["sent", "gone", "retry", "failed"]


@dataclass(frozen=True)
class PushTarget:
    """A browser push subscription: endpoint plus its base64url `p256dh` and `auth` keys."""

    endpoint: str
    p256dh: str
    auth: str


@dataclass
class PushResult:
    """What happened to one push request, and what the caller should do next.

    `gone` means the subscription must be deleted; `retry` carries the push service's
    `Retry-After` in seconds when it sent one.
    """

    outcome: Outcome
    status: int | None
    retry_after: float | None
    error: str


def validate_subscription(
    endpoint: str, p256dh: str, auth: str, *, allow_http_loopback: bool
) -> PushTarget:
    """Check a subscription as the browser gave it; raise ValueError saying what is wrong."""
    if len(endpoint) > MAX_ENDPOINT_LENGTH:
        raise ValueError(f"endpoint is longer than {MAX_ENDPOINT_LENGTH} characters")
    parts = urlsplit(endpoint)
    if not parts.hostname:
        raise ValueError("endpoint must be an absolute URL with a host")
    if parts.scheme == "http":
        if not allow_http_loopback:
            raise ValueError("endpoint must use https")
        if parts.hostname not in LOOPBACK_HOSTS:
            raise ValueError("plain http endpoints are only allowed on a loopback host")
    elif parts.scheme != "https":
        raise ValueError("endpoint must use https")
    point = _decode_key("p256dh", p256dh)
    if len(point) != 65 or point[0] != 0x04:
        raise ValueError("p256dh must be a 65-byte uncompressed P-256 point")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise ValueError("p256dh is not a point on the P-256 curve") from exc
    if len(_decode_key("auth", auth)) != 16:
        raise ValueError("auth must be a 16-byte secret")
    return PushTarget(endpoint=endpoint, p256dh=p256dh, auth=auth)


def _decode_key(name: str, value: str) -> bytes:
    try:
        return b64url_decode(value)
    except ValueError as exc:
        raise ValueError(f"{name} is not valid base64url") from exc


def encrypt(payload: bytes, target: PushTarget) -> bytes:
    """Encrypt a payload for one subscription as an aes128gcm body (a fresh key per message)."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"push payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD}")
    body: bytes = http_ece.encrypt(
        payload,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=b64url_decode(target.p256dh),
        auth_secret=b64url_decode(target.auth),
        rs=RECORD_SIZE,
        version="aes128gcm",
    )
    return body


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Read a `Retry-After` header (delay in seconds or an HTTP-date) as seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def retry_delay(
    attempt: int, retry_after: float | None, *, base: float = 5.0, cap: float = 900.0
) -> float:
    """Return seconds to wait before retry number `attempt` (1 = first retry).

    Exponential backoff with jitter so a push service outage does not end in a thundering
    herd, never sooner than the service's `Retry-After`, and never longer than `cap`: a
    check-in that waits more than a quarter of an hour has usually been answered elsewhere.
    """
    # Clamp the exponent: the cap is reached long before, and 2.0**1024 overflows.
    backoff = min(cap, base * 2.0 ** min(max(0, attempt - 1), 32))
    # "Equal jitter": at least half the backoff, so retries never collapse to zero.
    delay = backoff / 2 + random.uniform(0, backoff / 2)  # noqa: S311 - not a secret
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, cap)


class PushSender:
    """Send push messages over a pooled HTTP session; safe to share between threads."""

    def __init__(
        self, *, signer: VapidSigner, pool_size: int = 10, proxy: str | None = None
    ) -> None:
        self.signer = signer
        self.session = requests.Session()
        # Scanning the environment for proxies and ~/.netrc on every request costs more CPU
        # than encrypting the message; egress through a proxy is set once with `proxy`.
        self.session.trust_env = False
        if proxy is not None:
            self.session.proxies = {"http": proxy, "https": proxy}
        # Retries are the caller's job (it knows the TTL and the attempt count).
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def send(
        self,
        target: PushTarget,
        payload: bytes,
        *,
        ttl: int,
        urgency: str = "high",
        topic: str | None = None,
        timeout: float = 10,
    ) -> PushResult:
        """Encrypt, sign and POST one message; classify the answer without raising.

        Raises ValueError only for bad arguments (payload too large, bad urgency or topic).
        """
        if ttl < 0:
            raise ValueError("ttl must not be negative")
        if urgency not in URGENCIES:
            raise ValueError(f"urgency must be one of {sorted(URGENCIES)}")
        headers = {
            "TTL": str(int(ttl)),
            "Urgency": urgency,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Authorization": self.signer.authorization(target.endpoint),
        }
        if topic is not None:
            if not _TOPIC.fullmatch(topic):
                raise ValueError("topic must be 1-32 base64url characters")
            headers["Topic"] = topic
        body = encrypt(payload, target)
        try:
            # A redirect would turn the POST into a GET elsewhere: treat it as a failure.
            response = self.session.post(
                target.endpoint, data=body, headers=headers, timeout=timeout, allow_redirects=False
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            return PushResult("retry", None, None, f"{type(exc).__name__}: {exc}")
        except requests.RequestException as exc:
            return PushResult("failed", None, None, f"{type(exc).__name__}: {exc}")
        return _classify(response)

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    def __enter__(self) -> PushSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _classify(response: requests.Response) -> PushResult:
    status = response.status_code
    if 200 <= status < 300:
        return PushResult("sent", status, None, "")
    detail = response.text[:_ERROR_BODY_CHARS].strip()
    error = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    if status in (404, 410):
        return PushResult("gone", status, None, error)
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return PushResult("retry", status, retry_after, error)
    return PushResult("failed", status, None, error)
