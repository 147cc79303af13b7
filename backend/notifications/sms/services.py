"""Writes for SMS: set and confirm a phone number, and act on an inbound reply.

Codes are 6 digits, stored only as a keyed hash bound to the phone and number; they
expire after 10 minutes, allow 5 guesses, and are sent at most once a minute per person.
"""

import logging
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework import status

from backend.accounts.models import User
from backend.checkins.services import checkin_respond
from backend.checkins.tokens import checkin_token, one_tap_url
from backend.common.errors import Conflict, NotFound, ServiceError, TooManyRequests
from backend.notifications.models import Phone

from . import selectors, texts
from .backends import get_backend
from .keywords import answer_for
from .numbers import number_to_e164, sender_to_e164
from .tasks import send_text

log = logging.getLogger(__name__)

CODE_TTL = timedelta(minutes=texts.CODE_TTL_MINUTES)
CODE_MAX_ATTEMPTS = 5
RESEND_INTERVAL = timedelta(seconds=60)
_CODE_SALT = "safe-and-sound.sms-code"


class TooSoon(TooManyRequests):
    """A code was sent less than a minute ago; `retry_after` says when to ask again."""

    code = "too_soon"


class SmsUnavailable(ServiceError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "sms_unavailable"


def _code_hash(*, phone_id: int, number: str, code: str) -> str:
    return salted_hmac(_CODE_SALT, f"{phone_id}:{number}:{code}", algorithm="sha256").hexdigest()


def phone_set(*, person: User, number: str) -> Phone:
    """Set PERSON's number (unconfirmed) and text it a new code; also how a code is resent.

    Setting the number already confirmed changes nothing and sends nothing. Raises
    ServiceError (400) for a bad number, TooSoon (429) within a minute of the last code,
    SmsUnavailable (503) if the provider cannot take the message now.
    """
    e164 = number_to_e164(number, language=person.language)
    code = f"{secrets.randbelow(10**6):06d}"
    now = timezone.now()
    with transaction.atomic():
        # get_or_create survives two first requests at once; the lock orders the rest.
        created = Phone.objects.get_or_create(person=person, defaults={"number": e164})[0]
        phone = Phone.objects.select_for_update().get(id=created.id)
        if phone.confirmed_at is not None and phone.number == e164:
            return phone
        if phone.code_sent_at and now < phone.code_sent_at + RESEND_INTERVAL:
            wait = math.ceil((phone.code_sent_at + RESEND_INTERVAL - now).total_seconds())
            raise TooSoon(
                f"A code was sent less than a minute ago; try again in {wait} seconds.",
                retry_after=wait,
            )
        phone.number = e164
        phone.confirmed_at = None
        phone.code_hash = _code_hash(phone_id=phone.id, number=e164, code=code)
        phone.code_sent_at = now
        phone.code_attempts = 0
        phone.save()
    # Sent outside the transaction: no row lock is held while the provider answers.
    result = get_backend().send(to=e164, body=texts.code_text(code=code, language=person.language))
    if result.outcome == "sent":
        return phone
    # Nothing reached the person: forget the code so they may ask again at once.
    Phone.objects.filter(id=phone.id, code_hash=phone.code_hash).update(
        code_hash="", code_sent_at=None
    )
    log.warning("confirmation code to phone %s not sent: %s", phone.id, result.error)
    if result.outcome == "retry":
        raise SmsUnavailable("We could not send the code just now; please try again shortly.")
    raise ServiceError(
        "The text message provider refused this number; check it or use another one.",
        code="sms_refused",
        fields={"number": ["refused by the provider"]},
    )


def phone_confirm(*, person: User, code: str) -> Phone:
    """Confirm PERSON's number with the code texted to it. Every guess uses one attempt.

    Raises NotFound without a number, ServiceError (400) for a missing, expired, wrong or
    exhausted code, Conflict (409) if another account has confirmed the number.
    """
    phone = selectors.phone_of(person=person)
    if phone.confirmed_at is not None:
        return phone
    if not phone.code_hash or phone.code_sent_at is None:
        raise ServiceError("No code is waiting; ask for a new one.", code="no_code")
    if timezone.now() > phone.code_sent_at + CODE_TTL:
        raise ServiceError("This code has expired; ask for a new one.", code="code_expired")
    # Take the attempt before checking the code, so concurrent guesses cannot exceed the limit.
    taken = Phone.objects.filter(
        id=phone.id, code_hash=phone.code_hash, code_attempts__lt=CODE_MAX_ATTEMPTS
    ).update(code_attempts=F("code_attempts") + 1)
    if not taken:
        raise ServiceError("Too many wrong codes; ask for a new one.", code="too_many_attempts")
    expected = _code_hash(phone_id=phone.id, number=phone.number, code=code)
    if not constant_time_compare(expected, phone.code_hash):
        left = CODE_MAX_ATTEMPTS - phone.code_attempts - 1
        raise ServiceError(
            f"This code is not right; {left} attempt(s) left.",
            code="wrong_code",
            fields={"code": ["wrong code"]},
        )
    taken_by_other = Conflict(
        "This number is already confirmed on another account.", code="number_taken"
    )
    if (
        Phone.objects.filter(number=phone.number, confirmed_at__isnull=False)
        .exclude(id=phone.id)
        .exists()
    ):
        raise taken_by_other
    try:
        with transaction.atomic():
            confirmed = Phone.objects.filter(id=phone.id, code_hash=phone.code_hash).update(
                confirmed_at=timezone.now(), code_hash="", code_attempts=0
            )
    except IntegrityError:
        raise taken_by_other from None
    if not confirmed:
        raise Conflict("The number changed meanwhile; ask for a new code.", code="code_replaced")
    phone.refresh_from_db()
    return phone


def phone_remove(*, person: User) -> None:
    """Forget PERSON's number (nothing happens if there is none)."""
    Phone.objects.filter(person=person).delete()


@dataclass(frozen=True)
class Inbound:
    """What an inbound message did: `answered`, `not_understood`, `nothing_open`, `unknown`."""

    outcome: str
    checkin_id: int | None = None


def sms_receive(*, sender: str, text: str) -> Inbound:
    """Act on an SMS reply: answer the sender's most recent open check-in, and reply.

    An unknown sender changes nothing and gets no reply. Replies are queued after commit.
    """
    number = sender_to_e164(sender)
    phone = selectors.phone_confirmed_by_number(number=number) if number else None
    if phone is None or number is None:
        return Inbound("unknown")
    person = phone.person
    checkin = selectors.open_checkin_of(person=person)
    answer = answer_for(text)
    if answer is None:
        link = (
            one_tap_url(checkin_token(checkin.id, checkin.incident_id))
            if checkin is not None
            else None
        )
        _reply(number, texts.help_text(language=person.language, link=link))
        return Inbound("not_understood", checkin.id if checkin else None)
    if checkin is not None:
        try:
            checkin_respond(checkin_id=checkin.id, status=answer, via="sms")
        except (Conflict, NotFound):
            checkin = None  # resolved (or deleted) between the lookup and the answer
    if checkin is None:
        _reply(number, texts.nothing_open_text(language=person.language))
        return Inbound("nothing_open")
    _reply(number, texts.recorded_text(status=answer, language=person.language))
    return Inbound("answered", checkin.id)


def _reply(number: str, body: str) -> None:
    transaction.on_commit(lambda: send_text.delay(number, body))
