"""The inbound webhook's authentication: an HMAC-SHA256 of the raw body, hex-encoded.

The provider (or the relay in front of it) sends `X-Safe-Signature: sha256=<hex>` (the
`sha256=` prefix is optional), keyed with `SMS_INBOUND_SECRET`.
"""

import hashlib
import hmac

HEADER = "X-Safe-Signature"
PREFIX = "sha256="


def sign(body: bytes, *, secret: str) -> str:
    """The header value for BODY."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(body: bytes, header: str | None, *, secret: str) -> bool:
    """Whether HEADER signs BODY; always False without a secret (the webhook is off)."""
    if not secret or not header:
        return False
    given = header.strip().removeprefix(PREFIX).lower()
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.encode(), expected.encode())
