"""Email: Django's mail backend (SMTP in production, the console in `make run`)."""

import hashlib
import smtplib
import threading
from collections.abc import Callable, Generator, Sequence
from functools import partial
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from backend.accounts.models import User
from backend.notifications.texts import body, title

from .base import Channel, Message, Ready, SendResult, SendWindow, stream_in_threads, thread_pool

# Threads sending mail in one worker process; `SAFE_EMAIL_IN_FLIGHT` of them work at once.
MAIL_THREADS = 32


def message_id_header(message: Message) -> dict[str, str]:
    """A Message-ID fixed by the outbox row: a copy sent again is the same message (RFC 5322),
    which mail systems that deduplicate by Message-ID show once."""
    if not message.key:
        return {}
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{message.key}".encode()).hexdigest()[:32]
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    return {"Message-ID": f"<{digest}@{domain}>"}


class EmailChannel(Channel):
    name = "email"
    takes_more = True  # `send_stream` reads `len(items)` at every step

    def reaches(self, person: User) -> bool:
        return bool(person.email)

    def send(self, *, person: User, message: Message) -> SendResult:
        return _deliver(_email(person, message), get_connection())

    def window(self) -> int:
        return settings.SAFE_EMAIL_IN_FLIGHT

    def send_stream(
        self, items: Sequence[tuple[User, Message]], window: SendWindow
    ) -> Generator[Ready, None, None]:
        """Up to `window()` messages at once, each thread on a connection of its own to the mail
        server, kept for the whole batch. Each message costs the relay four round trips, so
        one at a time a relay 20 ms away took 11 emails/s from a worker
        (tests/bench/bench_email_channel.py). The messages are built in this thread, so the
        pool's threads only talk SMTP (no database). ITEMS may grow between two steps
        (`takes_more`)."""
        local = threading.local()
        opened: list[BaseEmailBackend] = []

        def send(email: EmailMessage) -> SendResult:
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = local.connection = get_connection()
                opened.append(connection)
            return _deliver(email, connection)

        def job(index: int) -> Callable[[], SendResult]:
            return partial(send, _email(*items[index]))

        try:
            yield from stream_in_threads(thread_pool("mail", MAIL_THREADS), items, window, job)
        finally:
            for connection in opened:
                connection.close()


def _email(person: User, message: Message) -> EmailMessage:
    return EmailMessage(
        subject=title(message),
        body=body(message),
        to=[person.email],
        headers=message_id_header(message),
    )


def _deliver(email: EmailMessage, connection: BaseEmailBackend) -> SendResult:
    try:
        connection.send_messages([email])
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        return SendResult("failed", error=str(exc)[:500])
    except (smtplib.SMTPException, OSError) as exc:
        connection.close()  # the next message opens a fresh one
        return SendResult("retry", error=str(exc)[:500])
    return SendResult("sent")
