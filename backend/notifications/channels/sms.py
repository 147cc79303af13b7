"""SMS: a short text with the reply keywords and the one-tap link (backend per `SMS_BACKEND`)."""

from django.core.exceptions import ObjectDoesNotExist

from backend.accounts.models import User

# Celery only autodiscovers notifications/tasks.py; importing the SMS tasks here (this
# module is loaded by the delivery services) registers them in every worker.
from backend.notifications.sms import tasks  # noqa: F401
from backend.notifications.sms.backends import get_backend
from backend.notifications.sms.texts import message_text

from .base import Channel, Message, SendResult


class SmsChannel(Channel):
    name = "sms"

    def reaches(self, person: User) -> bool:
        return _confirmed_number(person) is not None

    def send(self, *, person: User, message: Message) -> SendResult:
        number = _confirmed_number(person)
        if number is None:
            return SendResult("gone", error="no confirmed phone number")
        return get_backend().send(to=number, body=message_text(message))


def _confirmed_number(person: User) -> str | None:
    # `person.phone` is cached on the instance, so reaches() then send() cost one query.
    try:
        phone = person.phone
    except ObjectDoesNotExist:
        return None
    return phone.number if phone.confirmed_at is not None else None
