"""A fast Web Push receiver for the B2 benchmark: counts every message, checks a sample.

    python tests/bench/push_receiver.py --port 0 --sample 50

Every subscription shares one key pair (see `shared_subscription_keys`), so the receiver
needs no per-subscription state. It accepts every POST to /push/<id> with 201, counts it,
and for one message in SAMPLE verifies the VAPID signature and decrypts the aes128gcm body
(as tests/support/push_service.py does for every message: that one is too slow to keep up
with two sending cores on the same machine). GET /stats returns the counts as JSON.
It prints "port <n>" on stdout once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

# A fixed key pair and auth secret for every bench subscription (a test fixture, not a secret).
_PRIVATE_VALUE = 0x5AFE5AFE5AFE5AFE5AFE5AFE5AFE5AFE5AFE5AFE5AFE5AFE5AFE5AFE5AFE5AFE
_AUTH = bytes(range(16))


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _private_key() -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(_PRIVATE_VALUE, ec.SECP256R1())


def shared_subscription_keys() -> tuple[str, str]:
    """Return the (p256dh, auth) base64url keys every bench subscription carries."""
    point = (
        _private_key()
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return _b64e(point), _b64e(_AUTH)


class Receiver:
    def __init__(self, sample: int) -> None:
        self.sample = max(sample, 1)
        self.accepted = 0
        self.checked = 0
        self.rejected: list[str] = []
        self.key = _private_key()

    def check(self, headers: dict[str, str], body: bytes) -> None:
        """Verify VAPID and decrypt; record why if either fails."""
        try:
            scheme, _, params = headers.get("authorization", "").partition(" ")
            values = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
            token, key = values["t"], values["k"]
            head, claims, signature = token.split(".")
            raw = _b64d(signature)
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64d(key))
            der = encode_dss_signature(
                int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            )
            public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
            if scheme.lower() != "vapid" or not json.loads(_b64d(claims)).get("sub"):
                raise ValueError("not a vapid header")
            http_ece.decrypt(body, private_key=self.key, auth_secret=_AUTH, version="aes128gcm")
            self.checked += 1
        except (KeyError, ValueError, InvalidSignature, http_ece.ECEException) as exc:
            self.rejected.append(repr(exc)[:200])

    def stats(self) -> bytes:
        return json.dumps(
            {
                "accepted": self.accepted,
                "checked": self.checked,
                "rejected": len(self.rejected),
                "reasons": self.rejected[:5],
            }
        ).encode()


CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
MAX_HEAD = 64 * 1024


class Connection(asyncio.Protocol):
    """One sender's kept-alive connection: requests are parsed straight from the buffer.

    (asyncio streams cost ~90 µs of CPU per message here, half an encryption: on two shared
    cores the receiver's CPU is taken from the sender it measures.)
    """

    def __init__(
        self, receiver: Receiver, latency: float = 0.0, slow: tuple[int, float] = (0, 0.0)
    ) -> None:
        self.receiver = receiver
        self.latency = latency
        self.slow_every, self.slow = slow
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies = []
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._close()
                return self._reply(replies)
            head = bytes(self.buffer[:end])
            length = _content_length(head)
            if length is None:
                self._close()
                return None
            if len(self.buffer) < end + 4 + length:
                return self._reply(replies)
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            replies.append(self._answer(head, body))

    def _answer(self, head: bytes, body: bytes) -> bytes:
        request_line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
        method, _, rest = request_line.partition(b" ")
        path = rest.partition(b" ")[0]
        receiver = self.receiver
        if method == b"POST" and path.startswith(b"/push/"):
            receiver.accepted += 1
            if receiver.accepted % receiver.sample == 1 or receiver.sample == 1:
                receiver.check(_headers(head), body)
            return CREATED
        if path == b"/stats":
            stats = receiver.stats()
            return (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(stats)}\r\n\r\n".encode()
                + stats
            )
        return NOT_FOUND

    def _reply(self, replies: list[bytes]) -> None:
        if not replies or self.transport is None:
            return
        delay = self.latency
        if self.slow_every and self.receiver.accepted % self.slow_every == 0:
            delay += self.slow  # a straggler: one request in SLOW_EVERY takes SLOW longer
        if delay:  # a push service across a network: each answer comes DELAY later
            asyncio.get_running_loop().call_later(delay, self._write, b"".join(replies))
        else:
            self._write(b"".join(replies))

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _content_length(head: bytes) -> int | None:
    """The request's Content-Length (0 without one); None if it is not a number."""
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            try:
                return int(line[15:])
            except ValueError:
                return None
    return 0


def _headers(head: bytes) -> dict[str, str]:
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


async def serve(
    port: int, sample: int, latency: float = 0.0, slow: tuple[int, float] = (0, 0.0)
) -> None:
    receiver = Receiver(sample)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Connection(receiver, latency, slow), "127.0.0.1", port, backlog=1024
    )
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def running(sample: int = 50, latency_ms: float = 0, slow: str = "") -> Iterator[str]:
    """Run this receiver in a process of its own; yield its origin, stop it on the way out."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--sample", str(sample), "--latency-ms", str(latency_ms)]
        + (["--slow", slow] if slow else []),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{process.stdout.readline().split()[1]}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sample", type=int, default=50, help="check one message in SAMPLE")
    parser.add_argument("--latency-ms", type=float, default=0, help="answer each request later")
    parser.add_argument(
        "--slow", default="", metavar="N:MS", help="answer one request in N another MS later"
    )
    options = parser.parse_args()
    every, _, extra = options.slow.partition(":")
    slow = (int(every), float(extra) / 1000) if options.slow else (0, 0.0)
    try:
        asyncio.run(serve(options.port, options.sample, options.latency_ms / 1000, slow))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
