"""Send one text message through the configured provider (`SMS_BACKEND`).

`console` prints messages (development); `http` POSTs a Twilio-compatible form (To, From,
Body, HTTP basic auth) over a pooled session. Both return the channels' `SendResult` and
never raise for a delivery failure: retrying is the caller's decision.
"""

import functools
import logging
import sys
import threading

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from backend.notifications.channels.base import SendResult
from backend.notifications.webpush.transport import parse_retry_after

log = logging.getLogger(__name__)

_ERROR_BODY_CHARS = 200


class SmsBackend:
    """Send a text to one E.164 number."""

    def send(self, *, to: str, body: str, key: str = "") -> SendResult:
        """KEY, when given, is the request's idempotency key: a provider that sees it again
        answers as the first time and sends nothing more."""
        raise NotImplementedError


class ConsoleBackend(SmsBackend):
    """Print each message to stdout, as Django's console email backend does."""

    _lock = threading.Lock()

    def send(self, *, to: str, body: str, key: str = "") -> SendResult:
        with self._lock:
            sys.stdout.write(f"--- SMS to {to} ---\n{body}\n---\n")
            sys.stdout.flush()
        return SendResult("sent")


class HttpBackend(SmsBackend):
    """A Twilio-compatible provider: form POST with basic auth; safe to share between threads."""

    def __init__(
        self, *, url: str, account: str, token: str, sender: str, timeout: float = 10.0
    ) -> None:
        self.url = url
        self.sender = sender
        # Connecting should be quick; the provider may take longer to answer under load.
        self.timeout = (min(timeout, 3.05), timeout)
        self.session = requests.Session()
        self.session.auth = (account, token)
        # No proxy/.netrc lookups per request; the outbox does retries, not urllib3.
        self.session.trust_env = False
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=10, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def send(self, *, to: str, body: str, key: str = "") -> SendResult:
        form = {"To": to, "From": self.sender, "Body": body}
        # The IETF httpapi Idempotency-Key header: a resend after a worker died (or after a
        # read timeout hid an accepted message) is the same request, which the provider
        # answers as before without texting the person again.
        headers = {"Idempotency-Key": key} if key else None
        try:
            response = self.session.post(
                self.url, data=form, headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            # A read timeout may hide a message the provider accepted; the retry carries
            # the same idempotency key, and a person asked twice beats one never asked.
            return SendResult("retry", error=f"{type(exc).__name__}: {exc}"[:500])
        except requests.RequestException as exc:
            return SendResult("failed", error=f"{type(exc).__name__}: {exc}"[:500])
        return _classify(response)


def _classify(response: requests.Response) -> SendResult:
    status = response.status_code
    if 200 <= status < 300:
        return SendResult("sent")
    detail = response.text[:_ERROR_BODY_CHARS].strip()
    error = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    if status in (408, 429) or status >= 500:
        return SendResult(
            "retry", error=error, retry_after=parse_retry_after(response.headers.get("Retry-After"))
        )
    return SendResult("failed", error=error)


@functools.lru_cache(maxsize=4)
def _http_backend(url: str, account: str, token: str, sender: str, timeout: float) -> HttpBackend:
    return HttpBackend(url=url, account=account, token=token, sender=sender, timeout=timeout)


def get_backend() -> SmsBackend:
    """The backend the settings name; one pooled HTTP backend per configuration."""
    if settings.SMS_BACKEND == "http":
        return _http_backend(
            settings.SMS_HTTP_URL,
            settings.SMS_HTTP_ACCOUNT,
            settings.SMS_HTTP_TOKEN,
            settings.SMS_SENDER_ID,
            settings.SMS_HTTP_TIMEOUT,
        )
    return ConsoleBackend()
