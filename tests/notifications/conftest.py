"""Fixtures for channel tests: a real local push service and a VAPID key in settings."""

from collections.abc import Iterator
from typing import Any

import pytest

from backend.accounts.models import User
from backend.notifications.models import PushSubscription
from backend.notifications.webpush import generate_vapid_keypair
from tests.support.push_service import PushService


@pytest.fixture
def push_service() -> Iterator[PushService]:
    with PushService() as service:
        yield service


@pytest.fixture
def vapid(settings) -> str:
    """Configure Web Push with a fresh key; returns the public key."""
    private_key, public_key = generate_vapid_keypair()
    settings.VAPID_PRIVATE_KEY = private_key
    settings.VAPID_SUBJECT = "mailto:ops@example.org"
    settings.SAFE_PUSH_ALLOW_HTTP_LOOPBACK = True
    return public_key


def subscribe(service: PushService, person: User) -> dict[str, Any]:
    """Give PERSON a device subscribed at SERVICE, as the API would store it."""
    subscription = service.subscribe()
    PushSubscription.objects.create(
        person=person,
        endpoint=subscription["endpoint"],
        p256dh=subscription["keys"]["p256dh"],
        auth=subscription["keys"]["auth"],
    )
    return subscription
