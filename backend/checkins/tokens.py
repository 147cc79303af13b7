"""Signed one-tap tokens: scoped to one check-in, short enough for an SMS.

A token is "<check-in id in hex>.<128-bit HMAC>". It carries no expiry of its own: it stops
working when the incident is resolved, which `checkin_from_token` checks on every use.
"""

import base64
import hmac

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import salted_hmac

_SALT = "safe-and-sound.checkin-token"


def _mac(checkin_id: int) -> str:
    digest = salted_hmac(_SALT, f"checkin:{checkin_id}", algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def checkin_token(checkin_id: int) -> str:
    return f"{checkin_id:x}.{_mac(checkin_id)}"


def checkin_id_from_token(token: str) -> int | None:
    """The check-in id the token was made for, or None if it is malformed or tampered."""
    if not isinstance(token, str) or len(token) > 64 or token.count(".") != 1:
        return None
    raw_id, mac = token.split(".")
    try:
        checkin_id = int(raw_id, 16)
    except ValueError:
        return None
    if checkin_id <= 0 or checkin_id >= 2**63:
        return None
    return checkin_id if hmac.compare_digest(mac, _mac(checkin_id)) else None


def one_tap_url(token: str) -> str:
    """The absolute link to the one-tap page for TOKEN, as emails and texts carry it."""
    return settings.SITE_URL + reverse("one-tap", args=[token])
