"""PushStream: many pushes in flight from one thread, answered exactly as `send` answers.

Real sockets on 127.0.0.1: the real push service (which decrypts every message) and
scripted servers (tests/support/scripted_server.py).
"""

import socket
import time
import tracemalloc
from collections.abc import Hashable, Iterator

import pytest

from backend.notifications.webpush import transport
from backend.notifications.webpush.transport import (
    MAX_PAYLOAD,
    Push,
    PushResult,
    PushSender,
    PushStream,
    PushTarget,
)
from tests.notifications.webpush.test_webpush_http import CREATED, PAYLOAD, chunked, http, target
from tests.notifications.webpush.test_webpush_send import target_for
from tests.support.push_service import PushService
from tests.support.scripted_server import Reply


@pytest.fixture
def push_service(monkeypatch) -> Iterator[PushService]:
    """The real push service, counting the connections it accepts in `accepted`."""
    with PushService() as service:
        server = service._server
        accept = server.get_request
        service.accepted = 0  # type: ignore[attr-defined]

        def counted() -> tuple[socket.socket, object]:
            service.accepted += 1  # type: ignore[attr-defined]
            return accept()

        monkeypatch.setattr(server, "get_request", counted)
        yield service


def collect(stream: PushStream) -> dict[Hashable, PushResult]:
    """Wait for every pending result."""
    results: dict[Hashable, PushResult] = {}
    while stream.pending():
        results.update(stream.results())
    return results


def refused_origin() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_200_messages_go_over_4_connections_and_are_all_decrypted(push_service, sender):
    subscriptions = [push_service.subscribe() for _ in range(20)]
    targets = [target_for(s) for s in subscriptions]

    with sender.stream(per_origin=4) as stream:
        for n in range(200):
            stream.start(n, targets[n % 20], b"message %d" % n, ttl=60)
        assert stream.pending() == 200
        results = collect(stream)

    assert results == {n: PushResult("sent", 201, None, "") for n in range(200)}
    received = {(m.subscription_id, m.payload) for m in push_service.wait_for(200)}
    assert received == {
        (PushService.id_of(subscriptions[n % 20]), b"message %d" % n) for n in range(200)
    }
    assert push_service.rejections == []
    assert push_service.accepted == 4


class Trickle:
    """A socket whose sends would block every other time, and take 1000 bytes at most."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._block = False

    def send(self, data: bytes) -> int:
        self._block = not self._block
        if self._block:
            raise BlockingIOError
        return self._sock.send(data[:1000])

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


def test_request_the_socket_takes_in_pieces_is_written_when_writable(
    push_service, sender, monkeypatch
):
    open_connection = sender._open_connection

    def trickling(*args: object) -> object:
        connection = open_connection(*args)
        connection.sock = Trickle(connection.sock)
        return connection

    monkeypatch.setattr(sender, "_open_connection", trickling)
    payloads = [bytes([n]) * MAX_PAYLOAD for n in range(6)]
    push = target_for(push_service.subscribe())

    with sender.stream(per_origin=2) as stream:
        for n, payload in enumerate(payloads):
            stream.start(n, push, payload, ttl=60)
        results = collect(stream)

    assert {r.outcome for r in results.values()} == {"sent"}
    assert sorted(m.payload for m in push_service.wait_for(6)) == payloads
    assert push_service.accepted == 2


def test_statuses_are_classified_as_send_classifies_them(serve, sender):
    server = serve(
        CREATED,
        b"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 500 Oops\r\nContent-Length: 12\r\n\r\nbackend down",
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 7\r\n\r\nno auth",
    )
    push = http(server)

    with sender.stream(per_origin=1) as stream:  # one connection: answers in script order
        for key in ("created", "gone", "busy", "oops", "bad"):
            stream.start(key, push, PAYLOAD, ttl=60)
        results = collect(stream)

    assert results == {
        "created": PushResult("sent", 201, None, ""),
        "gone": PushResult("gone", 410, None, "HTTP 410"),
        "busy": PushResult("retry", 429, 7.0, "HTTP 429"),
        "oops": PushResult("retry", 500, None, "HTTP 500: backend down"),
        "bad": PushResult("failed", 400, None, "HTTP 400: no auth"),
    }
    assert server.connections == 1


def test_answers_of_every_origin_come_back_under_their_keys(push_service, sender):
    alive, gone, busy = (push_service.subscribe() for _ in range(3))
    push_service.gone(PushService.id_of(gone))
    push_service.fail_next(PushService.id_of(busy), 429, times=5, retry_after=30)
    pushes = {"alive": target_for(alive), "gone": target_for(gone), "busy": target_for(busy)}

    with sender.stream(per_origin=4) as stream:
        for n in range(5):
            for name, push in pushes.items():
                stream.start((name, n), push, PAYLOAD, ttl=60)
        results = collect(stream)

    assert {key: (r.outcome, r.status, r.retry_after) for key, r in results.items()} == {
        **{("alive", n): ("sent", 201, None) for n in range(5)},
        **{("gone", n): ("gone", 410, None) for n in range(5)},
        **{("busy", n): ("retry", 429, 30.0) for n in range(5)},
    }


SCRIPTS = {
    "chunked, then close-delimited, then Connection: close": [
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked(b"bad ", b"request", trailer=b"X-Checksum: 1\r\n"),
        Reply(b"HTTP/1.1 500 Internal Server Error\r\n\r\nbackend down", close=True),
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        CREATED,
    ],
    "HTTP/1.0, with and without keep-alive": [
        b"HTTP/1.0 201 Created\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n",
        b"HTTP/1.0 201 Created\r\nContent-Length: 0\r\n\r\n",
        CREATED,
    ],
    "interim 1xx answers": [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + CREATED,
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        CREATED,
    ],
    "bodies to truncate, drain or leave": [
        b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000,
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 50000000\r\n\r\n" + b"y" * 300,
        CREATED + b"junk",
        CREATED,
    ],
    "malformed answers": [
        b"HTTP/1.1 2O1 Created\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        CREATED,
    ],
    "hanging up mid-response": [
        Reply(b"HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc", close=True),
        Reply(b"HTTP/1.1 201 Cre", close=True),
        CREATED,
    ],
}


@pytest.mark.parametrize("script", SCRIPTS.values(), ids=SCRIPTS.keys())
def test_stream_reads_and_reconnects_exactly_as_send_does(serve, signer, script):
    by_send, by_stream = serve(*script), serve(*script)

    with PushSender(signer=signer) as sender:
        sent = [sender.send(http(by_send), PAYLOAD, ttl=60) for _ in script]
    with PushSender(signer=signer) as sender, sender.stream(per_origin=1) as stream:
        push = http(by_stream)
        for n in range(len(script)):
            stream.start(n, push, PAYLOAD, ttl=60)
        streamed = collect(stream)

    assert [streamed[n] for n in range(len(script))] == sent
    assert by_stream.connections == by_send.connections
    assert sent[-1].outcome == "sent"


def test_malformed_answer_is_retried_and_the_next_request_gets_a_new_connection(serve, sender):
    server = serve(b"ICY 200 OK\r\n\r\n", CREATED)
    push = http(server)

    with sender.stream(per_origin=1) as stream:
        stream.start("first", push, PAYLOAD, ttl=60)
        stream.start("second", push, PAYLOAD, ttl=60)
        results = collect(stream)

    first = results["first"]
    assert (first.outcome, first.status, first.retry_after) == ("retry", None, None)
    assert first.error.startswith("ConnectionError: ProtocolError: malformed status line")
    assert results["second"] == PushResult("sent", 201, None, "")
    assert server.connections == 2


def send_one(sender: PushSender, push: PushTarget) -> PushResult:
    return sender.send(push, PAYLOAD, ttl=60, timeout=5)


def stream_one(sender: PushSender, push: PushTarget) -> PushResult:
    with sender.stream(timeout=5) as stream:
        stream.start("flooded", push, PAYLOAD, ttl=60)
        [(_, result)] = stream.results()
    return result


@pytest.mark.parametrize("push_one", [send_one, stream_one], ids=["send", "stream"])
def test_endless_headers_are_refused_without_buffering_them(serve, sender, push_one):
    filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    server = serve(Reply(b"HTTP/1.1 201 Created\r\n", flood=filler * 64))
    tracemalloc.start()
    try:
        result = push_one(sender, http(server))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (result.outcome, result.status) == ("retry", None)
    assert "within 65536 bytes" in result.error
    assert peak < 1024 * 1024
    assert server.hung_up.acquire(timeout=5)  # the sender hung up: the flood stopped


def test_silent_server_times_out_and_holds_up_no_other_origin(serve, sender):
    silent = serve(b"HTTP/1.1 201 Cre")
    talkative = serve(*[CREATED] * 3)
    arrived: dict[Hashable, tuple[float, PushResult]] = {}

    started = time.monotonic()
    with sender.stream(timeout=0.5) as stream:
        stream.start("silent", http(silent), PAYLOAD, ttl=60)
        for n in range(3):
            stream.start(n, http(talkative), PAYLOAD, ttl=60)
        while stream.pending():
            for key, result in stream.results():
                arrived[key] = (time.monotonic() - started, result)

    assert arrived["silent"][1] == PushResult("retry", None, None, "Timeout: timed out")
    assert 0.5 <= arrived["silent"][0] < 2
    assert all(arrived[n][1].outcome == "sent" and arrived[n][0] < 0.5 for n in range(3))
    assert silent.hung_up.acquire(timeout=5)  # the timed-out connection was closed


def test_refused_origin_fails_every_request_at_once(sender):
    push = target(refused_origin())

    started = time.monotonic()
    with sender.stream(timeout=2, per_origin=2) as stream:
        for n in range(10):
            stream.start(n, push, PAYLOAD, ttl=60)
        results = collect(stream)
        stream.start("later", push, PAYLOAD, ttl=60)
        results.update(stream.results(wait=False))
    elapsed = time.monotonic() - started

    assert len(results) == 11
    assert {(r.outcome, r.status) for r in results.values()} == {("retry", None)}
    refused = "ConnectionError: ConnectionRefusedError"
    assert all(r.error.startswith(refused) for r in results.values())
    assert elapsed < 1  # not 10 x the 2 s timeout


def test_handshake_that_never_ends_times_out_once_for_all_its_requests(sender):
    # Connections wait in the listen backlog: TCP connects, TLS never gets an answer.
    with socket.create_server(("127.0.0.1", 0)) as mute:
        push = target(f"https://localhost:{mute.getsockname()[1]}")
        started = time.monotonic()
        with sender.stream(timeout=0.3) as stream:
            for n in range(8):
                stream.start(n, push, PAYLOAD, ttl=60)
            results = collect(stream)
        elapsed = time.monotonic() - started

    assert len(results) == 8
    assert all(r.outcome == "retry" and r.error.startswith("Timeout:") for r in results.values())
    assert elapsed < 1.2  # one 0.3 s timeout, not eight


def test_connection_is_kept_alive_across_streams(serve, sender):
    server = serve(*[CREATED] * 4)
    push = http(server)

    for first in (0, 2):
        with sender.stream(per_origin=1) as stream:
            stream.start(first, push, PAYLOAD, ttl=60)
            stream.start(first + 1, push, PAYLOAD, ttl=60)
            assert {r.outcome for r in collect(stream).values()} == {"sent"}

    assert server.connections == 1


def test_kept_connection_the_server_closed_is_not_reused(serve, sender):
    server = serve(Reply(CREATED, close=True), CREATED)
    push = http(server)

    with sender.stream() as stream:
        stream.start("first", push, PAYLOAD, ttl=60)
        first = collect(stream)["first"]
    assert server.hung_up.acquire(timeout=5)
    with sender.stream() as stream:
        stream.start("second", push, PAYLOAD, ttl=60)
        second = collect(stream)["second"]

    assert [first.outcome, second.outcome] == ["sent", "sent"]
    assert server.connections == 2


def test_sender_close_closes_the_connections_kept_for_streams(serve, sender):
    server = serve(CREATED)

    with sender.stream() as stream:
        stream.start("only", http(server), PAYLOAD, ttl=60)
        assert collect(stream)["only"].outcome == "sent"
    sender.close()

    assert server.hung_up.acquire(timeout=5)


def test_https_requests_are_in_flight_together_over_verified_connections(
    serve, sender, tls_server_context
):
    # The long body comes in several TLS records, read as they arrive.
    long_error = b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 50000\r\n\r\n" + b"z" * 50000
    server = serve(long_error, *[CREATED] * 8, tls=tls_server_context)
    push = target(f"https://localhost:{server.port}")

    with sender.stream(per_origin=4) as stream:
        for n in range(9):
            stream.start(n, push, PAYLOAD, ttl=60)
        results = collect(stream)

    outcomes = sorted(r.outcome for r in results.values())
    assert outcomes == ["failed"] + ["sent"] * 8
    assert PushResult("failed", 413, None, "HTTP 413: " + "z" * 200) in results.values()
    assert server.connections == 4
    assert server.server_names == ["localhost"] * 4


def test_https_through_a_proxy_uses_one_connect_tunnel(serve, signer, tls_server_context):
    proxy = serve(*[CREATED] * 3, tls=tls_server_context, tunnel=True)
    push = target("https://localhost")

    with (
        PushSender(signer=signer, proxy=f"http://127.0.0.1:{proxy.port}") as sender,
        sender.stream(per_origin=1) as stream,
    ):
        for n in range(3):
            stream.start(n, push, PAYLOAD, ttl=60)
        results = collect(stream)

    connect, *posts = proxy.requests
    assert {r.outcome for r in results.values()} == {"sent"}
    assert connect.startswith(b"CONNECT localhost:443 HTTP/1.1\r\n")
    post = [b"POST /push/abc HTTP/1.1", b"Host: localhost"]
    assert [p.split(b"\r\n")[:2] for p in posts] == [post] * 3
    assert proxy.connections == 1


def test_results_without_waiting_returns_what_is_ready(serve, sender):
    silent = serve(b"")  # reads the request and says nothing
    quick = serve(CREATED, CREATED)

    with sender.stream() as stream:
        assert stream.results(wait=False) == []
        assert stream.results() == []  # nothing pending: nothing to wait for
        stream.start("silent", http(silent), PAYLOAD, ttl=60)
        assert stream.results(wait=False) == []
        assert stream.pending() == 1
        stream.start("a", http(quick), PAYLOAD, ttl=60)
        stream.start("b", http(quick), PAYLOAD, ttl=60)
        assert stream.pending() == 3
        first = stream.results()
        assert 1 <= len(first) <= 2
        assert stream.pending() == 3 - len(first)


def test_request_line_the_endpoint_cannot_carry_is_answered_at_start(serve, sender):
    server = serve(CREATED)
    push = http(server)
    bad = PushTarget(push.endpoint + " HTTP/1.1\x00", push.p256dh, push.auth)

    with sender.stream() as stream:
        stream.start("bad", bad, PAYLOAD, ttl=60)
        assert stream.pending() == 1
        [(key, result)] = stream.results(wait=False)

    assert (key, result.outcome) == ("bad", "retry")
    assert "request line" in result.error
    assert server.requests == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ttl": -1}, "ttl"),
        ({"ttl": 60, "urgency": "urgent"}, "urgency"),
        ({"ttl": 60, "topic": "has spaces"}, "topic"),
        ({"ttl": 60, "payload": b"x" * (MAX_PAYLOAD + 1)}, str(MAX_PAYLOAD)),
    ],
)
def test_bad_arguments_are_refused_at_start(serve, sender, kwargs, message):
    server = serve(CREATED)
    payload = kwargs.pop("payload", PAYLOAD)

    with sender.stream() as stream:
        with pytest.raises(ValueError, match=message):
            stream.start("bad", http(server), payload, **kwargs)
        assert stream.pending() == 0

    assert server.requests == []


def test_start_many_sends_the_good_and_returns_the_refused(push_service, sender):
    subscription = push_service.subscribe()
    good = target_for(subscription)
    bad_key = PushTarget(good.endpoint, "not-a-key", good.auth)
    no_line = PushTarget(good.endpoint + " HTTP/1.1\x00", good.p256dh, good.auth)
    pushes = [
        Push("first", good, b"one"),
        Push("bad key", bad_key, b"two"),
        Push("bad topic", good, b"three", topic="has spaces"),
        Push("too long", good, b"x" * (MAX_PAYLOAD + 1)),
        Push("no line", no_line, b"four"),
        Push("last", good, b"five", urgency="low", topic="t1"),
    ]

    with sender.stream() as stream:
        refused = stream.start_many(pushes, ttl=60)
        results = collect(stream)

    assert [(key, type(exc)) for key, exc in refused] == [
        ("bad key", ValueError),
        ("bad topic", ValueError),
        ("too long", ValueError),
    ]
    assert results["first"] == results["last"] == PushResult("sent", 201, None, "")
    assert results["no line"].outcome == "retry"
    assert set(results) == {"first", "no line", "last"}
    received = [m.payload for m in push_service.wait_for(2)]
    assert sorted(received) == [b"five", b"one"]


def test_a_connection_idle_for_a_while_is_checked_for_a_hang_up_before_reuse(
    serve, sender, monkeypatch
):
    # Reused at once, a connection that has just answered is not asked again (a system call
    # a push); idle longer, it is, and one the server closed meanwhile is replaced.
    monkeypatch.setattr(transport, "_WATCHED_IDLE", 0.0)
    server = serve(Reply(CREATED, close=True), CREATED)
    push = http(server)

    with sender.stream(per_origin=1) as stream:
        stream.start("first", push, PAYLOAD, ttl=60)
        first = collect(stream)["first"]
        assert server.hung_up.acquire(timeout=5)
        stream.start("second", push, PAYLOAD, ttl=60)
        second = collect(stream)["second"]

    assert [first.outcome, second.outcome] == ["sent", "sent"]
    assert server.connections == 2
