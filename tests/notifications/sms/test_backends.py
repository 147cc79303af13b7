"""The provider backends: the HTTP form POST and how each provider answer is classified."""

import socket

from backend.notifications.sms.backends import ConsoleBackend, HttpBackend, get_backend
from tests.notifications.sms.conftest import SENDER


def test_http_backend_posts_a_twilio_form_with_basic_auth(sms_provider):
    result = get_backend().send(to="+33612345678", body="Are you safe? é")

    assert result.outcome == "sent"
    [sms] = sms_provider.messages
    assert (sms.to, sms.from_, sms.body) == ("+33612345678", SENDER, "Are you safe? é")
    assert (sms.account, sms.token) == ("AC-test", "token-test")
    assert sms.content_type == "application/x-www-form-urlencoded"


def test_http_backend_is_pooled_per_configuration(sms_provider):
    assert get_backend() is get_backend()
    assert isinstance(get_backend(), HttpBackend)


def test_rate_limited_send_is_retried_after_the_providers_delay(sms_provider):
    sms_provider.fail_next(429, retry_after=7)

    result = get_backend().send(to="+33612345678", body="hello")

    assert (result.outcome, result.retry_after) == ("retry", 7.0)
    assert "429" in result.error
    assert sms_provider.messages == []


def test_provider_error_is_retried(sms_provider):
    sms_provider.fail_next(500)

    assert get_backend().send(to="+33612345678", body="hello").outcome == "retry"


def test_refused_message_fails_with_the_providers_reason(sms_provider):
    sms_provider.fail_next(400)

    result = get_backend().send(to="+33612345678", body="hello")

    assert result.outcome == "failed"
    assert "HTTP 400" in result.error
    assert "programmed fault" in result.error


def test_wrong_credentials_fail(sms_provider):
    backend = HttpBackend(url=sms_provider.url, account="AC-test", token="wrong", sender=SENDER)

    assert backend.send(to="+33612345678", body="hello").outcome == "failed"
    assert sms_provider.messages == []


def test_unreachable_provider_is_retried():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    backend = HttpBackend(
        url=f"http://127.0.0.1:{port}/sms", account="a", token="t", sender=SENDER, timeout=2
    )

    result = backend.send(to="+33612345678", body="hello")

    assert result.outcome == "retry"
    assert "ConnectionError" in result.error


def test_console_backend_prints_the_message(capsys, settings):
    settings.SMS_BACKEND = "console"
    backend = get_backend()

    result = backend.send(to="+33612345678", body="Are you safe?")

    assert isinstance(backend, ConsoleBackend)
    assert result.outcome == "sent"
    out = capsys.readouterr().out
    assert "+33612345678" in out
    assert "Are you safe?" in out
