"""SMS: a short text with the reply keywords and the one-tap link (backend per `SMS_BACKEND`)."""

import hashlib
from collections.abc import Callable, Generator, Sequence
from functools import partial

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist

from backend.accounts.models import User

# Celery only autodiscovers notifications/tasks.py; importing the SMS tasks here (this
# module is loaded by the delivery services) registers them in every worker.
from backend.notifications.sms import tasks  # noqa: F401
from backend.notifications.sms.backends import get_backend
from backend.notifications.sms.texts import message_text

from .base import Channel, Message, Ready, SendResult, SendWindow, stream_in_threads, thread_pool

# Provider calls in flight at once per batch; matches the HTTP backend's connection pool.
SEND_THREADS = 10
NO_NUMBER = SendResult("gone", error="no confirmed phone number")


class SmsChannel(Channel):
    name = "sms"
    takes_more = True  # `send_stream` reads `len(items)` at every step

    def reaches(self, person: User) -> bool:
        return _confirmed_number(person) is not None

    def send(self, *, person: User, message: Message) -> SendResult:
        return self.send_many([(person, message)])[0]

    def window(self) -> int:
        return SEND_THREADS

    def send_stream(
        self, items: Sequence[tuple[User, Message]], window: SendWindow
    ) -> Generator[Ready, None, None]:
        """Text every person, overlapping the provider's waits; results as they come.

        Numbers and texts are worked out in this thread, so the pool's threads only do HTTP
        (no database). Each request carries an idempotency key fixed by the outbox row: a
        copy sent again after a worker died is the same request to the provider, which
        sends it once. ITEMS may grow between two steps (`takes_more`).
        """
        backend = get_backend()

        def job(index: int) -> Callable[[], SendResult]:
            person, message = items[index]
            number = _confirmed_number(person)
            if number is None:
                return lambda: NO_NUMBER
            return partial(
                backend.send, to=number, body=message_text(message), key=idempotency_key(message)
            )

        yield from stream_in_threads(thread_pool("sms", SEND_THREADS), items, window, job)


def idempotency_key(message: Message) -> str:
    """The provider's `Idempotency-Key` for MESSAGE: the same for every copy of one outbox
    row, unguessable from outside (keyed with SECRET_KEY, as the email Message-ID)."""
    if not message.key:
        return ""
    return hashlib.sha256(f"{settings.SECRET_KEY}:sms:{message.key}".encode()).hexdigest()[:32]


def _confirmed_number(person: User) -> str | None:
    # The outbox loads `person__phone` with the batch; elsewhere this is one query, cached.
    try:
        phone = person.phone
    except ObjectDoesNotExist:
        return None
    return phone.number if phone.confirmed_at is not None else None
