"""A fake Twilio-compatible SMS provider on 127.0.0.1 for tests: records every message.

with SmsProvider(account="AC1", token="secret") as provider:
    ... SMS_BACKEND=http, SMS_HTTP_URL=provider.url ...
    [sms] = provider.wait_for(1)
    assert sms.to == "+33612345678"
    provider.fail_next(429, retry_after=7)     # the next request gets 429 + Retry-After

A request with an `Idempotency-Key` header that was accepted before gets the first answer
again and sends nothing (counted in `provider.replayed`); the same key with another form
is refused with 422, as the IETF Idempotency-Key draft says.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from tests.support.local_server import LocalServer


@dataclass(frozen=True)
class Sms:
    """One accepted message, with the credentials it came with."""

    to: str
    from_: str
    body: str
    account: str
    token: str
    content_type: str
    idempotency_key: str = ""


@dataclass(frozen=True)
class Refused:
    """A request answered with an error (programmed fault or bad credentials)."""

    status: int
    form: dict[str, str]


class SmsProvider(LocalServer):
    """Threaded HTTP/1.1 server taking `POST /2010-04-01/Accounts/<account>/Messages.json`."""

    def __init__(self, *, account: str = "AC-test", token: str = "token-test") -> None:  # noqa: S107
        self.account = account
        self.token = token
        super().__init__(_Handler)
        self._server.provider = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.port}/2010-04-01/Accounts/{account}/Messages.json"
        self._messages: list[Sms] = []
        self.refused: list[Refused] = []
        self._faults: deque[tuple[int, str | None]] = deque()
        # Idempotency-Key -> (form, the answer it got) for accepted messages.
        self._answered: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}
        self.replayed = 0
        self._changed = threading.Condition()

    def fail_next(
        self, status: int, *, times: int = 1, retry_after: str | int | None = None
    ) -> None:
        """Answer the next TIMES messages with STATUS (and a `Retry-After` header)."""
        header = None if retry_after is None else str(retry_after)
        with self._changed:
            self._faults.extend([(status, header)] * times)

    @property
    def messages(self) -> list[Sms]:
        with self._changed:
            return list(self._messages)

    def to(self, number: str) -> list[Sms]:
        """The messages accepted for NUMBER."""
        return [sms for sms in self.messages if sms.to == number]

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Sms]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= n, timeout):
                raise TimeoutError(f"received {len(self._messages)} of {n} text messages")
            return list(self._messages)

    def _handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        form = {
            key: values[0]
            for key, values in parse_qs(body.decode(), keep_blank_values=True).items()
        }
        account, token = _basic_auth(headers.get("authorization", ""))
        key = headers.get("idempotency-key", "")
        with self._changed:
            if path != f"/2010-04-01/Accounts/{self.account}/Messages.json":
                status, extra, reply = 404, {}, {"code": 20404, "message": "not found"}
            elif (account, token) != (self.account, self.token):
                status, extra, reply = 401, {}, {"code": 20003, "message": "authenticate"}
            elif key in self._answered and self._answered[key][0] == form:
                self.replayed += 1
                return 201, {}, self._answered[key][1]
            elif key in self._answered:
                status, extra = 422, {}
                reply = {"code": 422, "message": "Idempotency-Key reused for another request"}
            elif self._faults:
                status, retry_after = self._faults.popleft()
                extra = {} if retry_after is None else {"Retry-After": retry_after}
                reply = {"code": status, "message": "programmed fault"}
            elif not form.get("To") or not form.get("From") or "Body" not in form:
                status, extra, reply = (
                    400,
                    {},
                    {"code": 21604, "message": "To, From, Body required"},
                )
            else:
                self._messages.append(
                    Sms(
                        to=form["To"],
                        from_=form["From"],
                        body=form["Body"],
                        account=account,
                        token=token,
                        content_type=headers.get("content-type", ""),
                        idempotency_key=key,
                    )
                )
                self._changed.notify_all()
                sid = "SM" + secrets.token_hex(16)
                reply = {"sid": sid, "status": "queued", "to": form["To"]}
                if key:
                    self._answered[key] = (form, reply)
                return 201, {}, reply
            self.refused.append(Refused(status, form))
            return status, extra, reply


def _basic_auth(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        account, _, token = base64.b64decode(value).decode().partition(":")
    except ValueError:
        return "", ""
    return account, token


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive so the pooled session can reuse them.
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        provider: SmsProvider = self.server.provider  # type: ignore[attr-defined]
        status, extra, reply = provider._handle(self.path, headers, body)
        payload = json.dumps(reply).encode()
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
