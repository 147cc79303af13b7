"""Email: Django's mail backend (SMTP in production, the console in `make run`)."""

import smtplib

from django.core.mail import send_mail

from backend.accounts.models import User
from backend.notifications.texts import body, title

from .base import Channel, Message, SendResult


class EmailChannel(Channel):
    name = "email"

    def reaches(self, person: User) -> bool:
        return bool(person.email)

    def send(self, *, person: User, message: Message) -> SendResult:
        try:
            send_mail(
                subject=title(message),
                message=body(message),
                from_email=None,
                recipient_list=[person.email],
            )
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            return SendResult("failed", error=str(exc)[:500])
        except (smtplib.SMTPException, OSError) as exc:
            return SendResult("retry", error=str(exc)[:500])
        return SendResult("sent")
