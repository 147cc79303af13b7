"""Send Web Push messages (RFC 8030) encrypted with aes128gcm (RFC 8291) and signed with VAPID.

Plain values in, a `PushResult` out: the Django channel decides what to do with it. The
POST goes over a minimal HTTP/1.1 client of our own (see `PushSender` for why).
"""

from __future__ import annotations

import email.utils
import random
import re
import select
import socket
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
# A push service's answer is a status and a few headers: anything near these limits is
# hostile or broken, and the connection is dropped rather than read further.
_MAX_HEAD_BYTES = 64 * 1024
_MAX_DRAIN_BYTES = 1024 * 1024
_RECV_BYTES = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-9][0-9]{2})(?: [^\r\n]*)?")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")
_NOT_IN_REQUEST_LINE = re.compile(r"[^!-~]")  # anything but visible ASCII

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

    Each thread keeps one connection per push-service origin, spoken to by the small
    HTTP/1.1 client below (`_Connection`) rather than `http.client`: py-spy put
    `http.client` at 11 % of the fan-out's samples (its header parsing goes through the
    `email` package) against 12 % for the encryption. With the encryption stubbed out, a
    POST to a loopback receiver cost 94-155 microseconds of CPU through `http.client` and
    26-68 through this client (tests/bench/push_receiver.py, interleaved runs on a noisy
    2-core VM). `requests` cost about a millisecond, for features a push needs none of: no
    redirects (one would turn the POST into a GET elsewhere), no cookies, no proxy or .netrc
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
        self._open: set[_Connection] = set()
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
        if self._proxy is not None and parts.scheme == "http":
            path = target.endpoint  # a plain-http proxy takes the absolute URL
        try:
            request = _request_head(path, parts.netloc, len(body), headers) + body
            connection = self._connection(parts.scheme, parts.netloc, timeout)
            response = connection.post(request)
        except TimeoutError as exc:
            self._discard(parts.scheme, parts.netloc)
            return PushResult("retry", None, None, f"Timeout: {exc}")
        except (OSError, ProtocolError) as exc:
            self._discard(parts.scheme, parts.netloc)
            return PushResult("retry", None, None, f"ConnectionError: {type(exc).__name__}: {exc}")
        if response.will_close:
            self._discard(parts.scheme, parts.netloc)
        return _classify(response.status, response.retry_after, response.detail)

    def _connection(self, scheme: str, netloc: str, timeout: float) -> _Connection:
        """This thread's connection to the origin, reopened if the server closed it."""
        connections: dict[tuple[str, str], _Connection] | None = getattr(
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
            connection.sock.settimeout(timeout)
        return connection

    def _open_connection(self, scheme: str, netloc: str, timeout: float) -> _Connection:
        origin = urlsplit(f"{scheme}://{netloc}")
        host = origin.hostname or ""
        port = origin.port or _DEFAULT_PORTS[scheme]
        proxy = self._proxy
        if proxy is None:
            sock = socket.create_connection((host, port), timeout)
        else:
            proxy_port = proxy.port or _DEFAULT_PORTS.get(proxy.scheme, 80)
            sock = socket.create_connection((proxy.hostname or "", proxy_port), timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                if proxy is not None:
                    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                    _Connection(sock, timeout).tunnel(authority)
                if self._tls is None:
                    self._tls = ssl.create_default_context(cafile=certifi.where())
                sock = self._tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock, timeout)

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


class ProtocolError(Exception):
    """The push service (or the proxy) answered something that is not HTTP/1.x we can read."""


@dataclass(frozen=True)
class _Response:
    status: int
    retry_after: str | None
    detail: bytes  # the start of an error response's body
    will_close: bool


class _Connection:
    """One HTTP/1.1 connection: a plain or TLS socket and the bytes read past the last line.

    Reads are bounded (`_MAX_HEAD_BYTES` of response heads, `_MAX_DRAIN_BYTES` of body) so a
    hostile push service cannot make a sender buffer, or read, without limit.
    """

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock = sock
        self.timeout = timeout
        self.buffer = bytearray()

    def post(self, request: bytes) -> _Response:
        """Send a whole request and read its response, draining the body."""
        self.sock.sendall(request)
        head = self._read_head()
        keep = _ERROR_BODY_CHARS if head.status >= 300 else 0
        if head.status in (204, 304):
            detail, drained = b"", True
        elif head.chunked:
            detail, drained = self._read_chunked(keep)
        elif head.length is None:
            detail, drained = self._read_to_close(keep), False
        elif head.length <= _MAX_DRAIN_BYTES:
            detail, drained = self._read_exact(head.length, keep), True
        else:
            detail, drained = self._read_exact(min(keep, head.length), keep), False
        # Bytes beyond the response would be taken for the next one's: start afresh instead.
        will_close = head.close or not drained or bool(self.buffer)
        return _Response(head.status, head.retry_after, detail, will_close)

    def tunnel(self, authority: str) -> None:
        """Ask an HTTP proxy for a CONNECT tunnel to `authority` (host:port)."""
        self.sock.sendall(
            f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode("ascii")
        )
        head = self._read_head()
        if not 200 <= head.status < 300:
            raise OSError(f"Tunnel connection failed: {head.status}")
        if self.buffer:
            raise ProtocolError("the proxy sent data before the TLS handshake")

    def close(self) -> None:
        self.sock.close()

    def _read_head(self) -> _Head:
        """Read the final response's status line and headers, skipping 1xx interim ones."""
        budget = _MAX_HEAD_BYTES
        while True:
            raw = self._read_until(b"\r\n\r\n", budget)
            budget -= len(raw) + 4
            head = _parse_head(raw)
            if head.status >= 200:
                return head
            if head.status == 101:
                raise ProtocolError("101 Switching Protocols to a request that asked for none")

    def _read_until(self, separator: bytes, limit: int) -> bytes:
        """Consume and return the bytes before `separator`; more than `limit` is an error."""
        buffer = self.buffer
        searched = 0
        while (end := buffer.find(separator, searched)) < 0:
            if len(buffer) >= limit + len(separator):
                break
            searched = max(0, len(buffer) - len(separator) + 1)
            self._fill()
        if end < 0 or end > limit:
            raise ProtocolError(f"no {separator!r} within {limit} bytes of the response")
        line = bytes(buffer[:end])
        del buffer[: end + len(separator)]
        return line

    def _read_exact(self, size: int, keep: int) -> bytes:
        """Consume `size` bytes; return the first `keep` of them."""
        kept = bytes(self.buffer[: min(size, keep)])
        while size > len(self.buffer):
            size -= len(self.buffer)
            self.buffer.clear()
            self._fill()
            if len(kept) < keep:
                kept += self.buffer[: min(size, keep - len(kept))]
        del self.buffer[:size]
        return kept

    def _read_chunked(self, keep: int) -> tuple[bytes, bool]:
        """Consume a chunked body and its trailers; False if it runs past the drain limit."""
        kept = b""
        budget = _MAX_DRAIN_BYTES
        while True:
            line = self._read_until(b"\r\n", _MAX_HEAD_BYTES)
            size_field = line.split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(size_field):
                raise ProtocolError(f"malformed chunk size {line[:80]!r}")
            size = int(size_field, 16)
            budget -= len(line) + size + 4
            if budget < 0:
                return kept, False
            if size == 0:
                break
            kept += self._read_exact(size, keep - len(kept))
            self._read_until(b"\r\n", 0)  # the CRLF after the data, and nothing before it
        while trailer := self._read_until(b"\r\n", _MAX_HEAD_BYTES):
            budget -= len(trailer) + 2
            if budget < 0:
                return kept, False
        return kept, True

    def _read_to_close(self, keep: int) -> bytes:
        """Consume a body that ends when the server closes, or the first `_MAX_DRAIN_BYTES`."""
        kept = bytes(self.buffer[:keep])
        total = len(self.buffer)
        self.buffer.clear()
        while total <= _MAX_DRAIN_BYTES and (data := self.sock.recv(_RECV_BYTES)):
            total += len(data)
            if len(kept) < keep:
                kept += data[: keep - len(kept)]
        return kept

    def _fill(self) -> None:
        data = self.sock.recv(_RECV_BYTES)
        if not data:
            raise ConnectionResetError("the server closed the connection mid-response")
        self.buffer += data


@dataclass(frozen=True)
class _Head:
    status: int
    retry_after: str | None
    length: int | None
    chunked: bool
    close: bool


def _parse_head(raw: bytes) -> _Head:
    """Read what a push result needs from a response head; ignore every other header."""
    status_line, _, fields = raw.partition(b"\r\n")
    match = _STATUS_LINE.fullmatch(status_line)
    if match is None:
        raise ProtocolError(f"malformed status line {status_line[:80]!r}")
    retry_after = None
    length: int | None = None
    chunked = until_close = False
    connection_tokens: set[bytes] = set()
    for line in fields.split(b"\r\n") if fields else ():
        name, colon, value = line.partition(b":")
        if not colon:
            if line[:1] in (b" ", b"\t"):
                continue  # an obsolete folded continuation: of no header we read
            raise ProtocolError(f"malformed header line {line[:80]!r}")
        name = name.strip().lower()
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit() or (length is not None and length != int(value)):
                raise ProtocolError(f"malformed Content-Length {value[:80]!r}")
            length = int(value)
        elif name == b"transfer-encoding":
            # Only a final "chunked" frames the body; any other coding runs to the close.
            chunked = value.rsplit(b",", 1)[-1].strip().lower() == b"chunked"
            until_close = not chunked
        elif name == b"connection":
            connection_tokens.update(token.strip() for token in value.lower().split(b","))
        elif name == b"retry-after":
            retry_after = value.decode("latin-1").strip()
    if until_close:
        length = None
    http_10 = match[1] == b"0"
    close = b"close" in connection_tokens or (http_10 and b"keep-alive" not in connection_tokens)
    return _Head(int(match[2]), retry_after, length, chunked, close)


def _request_head(path: str, netloc: str, length: int, headers: dict[str, str]) -> bytes:
    """Return a POST's request line and headers, refusing what would break the framing."""
    if _NOT_IN_REQUEST_LINE.search(path) or _NOT_IN_REQUEST_LINE.search(netloc):
        raise ProtocolError(f"the endpoint has characters a request line cannot carry: {path!r}")
    lines = [f"POST {path} HTTP/1.1\r\nHost: {netloc}\r\nContent-Length: {length}\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
    lines.append("\r\n")
    return "".join(lines).encode("ascii")


def _dropped(connection: _Connection) -> bool:
    """Whether a kept-alive connection was closed by the server while idle.

    An idle connection has nothing to read: readable means end-of-file (or junk). Reusing
    it would fail a POST the service never saw; reopen instead.
    """
    try:
        readable, _, _ = select.select([connection.sock], [], [], 0)
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
