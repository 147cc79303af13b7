"""SMS: a short text with the reply keywords and the one-tap link (backend per `SMS_BACKEND`)."""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from django.core.exceptions import ObjectDoesNotExist

from backend.accounts.models import User

# Celery only autodiscovers notifications/tasks.py; importing the SMS tasks here (this
# module is loaded by the delivery services) registers them in every worker.
from backend.notifications.sms import tasks  # noqa: F401
from backend.notifications.sms.backends import get_backend
from backend.notifications.sms.texts import message_text

from .base import Channel, Message, SendResult

# Provider calls in flight at once per batch; matches the HTTP backend's connection pool.
SEND_THREADS = 10
NO_NUMBER = SendResult("gone", error="no confirmed phone number")


class SmsChannel(Channel):
    name = "sms"

    def reaches(self, person: User) -> bool:
        return _confirmed_number(person) is not None

    def send(self, *, person: User, message: Message) -> SendResult:
        return self.send_many([(person, message)])[0]

    def send_many(self, items: Sequence[tuple[User, Message]]) -> list[SendResult]:
        """Text every person, overlapping the provider's waits.

        Numbers and texts are worked out here, so the threads only do HTTP (no database).
        """
        backend = get_backend()
        jobs = [(_confirmed_number(person), message_text(message)) for person, message in items]

        def send(job: tuple[str | None, str]) -> SendResult:
            number, body = job
            return NO_NUMBER if number is None else backend.send(to=number, body=body)

        if len(jobs) <= 1:
            return [send(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(jobs))) as pool:
            return list(pool.map(send, jobs))


def _confirmed_number(person: User) -> str | None:
    # The outbox loads `person__phone` with the batch; elsewhere this is one query, cached.
    try:
        phone = person.phone
    except ObjectDoesNotExist:
        return None
    return phone.number if phone.confirmed_at is not None else None
