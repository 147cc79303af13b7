"""A real Web Push service on 127.0.0.1 for tests: checks VAPID, decrypts, records messages.

with PushService() as service:
    subscription = service.subscribe()          # what a browser would hand us
    ... send to subscription["endpoint"] ...
    [message] = service.wait_for(1, timeout=5)
    assert message.payload == b"..."
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.support.local_server import LocalServer

MAX_BODY = 4096
MAX_EXP_AHEAD = 24 * 3600


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@dataclass(frozen=True)
class Received:
    """One decrypted message; header names are lower-cased."""

    subscription_id: str
    payload: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Rejection:
    """A request the service refused (bad VAPID, missing headers, undecryptable body)."""

    subscription_id: str
    status: int
    reason: str


@dataclass
class _Subscription:
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    gone: bool = False
    faults: deque[tuple[int, str | None]] = field(default_factory=deque)


class _Reject(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class PushService(LocalServer):
    """Threaded HTTP/1.1 push service on a random free loopback port."""

    def __init__(self) -> None:
        super().__init__(_Handler)
        self._server.push_service = self  # type: ignore[attr-defined]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._subscriptions: dict[str, _Subscription] = {}
        self._received: list[Received] = []
        self.rejections: list[Rejection] = []
        self._changed = threading.Condition()

    def subscribe(self) -> dict[str, Any]:
        """Create a subscription as a browser does; return its `PushSubscription.toJSON()`."""
        private_key = ec.generate_private_key(ec.SECP256R1())
        auth = secrets.token_bytes(16)
        sub_id = secrets.token_urlsafe(12)
        with self._changed:
            self._subscriptions[sub_id] = _Subscription(private_key=private_key, auth=auth)
        point = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{self.origin}/push/{sub_id}",
            "expirationTime": None,
            "keys": {"p256dh": _b64e(point), "auth": _b64e(auth)},
        }

    @staticmethod
    def id_of(subscription: dict[str, Any]) -> str:
        """Return the subscription id inside a `subscribe()` result."""
        return str(subscription["endpoint"]).rsplit("/", 1)[1]

    def fail_next(
        self, sub_id: str, status: int, times: int = 1, retry_after: str | int | None = None
    ) -> None:
        """Answer the next `times` pushes to `sub_id` with `status` (and `Retry-After`)."""
        header = None if retry_after is None else str(retry_after)
        with self._changed:
            self._subscriptions[sub_id].faults.extend([(status, header)] * times)

    def gone(self, sub_id: str) -> None:
        """Answer 410 Gone to every later push to `sub_id`, as after an unsubscribe."""
        with self._changed:
            self._subscriptions[sub_id].gone = True

    def received(self, sub_id: str | None = None) -> list[Received]:
        """Return the messages accepted so far, for one subscription or all."""
        with self._changed:
            return [r for r in self._received if sub_id is None or r.subscription_id == sub_id]

    def count(self) -> int:
        """Return how many messages were accepted."""
        with self._changed:
            return len(self._received)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least `n` messages were accepted; raise TimeoutError otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._received) >= n, timeout):
                raise TimeoutError(f"received {len(self._received)} of {n} push messages")
            return list(self._received)

    def _handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str]]:
        prefix = "/push/"
        sub_id = path[len(prefix) :] if path.startswith(prefix) else ""
        with self._changed:
            subscription = self._subscriptions.get(sub_id)
            if subscription is None:
                return 404, {}
            if subscription.gone:
                return 410, {}
            if subscription.faults:
                status, retry_after = subscription.faults.popleft()
                return status, {} if retry_after is None else {"Retry-After": retry_after}
        try:
            self._check_vapid(headers.get("authorization", ""))
            payload = self._decrypt(subscription, headers, body)
        except _Reject as rejection:
            with self._changed:
                self.rejections.append(Rejection(sub_id, rejection.status, rejection.reason))
            return rejection.status, {}
        with self._changed:
            self._received.append(Received(sub_id, payload, headers))
            self._changed.notify_all()
        return 201, {"Location": f"{self.origin}/message/{secrets.token_urlsafe(8)}"}

    def _check_vapid(self, authorization: str) -> None:
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise _Reject(401, "Authorization is not a vapid header")
        values = dict(
            part.strip().split("=", 1) for part in params.split(",") if "=" in part.strip()
        )
        token, key = values.get("t"), values.get("k")
        if not token or not key:
            raise _Reject(401, "vapid header lacks t= or k=")
        try:
            header_b64, claims_b64, signature_b64 = token.split(".")
            header = json.loads(_b64d(header_b64))
            claims = json.loads(_b64d(claims_b64))
            signature = _b64d(signature_b64)
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64d(key))
        except ValueError as exc:
            raise _Reject(401, f"malformed vapid token: {exc}") from exc
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise _Reject(401, "vapid token header and claims must be JSON objects")
        if header.get("alg") != "ES256" or len(signature) != 64:
            raise _Reject(401, "vapid token is not ES256")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            public_key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise _Reject(401, "vapid signature does not verify") from exc
        if claims.get("aud") != self.origin:
            raise _Reject(403, f"vapid aud {claims.get('aud')!r} is not {self.origin!r}")
        exp = claims.get("exp")
        now = time.time()
        if not isinstance(exp, int) or exp <= now:
            raise _Reject(403, "vapid token has expired or has no exp")
        if exp > now + MAX_EXP_AHEAD:
            raise _Reject(403, "vapid exp is more than 24 h ahead")
        if not claims.get("sub"):
            raise _Reject(403, "vapid token has no sub")

    @staticmethod
    def _decrypt(subscription: _Subscription, headers: dict[str, str], body: bytes) -> bytes:
        if not headers.get("ttl", "").isdigit():
            raise _Reject(400, "TTL header missing or not a non-negative integer")
        if headers.get("content-encoding") != "aes128gcm":
            raise _Reject(415, "Content-Encoding must be aes128gcm")
        if len(body) > MAX_BODY:
            raise _Reject(413, f"body of {len(body)} bytes exceeds {MAX_BODY}")
        try:
            payload: bytes = http_ece.decrypt(
                body,
                private_key=subscription.private_key,
                auth_secret=subscription.auth,
                version="aes128gcm",
            )
        except http_ece.ECEException as exc:
            raise _Reject(400, f"cannot decrypt: {exc.message}") from exc
        return payload


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive so a pooled sender can reuse them.
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        service: PushService = self.server.push_service  # type: ignore[attr-defined]
        status, extra = service._handle(self.path, headers, body)
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
