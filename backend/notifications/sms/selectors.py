"""Reads for SMS: a person's phone, and the check-in an SMS reply answers."""

from backend.accounts.models import User
from backend.checkins.models import CheckIn
from backend.common.errors import NotFound
from backend.incidents.models import Incident
from backend.notifications.models import Phone


def phone_of(*, person: User) -> Phone:
    """PERSON's phone; 404 if they have none."""
    phone = Phone.objects.filter(person=person).first()
    if phone is None:
        raise NotFound("You have no phone number.")
    return phone


def phone_confirmed_by_number(*, number: str) -> Phone | None:
    """The confirmed phone with this E.164 number (there is at most one), with its person."""
    return (
        Phone.objects.select_related("person")
        .filter(number=number, confirmed_at__isnull=False, person__is_active=True)
        .first()
    )


def open_checkin_of(*, person: User) -> CheckIn | None:
    """PERSON's most recent check-in in an active incident: the one an SMS reply answers."""
    return (
        CheckIn.objects.select_related("incident")
        .filter(person=person, incident__status=Incident.Status.ACTIVE)
        .order_by("-created_at", "-id")
        .first()
    )
