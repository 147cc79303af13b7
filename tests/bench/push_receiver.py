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
import json
import sys

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

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {}
                for line in lines:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if method == "POST" and path.startswith("/push/"):
                    self.accepted += 1
                    if self.accepted % self.sample == 1 or self.sample == 1:
                        self.check(headers, body)
                    writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                elif path == "/stats":
                    stats = json.dumps(
                        {
                            "accepted": self.accepted,
                            "checked": self.checked,
                            "rejected": len(self.rejected),
                            "reasons": self.rejected[:5],
                        }
                    ).encode()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(stats)}\r\n\r\n".encode()
                        + stats
                    )
                else:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


async def serve(port: int, sample: int) -> None:
    receiver = Receiver(sample)
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", port, backlog=1024)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sample", type=int, default=50, help="check one message in SAMPLE")
    options = parser.parse_args()
    try:
        asyncio.run(serve(options.port, options.sample))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
