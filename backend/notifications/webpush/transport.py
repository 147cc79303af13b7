"""Send Web Push messages (RFC 8030) encrypted with aes128gcm (RFC 8291) and signed with VAPID.

Plain values in, a `PushResult` out: the Django channel decides what to do with it. The
POST goes over a minimal HTTP/1.1 client of our own (see `PushSender` for why).
"""

from __future__ import annotations

import email.utils
import random
import re
import select
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Generator, Hashable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeVar
from urllib.parse import SplitResult, urlsplit

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
_Origin = tuple[str, str]  # (scheme, netloc): what a connection is kept alive for
_T = TypeVar("_T")


@dataclass(frozen=True)
class PushTarget:
    """A browser push subscription: endpoint plus its base64url `p256dh` and `auth` keys."""

    endpoint: str
    p256dh: str
    auth: str


class PushResult(NamedTuple):
    """What happened to one push request, and what the caller should do next.

    `gone` means the subscription must be deleted; `retry` carries the push service's
    `Retry-After` in seconds when it sent one. A named tuple, as `_Response`: one of each a
    push, built in a third of a dataclass's time.
    """

    outcome: Outcome
    status: int | None
    retry_after: float | None
    error: str


class Push(NamedTuple):
    """One message for `PushStream.start_many`; its result comes back under KEY."""

    key: Hashable
    target: PushTarget
    payload: bytes
    urgency: str = "high"
    topic: str | None = None


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


def split_endpoint(endpoint: str) -> SplitResult:
    """`urlsplit(ENDPOINT)`, cut with one regular expression when it is the usual
    "http(s)://authority/path" in printable ASCII: each endpoint of a fan-out is a new one,
    and urlsplit (its cache missed) took 2.3 µs against 0.7."""
    plain = _PLAIN_ENDPOINT.fullmatch(endpoint)
    if plain is None:
        return urlsplit(endpoint)
    scheme, netloc, path = plain.groups(default="")
    return SplitResult(scheme, netloc, path, "", "")


# No query, fragment, IPv6 brackets, backslash, space, control or non-ASCII character: what
# urlsplit would normalise, check or cut differently.
_PLAIN_ENDPOINT = re.compile(
    r"(https?)://"
    r"([^/?#\[\]\\\x00-\x20\x7f-\U0010ffff]+)"  # the authority
    r"(/[^?#\\\x00-\x20\x7f-\U0010ffff]*)?"  # the path
)


def _check_headers(*, ttl: int, urgency: str, topic: str | None) -> None:
    """Refuse what no push service takes (ValueError)."""
    if ttl < 0:
        raise ValueError("ttl must not be negative")
    if urgency not in URGENCIES:
        raise ValueError(f"urgency must be one of {sorted(URGENCIES)}")
    if topic is not None and not _TOPIC.fullmatch(topic):
        raise ValueError("topic must be 1-32 base64url characters")


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

    `send` blocks its thread for one POST; `stream` keeps many in flight from one thread.
    """

    def __init__(
        self, *, signer: VapidSigner, pool_size: int = 10, proxy: str | None = None
    ) -> None:
        self.signer = signer
        # Connections per origin are per thread; the caller bounds the threads per origin
        # (SAFE_PUSH_ORIGIN_CONCURRENCY). POOL_SIZE is a stream's default `per_origin` and
        # bounds the idle connections kept per origin between streams.
        self.pool_size = pool_size
        self._proxy = urlsplit(proxy) if proxy is not None else None
        self._local = threading.local()
        self._open: set[_Connection] = set()
        # Streams' idle connections (non-blocking), apart from the threads' own.
        self._idle: dict[_Origin, list[_Connection]] = {}
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
        parts = urlsplit(target.endpoint)
        try:
            request = self._request(parts, target, payload, ttl=ttl, urgency=urgency, topic=topic)
            connection = self._connection(parts.scheme, parts.netloc, timeout)
            response = connection.post(request)
        except (OSError, ProtocolError) as exc:
            self._discard(parts.scheme, parts.netloc)
            return _unanswered(exc)
        if response.will_close:
            self._discard(parts.scheme, parts.netloc)
        return _classify(response.status, response.retry_after, response.detail)

    def stream(self, *, timeout: float = 10, per_origin: int | None = None) -> PushStream:
        """A PushStream using this sender's signer (and proxy); per_origin defaults to pool_size."""
        if per_origin is None:
            per_origin = self.pool_size
        return PushStream(self, timeout=timeout, per_origin=per_origin)

    def _request(
        self,
        parts: SplitResult,
        target: PushTarget,
        payload: bytes,
        *,
        ttl: int,
        urgency: str,
        topic: str | None,
    ) -> bytes:
        """Validate, encrypt and sign one message: the whole POST, ready to write.

        Raises ValueError for bad arguments and ProtocolError for an endpoint no request
        line can carry.
        """
        _check_headers(ttl=ttl, urgency=urgency, topic=topic)
        return self._frame(parts, target, encrypt(payload, target), ttl, urgency, topic)

    def _frame(
        self,
        parts: SplitResult,
        target: PushTarget,
        body: bytes,
        ttl: int,
        urgency: str,
        topic: str | None,
    ) -> bytes:
        """Sign and frame an encrypted BODY whose headers `_check_headers` accepted.

        Raises ProtocolError for an endpoint no request line can carry.
        """
        # One string, not a dict joined line by line: built for every push (1.2 -> 0.6 µs).
        headers = (
            f"TTL: {int(ttl)}\r\nUrgency: {urgency}\r\nContent-Encoding: aes128gcm\r\n"
            f"Content-Type: application/octet-stream\r\n"
            f"Authorization: {self.signer.authorization(target.endpoint)}\r\n"
        )
        if topic is not None:
            headers += f"Topic: {topic}\r\n"
        path = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
        if self._proxy is not None and parts.scheme == "http":
            path = target.endpoint  # a plain-http proxy takes the absolute URL
        return _request_head(path, parts.netloc, len(body), headers) + body

    def _connection(self, scheme: str, netloc: str, timeout: float) -> _Connection:
        """This thread's connection to the origin, reopened if the server closed it."""
        connections: dict[_Origin, _Connection] | None = getattr(self._local, "connections", None)
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
        elif connection.timeout != timeout:
            connection.timeout = timeout
            connection.sock.settimeout(timeout)
        return connection

    def _stream_connection(self, origin: _Origin, timeout: float) -> _Connection:
        """A non-blocking connection for a stream: an idle one still open, else a new one."""
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                connection = idle.pop() if idle else None
            if connection is None:
                break
            if not _dropped(connection):
                return connection
            self._forget(connection)
        connection = self._open_connection(*origin, timeout)
        connection.sock.setblocking(False)
        return connection

    def _keep_idle(self, origin: _Origin, connection: _Connection) -> None:
        """Keep a stream's healthy connection for the next stream, up to `pool_size`."""
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            # Not open any more: `close` ran while the stream used it.
            if connection in self._open and len(idle) < self.pool_size:
                idle.append(connection)
                return
        self._forget(connection)

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
        connection = _Connection(sock, timeout)
        with self._lock:
            self._open.add(connection)
        return connection

    def _discard(self, scheme: str, netloc: str) -> None:
        connections = getattr(self._local, "connections", {})
        connection = connections.pop((scheme, netloc), None)
        if connection is not None:
            self._forget(connection)

    def _forget(self, connection: _Connection) -> None:
        connection.close()
        with self._lock:
            self._open.discard(connection)

    def close(self) -> None:
        """Close every connection: threads' and streams' (a later send or stream reopens)."""
        with self._lock:
            connections, self._open = self._open, set()
            self._idle.clear()
        for connection in connections:
            connection.close()

    def __enter__(self) -> PushSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class PushStream:
    """Many push POSTs in flight at once from the calling thread (not thread-safe).

    `send` blocks its thread for a round trip, so a fan-out overlaps round trips with
    threads, and threads cost CPU of their own: a POST took ~350 µs of CPU from one thread
    and ~525 µs from four doing the same work, GIL hand-offs and wake-ups costing as much
    as half an encryption. A stream encrypts and signs in `start`, writes each request as
    soon as a connection to its origin is free, and reads the answers whenever one
    selector says they came, all on the calling thread.

    Memory is bounded per connection (at most `per_origin` per origin): one request being
    written, and a read buffer holding at most a 64 KiB response head plus one read, since
    the parser consumes it as it goes (bodies are drained, at most 1 MiB). Requests no
    connection is free for wait in the stream, encrypted: the caller bounds them by
    collecting `results` whenever `pending` reaches its window.

    Opening a connection (TCP, proxy tunnel, TLS handshake) blocks for up to TIMEOUT, as
    `send` does; when it fails, every request to that origin in this stream gets the
    retry at once rather than a timeout each.
    """

    def __init__(self, sender: PushSender, *, timeout: float, per_origin: int) -> None:
        if per_origin < 1:
            raise ValueError("per_origin must be at least 1")
        self._sender = sender
        self._timeout = timeout
        self._per_origin = per_origin
        self._selector = selectors.DefaultSelector()
        self._origins: dict[_Origin, _OriginState] = {}
        self._busy: set[_Lane] = set()
        self._done: list[tuple[Hashable, PushResult]] = []

    def start(
        self,
        key: Hashable,
        target: PushTarget,
        payload: bytes,
        *,
        ttl: int,
        urgency: str = "high",
        topic: str | None = None,
    ) -> None:
        """Encrypt, sign and queue one message; `results` returns its outcome under KEY.

        Validates like `send` (ValueError for a bad ttl, urgency, topic or payload size).
        The request is written at once if a connection to its origin is free (at most
        `per_origin` requests are in flight per origin), else when one is.
        """
        for _, exc in self.start_many([Push(key, target, payload, urgency, topic)], ttl=ttl):
            raise exc

    def start_many(self, pushes: list[Push], *, ttl: int) -> list[tuple[Hashable, ValueError]]:
        """`start` each of PUSHES; return the ones refused, with why, instead of raising.

        All are encrypted before any is signed, framed or written, and written once all are
        framed: encryptions back to back cost less than each between socket writes and
        reads (a B2 worker's CPU a push 244-246 -> 216 µs; docs/performance.md).
        """
        refused: list[tuple[Hashable, ValueError]] = []
        bodies: list[bytes | None] = []
        for push in pushes:
            try:
                _check_headers(ttl=ttl, urgency=push.urgency, topic=push.topic)
                bodies.append(encrypt(push.payload, push.target))
            except ValueError as exc:
                refused.append((push.key, exc))
                bodies.append(None)
        touched: dict[_Origin, _OriginState] = {}
        for push, body in zip(pushes, bodies, strict=True):
            if body is None:
                continue
            parts = split_endpoint(push.target.endpoint)
            try:
                request = self._sender._frame(
                    parts, push.target, body, ttl, push.urgency, push.topic
                )
            except ProtocolError as exc:
                self._done.append((push.key, _unanswered(exc)))
                continue
            origin = (parts.scheme, parts.netloc)
            state = self._origins.get(origin)
            if state is None:
                state = self._origins[origin] = _OriginState()
            state.waiting.append((push.key, request))
            touched[origin] = state
        for origin, state in touched.items():
            self._dispatch(origin, state)
        return refused

    def pending(self) -> int:
        """Requests started whose result `results` has not returned yet."""
        waiting = sum(len(state.waiting) for state in self._origins.values())
        return len(self._done) + len(self._busy) + waiting

    def results(self, *, wait: bool = True) -> list[tuple[Hashable, PushResult]]:
        """Return the (key, result) pairs known now, classified exactly as `send` does.

        With WAIT, block until at least one is known, unless nothing is pending.
        """
        self._poll(block=False)
        while wait and not self._done and self._busy:
            self._poll(block=True)
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        """Give idle connections back to the sender for later streams; close the others.

        Requests still in flight or waiting are abandoned (their connections closed).
        """
        for lane in self._busy:
            self._close(lane)
        for origin, state in self._origins.items():
            for lane in state.idle:
                self._selector.unregister(lane.connection.sock)
                self._sender._keep_idle(origin, lane.connection)
        self._busy.clear()
        self._origins.clear()
        self._done.clear()
        self._selector.close()

    def __enter__(self) -> PushStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _dispatch(self, origin: _Origin, state: _OriginState) -> None:
        """Put waiting requests on free connections, opening some up to `per_origin`."""
        while state.waiting:
            lane = self._free_lane(origin, state) if state.failed is None else None
            if lane is not None:
                self._begin(lane, state, *state.waiting.popleft())
            elif state.failed is not None:
                self._done.extend((key, state.failed) for key, _ in state.waiting)
                state.waiting.clear()
            else:
                return  # all busy: the next connection to finish takes the next request

    def _free_lane(self, origin: _Origin, state: _OriginState) -> _Lane | None:
        """An idle connection to ORIGIN, else a new one if fewer than `per_origin` are open.

        Sets `state.failed` if opening one fails.
        """
        while state.idle:
            lane = state.idle.pop()
            # One that answered less than a second ago is not asked again (a system call a
            # push, 2.3 µs of a sender's CPU): servers close kept-alive connections after
            # seconds idle, and while idle the selector watches it (see `_poll`). One that
            # hung up in between fails that request as a retry, as a hang-up mid-answer does.
            if time.monotonic() - lane.idle_since < _WATCHED_IDLE or not _dropped(lane.connection):
                return lane
            self._close(lane)
        if state.busy >= self._per_origin:
            return None
        try:
            connection = self._sender._stream_connection(origin, self._timeout)
        except (OSError, ProtocolError) as exc:
            state.failed = _unanswered(exc)
            return None
        lane = _Lane(connection, origin)
        # Registered for reading while idle too: readable then means the server hung up.
        self._selector.register(connection.sock, selectors.EVENT_READ, lane)
        return lane

    def _begin(self, lane: _Lane, state: _OriginState, key: Hashable, request: bytes) -> None:
        """Put a request on LANE and write what the socket takes of it now."""
        reader = _read_response(lane.connection.buffer)
        # A connection is reused only with an empty buffer (bytes left over close it), so
        # the reader stops at once, waiting for the answer.
        next(reader)
        lane.key, lane.out, lane.reader = key, request, reader
        # Timed from the first write, as `send` is: waiting for a free connection is not the
        # push service's slowness.
        lane.deadline = time.monotonic() + self._timeout
        state.busy += 1
        self._busy.add(lane)
        # Write now: a request is a few KiB and usually fits the socket's buffer at once.
        self._advance(lane, reader, read=False)

    def _poll(self, *, block: bool) -> None:
        """Handle what the connections have for us (BLOCK: wait until the next deadline)."""
        timeout = 0.0
        if block:
            nearest = min(lane.deadline for lane in self._busy)
            timeout = max(0.0, nearest - time.monotonic())
        for selector_key, _ in self._selector.select(timeout):
            lane: _Lane = selector_key.data
            if lane.reader is not None:
                self._advance(lane, lane.reader)
            else:  # an idle connection has nothing to read: the server hung up (or sent junk)
                self._origins[lane.origin].idle.remove(lane)
                self._close(lane)
        now = time.monotonic()
        for lane in [lane for lane in self._busy if lane.deadline <= now]:
            self._finish(lane, _unanswered(TimeoutError("timed out")), close=True)
        for origin, state in self._origins.items():
            if state.waiting:
                self._dispatch(origin, state)

    def _advance(self, lane: _Lane, reader: _Reader[_Response], *, read: bool = True) -> None:
        """Write what is left of LANE's request, then read its answer as far as it came."""
        try:
            response = self._exchange(lane, reader, read)
        except (OSError, ProtocolError) as exc:
            self._finish(lane, _unanswered(exc), close=True)
            return
        if response is not None:
            result = _classify(response.status, response.retry_after, response.detail)
            self._finish(lane, result, close=response.will_close)

    def _exchange(self, lane: _Lane, reader: _Reader[_Response], read: bool) -> _Response | None:
        """Send and receive until the socket would block: the response, or None for now."""
        sock = lane.connection.sock
        try:
            while lane.out:
                lane.out = lane.out[sock.send(lane.out) :]
            # Read until the socket would block, not once per readable event: TLS may hold
            # bytes it already decrypted, which no event would announce.
            while read:
                data = sock.recv(_RECV_BYTES)
                lane.connection.buffer += data
                reader.send(not data)
        except StopIteration as done:
            response: _Response = done.value
            return response
        except ssl.SSLWantWriteError:  # TLS must write (the request, or its own) first
            self._listen(lane, _READ_WRITE)
        except ssl.SSLWantReadError:  # TLS needs the rest of a record first
            self._listen(lane, selectors.EVENT_READ)
        except BlockingIOError:  # the socket's buffer is full (writing) or empty (reading)
            self._listen(lane, _READ_WRITE if lane.out else selectors.EVENT_READ)
        return None

    def _listen(self, lane: _Lane, events: int) -> None:
        if lane.events != events:
            self._selector.modify(lane.connection.sock, events, lane)
            lane.events = events

    def _finish(self, lane: _Lane, result: PushResult, *, close: bool) -> None:
        """Record LANE's result; keep its connection for the next request, or close it."""
        self._done.append((lane.key, result))
        self._busy.discard(lane)
        state = self._origins[lane.origin]
        state.busy -= 1
        lane.key, lane.reader = None, None
        if close:
            self._close(lane)
        else:
            self._listen(lane, selectors.EVENT_READ)
            lane.idle_since = time.monotonic()
            state.idle.append(lane)

    def _close(self, lane: _Lane) -> None:
        self._selector.unregister(lane.connection.sock)
        self._sender._forget(lane.connection)


_READ_WRITE = selectors.EVENT_READ | selectors.EVENT_WRITE
# An idle connection reused within this many seconds is not checked for a hang-up again.
_WATCHED_IDLE = 1.0


@dataclass(eq=False)
class _Lane:
    """One of a stream's connections, and the request it carries if it is busy."""

    connection: _Connection
    origin: _Origin
    key: Hashable = None
    out: bytes = b""  # what is left to write of the request
    reader: _Reader[_Response] | None = None  # None while idle
    deadline: float = 0.0
    events: int = selectors.EVENT_READ  # what the selector watches for
    idle_since: float = 0.0


@dataclass(eq=False)
class _OriginState:
    """A stream's requests to one origin and the connections that carry them."""

    waiting: deque[tuple[Hashable, bytes]] = field(default_factory=deque)
    idle: list[_Lane] = field(default_factory=list)
    busy: int = 0
    failed: PushResult | None = None  # opening a connection failed: every request's result


class ProtocolError(Exception):
    """The push service (or the proxy) answered something that is not HTTP/1.x we can read."""


class _Response(NamedTuple):
    status: int
    retry_after: str | None
    detail: bytes  # the start of an error response's body
    will_close: bool


class _Connection:
    """One HTTP/1.1 connection: a plain or TLS socket and the bytes read past the last answer."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock = sock
        self.timeout = timeout
        self.buffer = bytearray()

    def post(self, request: bytes) -> _Response:
        """Send a whole request and read its response, draining the body."""
        self.sock.sendall(request)
        return self._read(_read_response(self.buffer))

    def tunnel(self, authority: str) -> None:
        """Ask an HTTP proxy for a CONNECT tunnel to `authority` (host:port)."""
        self.sock.sendall(
            f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode("ascii")
        )
        head = self._read(_read_head(self.buffer))
        if not 200 <= head.status < 300:
            raise OSError(f"Tunnel connection failed: {head.status}")
        if self.buffer:
            raise ProtocolError("the proxy sent data before the TLS handshake")

    def close(self) -> None:
        self.sock.close()

    def _read(self, reader: _Reader[_T]) -> _T:
        """Run READER to its end on blocking reads; return what it read."""
        try:
            next(reader)
            while True:
                data = self.sock.recv(_RECV_BYTES)
                self.buffer += data
                reader.send(not data)
        except StopIteration as done:
            result: _T = done.value
            return result


# The response parser is incremental so that `send` (blocking reads) and `PushStream`
# (reads when the selector says so) share it. A reader consumes the connection's buffer
# as far as it can, then yields for more bytes and is sent whether the server hung up; it
# returns what it read. Consuming as it goes keeps the buffer bounded: a hostile push
# service cannot make a sender buffer, or read, more than `_MAX_HEAD_BYTES` of response
# heads and `_MAX_DRAIN_BYTES` of body.
_Reader = Generator[None, bool, _T]


def _read_response(buffer: bytearray) -> _Reader[_Response]:
    """Read one final response, draining its body."""
    head = yield from _read_head(buffer)
    keep = _ERROR_BODY_CHARS if head.status >= 300 else 0
    if head.status in (204, 304):
        detail, drained = b"", True
    elif head.chunked:
        detail, drained = yield from _read_chunked(buffer, keep)
    elif head.length is None:
        detail, drained = (yield from _read_to_close(buffer, keep)), False
    elif head.length <= _MAX_DRAIN_BYTES:
        detail, drained = (yield from _read_exact(buffer, head.length, keep)), True
    else:
        detail, drained = (yield from _read_exact(buffer, min(keep, head.length), keep)), False
    # Bytes beyond the response would be taken for the next one's: start afresh instead.
    will_close = head.close or not drained or bool(buffer)
    return _Response(head.status, head.retry_after, detail, will_close)


def _read_head(buffer: bytearray) -> _Reader[_Head]:
    """Read the final response's status line and headers, skipping 1xx interim ones."""
    budget = _MAX_HEAD_BYTES
    while True:
        raw = yield from _read_until(buffer, b"\r\n\r\n", budget)
        budget -= len(raw) + 4
        head = _parse_head(raw)
        if head.status >= 200:
            return head
        if head.status == 101:
            raise ProtocolError("101 Switching Protocols to a request that asked for none")


def _read_until(buffer: bytearray, separator: bytes, limit: int) -> _Reader[bytes]:
    """Consume and return the bytes before `separator`; more than `limit` is an error."""
    searched = 0
    while (end := buffer.find(separator, searched)) < 0:
        if len(buffer) >= limit + len(separator):
            break
        searched = max(0, len(buffer) - len(separator) + 1)
        yield from _more()
    if end < 0 or end > limit:
        raise ProtocolError(f"no {separator!r} within {limit} bytes of the response")
    line = bytes(buffer[:end])
    del buffer[: end + len(separator)]
    return line


def _read_exact(buffer: bytearray, size: int, keep: int) -> _Reader[bytes]:
    """Consume `size` bytes; return the first `keep` of them."""
    kept = bytes(buffer[: min(size, keep)])
    while size > len(buffer):
        size -= len(buffer)
        buffer.clear()
        yield from _more()
        if len(kept) < keep:
            kept += buffer[: min(size, keep - len(kept))]
    del buffer[:size]
    return kept


def _read_chunked(buffer: bytearray, keep: int) -> _Reader[tuple[bytes, bool]]:
    """Consume a chunked body and its trailers; False if it runs past the drain limit."""
    kept = b""
    budget = _MAX_DRAIN_BYTES
    while True:
        line = yield from _read_until(buffer, b"\r\n", _MAX_HEAD_BYTES)
        size_field = line.split(b";", 1)[0].strip()
        if not _CHUNK_SIZE.fullmatch(size_field):
            raise ProtocolError(f"malformed chunk size {line[:80]!r}")
        size = int(size_field, 16)
        budget -= len(line) + size + 4
        if budget < 0:
            return kept, False
        if size == 0:
            break
        kept += yield from _read_exact(buffer, size, keep - len(kept))
        yield from _read_until(buffer, b"\r\n", 0)  # the CRLF after the data, nothing before
    while trailer := (yield from _read_until(buffer, b"\r\n", _MAX_HEAD_BYTES)):
        budget -= len(trailer) + 2
        if budget < 0:
            return kept, False
    return kept, True


def _read_to_close(buffer: bytearray, keep: int) -> _Reader[bytes]:
    """Consume a body that ends when the server closes, or the first `_MAX_DRAIN_BYTES`."""
    kept = b""
    total = 0
    while True:
        kept += buffer[: keep - len(kept)]
        total += len(buffer)
        buffer.clear()
        if total > _MAX_DRAIN_BYTES or (yield):
            return kept


def _more() -> _Reader[None]:
    """Wait for more bytes; the server hanging up first is an error."""
    if (yield):
        raise ConnectionResetError("the server closed the connection mid-response")


class _Head(NamedTuple):
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


def _request_head(path: str, netloc: str, length: int, headers: str) -> bytes:
    """Return a POST's request line and HEADERS (lines, each ending CRLF), refusing what
    would break the framing."""
    if _NOT_IN_REQUEST_LINE.search(path) or _NOT_IN_REQUEST_LINE.search(netloc):
        raise ProtocolError(f"the endpoint has characters a request line cannot carry: {path!r}")
    return (
        f"POST {path} HTTP/1.1\r\nHost: {netloc}\r\nContent-Length: {length}\r\n{headers}\r\n"
    ).encode("ascii")


def _dropped(connection: _Connection) -> bool:
    """Whether a kept-alive connection was closed by the server while idle.

    An idle connection has nothing to read: readable means end-of-file (or junk), and a
    hang-up or error says so outright. Reusing it would fail a POST the service never saw;
    reopen instead. `poll`, not `select`: select refuses descriptors from 1024 (FD_SETSIZE)
    up, which would make every connection of a process with many files look dropped.
    """
    poller = select.poll()
    try:
        poller.register(connection.sock, select.POLLIN)
    except (OSError, ValueError):  # closed: its descriptor is -1
        return True
    # Any event is one of POLLIN, POLLHUP, POLLERR or POLLNVAL (the last three always
    # reported): each means the connection is not fit to reuse.
    return bool(poller.poll(0))


def _unanswered(exc: OSError | ProtocolError) -> PushResult:
    """The retry for a request that got no answer we could read (a timeout told apart)."""
    if isinstance(exc, TimeoutError):
        return PushResult("retry", None, None, f"Timeout: {exc}")
    return PushResult("retry", None, None, f"ConnectionError: {type(exc).__name__}: {exc}")


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
