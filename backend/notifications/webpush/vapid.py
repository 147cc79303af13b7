"""VAPID (RFC 8292): identify this server to push services with an ES256-signed JWT."""

from __future__ import annotations

import base64
import json
import threading
import time
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

TOKEN_LIFETIME = 12 * 3600
RENEW_WHEN_LEFT = 3600
_DEFAULT_PORTS = {"http": 80, "https": 443}


def b64url_encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url, the form Web Push uses everywhere."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(value: str) -> bytes:
    """Decode base64url with or without padding; raise ValueError on bad input."""
    try:
        raw = value.encode("ascii").rstrip(b"=").replace(b"-", b"+").replace(b"_", b"/")
        # validate=True rejects stray characters that the lenient decoder would drop.
        return base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except (UnicodeEncodeError, ValueError) as exc:
        raise ValueError(f"not valid base64url: {value[:40]!r}") from exc


def endpoint_origin(endpoint: str) -> str:
    """Return the origin (scheme://host[:port]) of a push endpoint, the JWT `aud`."""
    parts = urlsplit(endpoint)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"push endpoint must be an http(s) URL with a host: {endpoint[:80]!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.port
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def generate_vapid_keypair() -> tuple[str, str]:
    """Create a P-256 key pair: (raw 32-byte private scalar, uncompressed 65-byte public point).

    Both are base64url; the public key is the browser's `applicationServerKey`.
    """
    private_key = ec.generate_private_key(ec.SECP256R1())
    scalar = private_key.private_numbers().private_value.to_bytes(32, "big")
    return b64url_encode(scalar), _public_key_b64(private_key)


def _public_key_b64(private_key: ec.EllipticCurvePrivateKey) -> str:
    point = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url_encode(point)


def _validate_subject(subject: str) -> str:
    if subject.startswith("mailto:") and "@" in subject:
        return subject
    if subject.startswith("https://") and urlsplit(subject).hostname:
        return subject
    raise ValueError(f"VAPID subject must be a mailto: address or an https:// URL, got {subject!r}")


MAX_CACHED_ORIGINS = 1024


class VapidSigner:
    """Sign VAPID `Authorization` headers for push endpoints, caching one per origin."""

    def __init__(self, private_key: str, subject: str) -> None:
        scalar = b64url_decode(private_key)
        if len(scalar) != 32:
            raise ValueError("VAPID private key must be a base64url raw 32-byte P-256 scalar")
        self._key = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
        self.subject = _validate_subject(subject)
        self.public_key = _public_key_b64(self._key)
        # "scheme://authority" of endpoints -> (header, expiry). After encryption, the ES256
        # signature is the costly crypto of a send (about a third of an encryption,
        # tests/bench); a handful of push service origins serve all subscriptions, so reusing
        # a header for ~11 h turns one signature per message into one per origin per 11 h.
        # Keyed by the endpoint's head, cut without parsing the URL: parsing it for every
        # message was 2.5 % of a push worker's CPU (py-spy).
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def authorization(self, endpoint: str, *, now: float | None = None) -> str:
        """Return the `vapid t=<jwt>, k=<public key>` header value for this endpoint."""
        cut = endpoint.find("/", endpoint.find("://") + 3)
        head = endpoint if cut < 0 else endpoint[:cut]
        now = time.time() if now is None else now
        with self._lock:
            cached = self._cache.get(head)
            # Renew with an hour to spare so a header never expires in flight or on a
            # push service whose clock runs slightly ahead.
            if cached is not None and cached[1] - now >= RENEW_WHEN_LEFT:
                return cached[0]
        origin = endpoint_origin(endpoint)  # raises for an endpoint that is not http(s)
        expiry = int(now) + TOKEN_LIFETIME
        header = f"vapid t={self._sign(origin, expiry)}, k={self.public_key}"
        with self._lock:
            if len(self._cache) >= MAX_CACHED_ORIGINS:  # subscriptions name any host they like
                self._cache.clear()
            self._cache[head] = (header, expiry)
        return header

    def _sign(self, audience: str, expiry: int) -> str:
        segments = [
            b64url_encode(json.dumps(part, separators=(",", ":")).encode())
            for part in (
                {"typ": "JWT", "alg": "ES256"},
                {"aud": audience, "exp": expiry, "sub": self.subject},
            )
        ]
        signing_input = ".".join(segments).encode("ascii")
        der = self._key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        # JWS wants the raw r || s form, not DER.
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input.decode('ascii')}.{b64url_encode(signature)}"
