"""PushSender's HTTP/1.1 client against scripted servers: what a push service may answer.

The real push service (tests/support/push_service.py) always answers the same way; these
servers (tests/support/scripted_server.py) answer with exact bytes, to cover framing,
connection reuse and hostile answers.
"""

import base64
import os
import resource
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from backend.notifications.webpush.transport import PushResult, PushSender, PushTarget
from tests.support.scripted_server import Reply, ScriptedServer

PAYLOAD = b'{"checkin": 42}'
CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"


def target(origin: str) -> PushTarget:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    auth = os.urandom(16)
    return PushTarget(f"{origin}/push/abc", _b64(point), _b64(auth))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def http(server: ScriptedServer) -> PushTarget:
    return target(f"http://127.0.0.1:{server.port}")


def chunked(*pieces: bytes, trailer: bytes = b"") -> bytes:
    body = b"".join(b"%x; ext=1\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
    return body + b"0\r\n" + trailer + b"\r\n"


def test_chunked_error_body_is_joined_and_the_connection_reused(serve, sender):
    server = serve(
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked(b"bad ", b"request", trailer=b"X-Checksum: 1\r\n"),
        CREATED,
    )
    push = http(server)

    first = sender.send(push, PAYLOAD, ttl=60)
    second = sender.send(push, PAYLOAD, ttl=60)

    assert first == PushResult("failed", 400, None, "HTTP 400: bad request")
    assert second == PushResult("sent", 201, None, "")
    assert server.connections == 1


def test_body_that_ends_at_the_close_is_read_and_the_next_send_reconnects(serve, sender):
    server = serve(
        Reply(b"HTTP/1.1 500 Internal Server Error\r\n\r\nbackend down", close=True), CREATED
    )
    push = http(server)

    first = sender.send(push, PAYLOAD, ttl=60)
    second = sender.send(push, PAYLOAD, ttl=60)

    assert first == PushResult("retry", 500, None, "HTTP 500: backend down")
    assert second.outcome == "sent"
    assert server.connections == 2


@pytest.mark.parametrize(
    "status_line_and_headers",
    [
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: Upgrade, Close\r\n",
        b"HTTP/1.0 201 Created\r\nContent-Length: 0\r\n",
    ],
)
def test_connection_the_server_will_close_is_not_reused(serve, sender, status_line_and_headers):
    server = serve(status_line_and_headers + b"\r\n", CREATED)
    push = http(server)

    results = [sender.send(push, PAYLOAD, ttl=60) for _ in range(2)]

    assert [r.outcome for r in results] == ["sent", "sent"]
    assert server.connections == 2


def test_http_10_keep_alive_connection_is_reused(serve, sender):
    server = serve(
        b"HTTP/1.0 201 Created\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n", CREATED
    )
    push = http(server)

    results = [sender.send(push, PAYLOAD, ttl=60) for _ in range(2)]

    assert [r.outcome for r in results] == ["sent", "sent"]
    assert server.connections == 1


def test_long_error_body_is_truncated_in_the_message_and_drained(serve, sender):
    body = b"x" * 5000
    server = serve(
        b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
        CREATED,
    )
    push = http(server)

    first = sender.send(push, PAYLOAD, ttl=60)
    second = sender.send(push, PAYLOAD, ttl=60)

    assert first == PushResult("failed", 413, None, "HTTP 413: " + "x" * 200)
    assert second.outcome == "sent"
    assert server.connections == 1


def test_body_over_the_drain_limit_is_not_read_and_the_connection_dropped(serve, sender):
    server = serve(
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 50000000\r\n\r\n" + b"y" * 300, CREATED
    )
    push = http(server)

    first = sender.send(push, PAYLOAD, ttl=60)
    second = sender.send(push, PAYLOAD, ttl=60)

    assert first == PushResult("failed", 400, None, "HTTP 400: " + "y" * 200)
    assert second.outcome == "sent"
    assert server.connections == 2


def test_interim_100_continue_is_skipped(serve, sender):
    server = serve(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + CREATED,
        CREATED,
    )
    push = http(server)

    results = [sender.send(push, PAYLOAD, ttl=60) for _ in range(2)]

    assert results == [PushResult("sent", 201, None, "")] * 2
    assert server.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 2O1 Created\r\nContent-Length: 0\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_answer_is_retried_on_a_new_connection(serve, sender, answer):
    server = serve(answer, CREATED)
    push = http(server)

    first = sender.send(push, PAYLOAD, ttl=60)
    second = sender.send(push, PAYLOAD, ttl=60)

    assert (first.outcome, first.status, first.retry_after) == ("retry", None, None)
    assert first.error.startswith("ConnectionError: ProtocolError: malformed")
    assert second.outcome == "sent"
    assert server.connections == 2


def test_server_hanging_up_mid_response_is_retried(serve, sender):
    server = serve(
        Reply(b"HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc", close=True), CREATED
    )
    push = http(server)

    first = sender.send(push, PAYLOAD, ttl=60)
    second = sender.send(push, PAYLOAD, ttl=60)

    assert (first.outcome, first.status) == ("retry", None)
    assert first.error.startswith("ConnectionError: ConnectionResetError")
    assert second.outcome == "sent"


def test_connection_closed_while_idle_is_reopened_before_sending(serve, sender):
    server = serve(Reply(CREATED, close=True), CREATED)
    push = http(server)

    first = sender.send(push, PAYLOAD, ttl=60)
    assert server.hung_up.acquire(timeout=5)
    second = sender.send(push, PAYLOAD, ttl=60)

    assert [first.outcome, second.outcome] == ["sent", "sent"]
    assert server.connections == 2


@pytest.fixture
def low_fds_taken() -> Iterator[None]:
    """Fill every file descriptor below 1024 (FD_SETSIZE), so new sockets get higher ones."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1024 + 64  # room for the client's and the server's sockets
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    taken: list[int] = []
    try:
        with open(os.devnull) as devnull:
            # dup returns the lowest free descriptor: once it is 1023, all below are taken.
            while not taken or taken[-1] < 1023:
                taken.append(os.dup(devnull.fileno()))
        yield
    finally:
        for fd in taken:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_connection_on_a_descriptor_above_1023_is_kept_alive(low_fds_taken, serve, sender):
    server = serve(CREATED, CREATED)
    push = http(server)

    results = [sender.send(push, PAYLOAD, ttl=60) for _ in range(2)]

    assert [r.outcome for r in results] == ["sent", "sent"]
    [connection] = sender._local.connections.values()
    assert connection.sock.fileno() >= 1024
    assert server.connections == 1


def test_silent_server_times_out_as_a_retry(serve, sender):
    server = serve(b"HTTP/1.1 201 Cre")

    result = sender.send(http(server), PAYLOAD, ttl=60, timeout=0.2)

    assert (result.outcome, result.status) == ("retry", None)
    assert result.error.startswith("Timeout:")


@pytest.mark.parametrize(
    ("status", "header", "seconds"),
    [(429, b"Retry-After: 7", 7.0), (503, b"retry-after:120 ", 120.0), (503, b"X-Other: 1", None)],
)
def test_retry_after_is_read_on_429_and_503(serve, sender, status, header, seconds):
    server = serve(b"HTTP/1.1 %d Busy\r\n%s\r\nContent-Length: 0\r\n\r\n" % (status, header))

    result = sender.send(http(server), PAYLOAD, ttl=60)

    assert (result.outcome, result.status, result.retry_after) == ("retry", status, seconds)


def test_request_is_one_post_with_host_length_and_push_headers(serve, sender):
    server = serve(CREATED)

    sender.send(http(server), PAYLOAD, ttl=60, urgency="low", topic="t1")

    request_line, *lines = server.requests[0].decode("ascii").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    assert request_line == "POST /push/abc HTTP/1.1"
    assert headers["Host"] == f"127.0.0.1:{server.port}"
    assert int(headers["Content-Length"]) > len(PAYLOAD)
    assert (headers["TTL"], headers["Urgency"], headers["Topic"]) == ("60", "low", "t1")


def test_endpoint_that_cannot_be_a_request_line_is_not_sent(serve, sender):
    server = serve(CREATED)
    push = http(server)
    bad = PushTarget(push.endpoint + " HTTP/1.1\x00", push.p256dh, push.auth)

    result = sender.send(bad, PAYLOAD, ttl=60)

    assert result.outcome == "retry"
    assert "request line" in result.error
    assert server.requests == []


def test_plain_http_proxy_is_sent_the_absolute_url(serve, signer):
    proxy = serve(CREATED)
    push = target("http://127.0.0.1:9")  # nothing listens there: only the proxy is reached

    with PushSender(signer=signer, proxy=f"http://127.0.0.1:{proxy.port}") as sender:
        result = sender.send(push, PAYLOAD, ttl=60)

    request_line, host = proxy.requests[0].decode("ascii").split("\r\n")[:2]
    assert result.outcome == "sent"
    assert request_line == "POST http://127.0.0.1:9/push/abc HTTP/1.1"
    assert host == "Host: 127.0.0.1:9"


def test_https_is_verified_with_sni_and_kept_alive(serve, sender, tls_server_context):
    server = serve(CREATED, CREATED, tls=tls_server_context)
    push = target(f"https://localhost:{server.port}")

    results = [sender.send(push, PAYLOAD, ttl=60) for _ in range(2)]

    assert [r.outcome for r in results] == ["sent", "sent"]
    assert server.server_names == ["localhost"]
    assert server.connections == 1


def test_https_certificate_for_another_host_is_retried_unsent(serve, sender, tls_server_context):
    server = serve(CREATED, tls=tls_server_context)

    result = sender.send(target(f"https://127.0.0.1:{server.port}"), PAYLOAD, ttl=60)

    assert result.outcome == "retry"
    assert "CERTIFICATE_VERIFY_FAILED" in result.error
    assert server.requests == []


def test_https_through_a_proxy_uses_a_connect_tunnel(serve, signer, tls_server_context):
    proxy = serve(CREATED, tls=tls_server_context, tunnel=True)
    push = target("https://localhost")

    with PushSender(signer=signer, proxy=f"http://127.0.0.1:{proxy.port}") as sender:
        result = sender.send(push, PAYLOAD, ttl=60)

    connect, post = proxy.requests
    assert result.outcome == "sent"
    assert connect.startswith(b"CONNECT localhost:443 HTTP/1.1\r\n")
    assert post.startswith(b"POST /push/abc HTTP/1.1\r\nHost: localhost\r\n")
    assert proxy.server_names == ["localhost"]
