"""Email: Django's mail backend (SMTP in production, the console in `make run`)."""

import hashlib
import smtplib
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage

from backend.accounts.models import User
from backend.notifications.texts import body, title

from .base import Channel, Message, SendResult


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
        try:
            EmailMessage(
                subject=title(message),
                body=body(message),
                to=[person.email],
                headers=message_id_header(message),
            ).send()
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            return SendResult("failed", error=str(exc)[:500])
        except (smtplib.SMTPException, OSError) as exc:
            return SendResult("retry", error=str(exc)[:500])
        return SendResult("sent")
