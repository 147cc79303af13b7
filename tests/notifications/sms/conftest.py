"""Fixtures for SMS tests: the fake provider wired in, signed inbound calls."""

from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from backend.notifications.models import Phone
from backend.notifications.sms.signature import sign
from tests.support.sms_provider import SmsProvider

INBOUND_SECRET = "inbound-test-secret"
SENDER = "+33700000001"
ALICE_NUMBER = "+33612345678"
CHARLIE_NUMBER = "+33698765432"


@pytest.fixture
def sms_provider(settings) -> Iterator[SmsProvider]:
    """A running fake provider, and the `http` backend pointed at it."""
    with SmsProvider(account="AC-test", token="token-test") as provider:
        settings.SMS_BACKEND = "http"
        settings.SMS_HTTP_URL = provider.url
        settings.SMS_HTTP_ACCOUNT = provider.account
        settings.SMS_HTTP_TOKEN = provider.token
        settings.SMS_SENDER_ID = SENDER
        settings.SMS_HTTP_TIMEOUT = 5.0
        yield provider


def confirm_phone(person, number: str) -> Phone:
    return Phone.objects.create(person=person, number=number, confirmed_at=timezone.now())


@pytest.fixture
def inbound(settings, api, django_capture_on_commit_callbacks) -> Callable[..., object]:
    """`inbound(From, Body)` posts a signed webhook call and runs the queued replies."""
    settings.SMS_INBOUND_SECRET = INBOUND_SECRET

    def post(sender: str, text: str, *, signature: str | None = "valid", body: bytes | None = None):
        raw = body if body is not None else urlencode({"From": sender, "Body": text}).encode()
        headers = {}
        if signature == "valid":
            headers["HTTP_X_SAFE_SIGNATURE"] = sign(raw, secret=INBOUND_SECRET)
        elif signature is not None:
            headers["HTTP_X_SAFE_SIGNATURE"] = signature
        with django_capture_on_commit_callbacks(execute=True):
            return api(None).generic(
                "POST",
                "/api/sms/inbound/",
                raw,
                content_type="application/x-www-form-urlencoded",
                **headers,
            )

    return post
