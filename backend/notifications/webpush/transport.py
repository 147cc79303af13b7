"""Send Web Push messages (RFC 8030) encrypted with aes128gcm (RFC 8291) and signed with VAPID.

Plain values in, a `PushResult` out: the Django channel decides what to do with it.
"""

from __future__ import annotations

import email.utils
import http.client
import random
import re
import select
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import certifi
import http_ece
from cryptography.hazmat.primitives.asymmetric import ec

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
    """Send push messages over kept-alive connections; safe to share between threads.

    Each thread keeps one `http.client` connection per push-service origin. `requests`
    cost about a millisecond of CPU per POST here (more than the encryption: the fan-out
    is CPU-bound on the sending side), for features a push needs none of: no redirects
    (one would turn the POST into a GET elsewhere), no cookies, no proxy or .netrc
    lookups from the environment, no retries (the caller's job: it knows the TTL and the
    attempt count). Egress through a proxy is set once with `proxy`.
    """

    def __init__(
        self, *, signer: VapidSigner, pool_size: int = 10, proxy: str | None = None
    ) -> None:
        self.signer = signer
        # Connections per origin are per thread; the caller bounds the threads per origin
        # (SAFE_PUSH_ORIGIN_CONCURRENCY), so POOL_SIZE only sizes the idle bookkeeping.
        self.pool_size = pool_size
        self._proxy = urlsplit(proxy) if proxy is not None else None
        self._local = threading.local()
        self._open: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

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
        parts = urlsplit(target.endpoint)
        path = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
        connection = self._connection(parts.scheme, parts.netloc, timeout)
        if self._proxy is not None and parts.scheme == "http":
            path = target.endpoint  # a plain-http proxy takes the absolute URL
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            detail = response.read(_ERROR_BODY_CHARS) if response.status >= 300 else b""
            response.read()  # drain, so the connection can carry the next request
        except TimeoutError as exc:
            self._discard(parts.scheme, parts.netloc)
            return PushResult("retry", None, None, f"Timeout: {exc}")
        except (OSError, http.client.HTTPException) as exc:
            self._discard(parts.scheme, parts.netloc)
            return PushResult("retry", None, None, f"ConnectionError: {type(exc).__name__}: {exc}")
        if response.will_close:
            self._discard(parts.scheme, parts.netloc)
        return _classify(response.status, response.getheader("Retry-After"), detail)

    def _connection(self, scheme: str, netloc: str, timeout: float) -> http.client.HTTPConnection:
        """This thread's connection to the origin, reopened if the server closed it."""
        connections: dict[tuple[str, str], http.client.HTTPConnection] | None = getattr(
            self._local, "connections", None
        )
        if connections is None:
            connections = self._local.connections = {}
        connection = connections.get((scheme, netloc))
        if connection is not None and _dropped(connection):
            self._discard(scheme, netloc)
            connection = None
        if connection is None:
            connection = connections[(scheme, netloc)] = self._open_connection(
                scheme, netloc, timeout
            )
            with self._lock:
                self._open.add(connection)
        elif connection.timeout != timeout:
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
        return connection

    def _open_connection(
        self, scheme: str, netloc: str, timeout: float
    ) -> http.client.HTTPConnection:
        proxy = self._proxy
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context(cafile=certifi.where())
            if proxy is None:
                return http.client.HTTPSConnection(netloc, timeout=timeout, context=self._tls)
            tunnel = http.client.HTTPSConnection(proxy.netloc, timeout=timeout, context=self._tls)
            tunnel.set_tunnel(netloc)
            return tunnel
        return http.client.HTTPConnection(proxy.netloc if proxy else netloc, timeout=timeout)

    def _discard(self, scheme: str, netloc: str) -> None:
        connections = getattr(self._local, "connections", {})
        connection = connections.pop((scheme, netloc), None)
        if connection is not None:
            connection.close()
            with self._lock:
                self._open.discard(connection)

    def close(self) -> None:
        """Close every thread's connections (a thread that sends again reopens its own)."""
        with self._lock:
            connections, self._open = self._open, set()
        for connection in connections:
            connection.close()

    def __enter__(self) -> PushSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether a kept-alive connection was closed by the server while idle.

    An idle connection has nothing to read: readable means end-of-file (or junk). Reusing
    it would fail a POST the service never saw; reopen instead.
    """
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _classify(status: int, retry_after: str | None, detail_bytes: bytes) -> PushResult:
    if 200 <= status < 300:
        return PushResult("sent", status, None, "")
    detail = detail_bytes.decode("utf-8", "replace").strip()
    error = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    if status in (404, 410):
        return PushResult("gone", status, None, error)
    if status == 429 or status >= 500:
        return PushResult("retry", status, parse_retry_after(retry_after), error)
    return PushResult("failed", status, None, error)
