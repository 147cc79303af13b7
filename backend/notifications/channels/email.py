"""Email: Django's mail backend (SMTP in production, the console in `make run`)."""

import hashlib
import smtplib
from collections.abc import Generator, Sequence
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from backend.accounts.models import User
from backend.notifications.texts import body, title

from .base import Channel, Message, Ready, SendResult, SendWindow


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

    def reaches(self, person: User) -> bool:
        return bool(person.email)

    def send(self, *, person: User, message: Message) -> SendResult:
        return _send(person, message, connection=None)

    def send_stream(
        self, items: Sequence[tuple[User, Message]], window: SendWindow
    ) -> Generator[Ready, None, None]:
        """One message at a time (window 1: each is recorded before the next starts), over
        one connection to the mail server for the whole batch instead of one per message."""
        connection = get_connection()
        try:
            connection.open()
        except (smtplib.SMTPException, OSError) as exc:
            failure = SendResult("retry", error=str(exc)[:500])
            yield [(index, failure) for index in range(len(items))]  # nothing was started
            return
        try:
            for index, (person, message) in enumerate(items):
                if not window.acquire(index):
                    return
                yield [(index, _send(person, message, connection=connection))]
        finally:
            connection.close()


def _send(person: User, message: Message, *, connection: BaseEmailBackend | None) -> SendResult:
    try:
        EmailMessage(
            subject=title(message),
            body=body(message),
            to=[person.email],
            headers=message_id_header(message),
            connection=connection,
        ).send()
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        return SendResult("failed", error=str(exc)[:500])
    except (smtplib.SMTPException, OSError) as exc:
        if connection is not None:
            connection.close()  # the next message opens a fresh one
        return SendResult("retry", error=str(exc)[:500])
    return SendResult("sent")
