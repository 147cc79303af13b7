"""Reads for notifications: delivery counts per channel, a person's push devices."""

from collections.abc import Iterable

from django.db.models import Count, F

from backend.accounts.models import User
from backend.common.sql import InArray

from .models import Delivery, PushSubscription

# Where `attach_push_devices` puts a person's subscriptions: a plain list. Django's
# prefetch built a related manager and a queryset per person to hold them and matched them
# through the generic foreign-key code (py-spy: 16 % of a push worker's CPU).
_PUSH_DEVICES = "push_devices"

COUNTED = ("pending", "sent", "failed", "expired")


def delivery_counts(*, incident_id: int) -> dict[str, dict[str, int]]:
    """Per channel, how many deliveries are pending, sent, failed or expired.

    A grouped COUNT over the (incident, channel, status) index: an index-only scan, cheap
    enough for an operator's refresh. Rows being sent count as pending.
    """
    counts: dict[str, dict[str, int]] = {}
    rows = (
        Delivery.objects.filter(incident_id=incident_id)
        .values_list("channel", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for channel, status, n in rows:
        per_status = counts.setdefault(channel, dict.fromkeys(COUNTED, 0))
        key = "pending" if status == Delivery.Status.SENDING else status
        per_status[key] += n
    return counts


def attach_push_devices(people: Iterable[User]) -> None:
    """Load the push subscriptions of PEOPLE in one query, for `push_devices`."""
    people = list(people)
    devices: dict[int, list[PushSubscription]] = {person.id: [] for person in people}
    found = PushSubscription.objects.filter(InArray(F("person_id"), list(devices)))
    for device in found.defer("created_at"):  # a timestamp parsed in Python, never read here
        devices[device.person_id].append(device)
    for person in people:
        setattr(person, _PUSH_DEVICES, devices[person.id])


def push_devices(person: User) -> list[PushSubscription]:
    """PERSON's push subscriptions: attached by `attach_push_devices`, else a fresh query."""
    devices: list[PushSubscription] | None = getattr(person, _PUSH_DEVICES, None)
    if devices is None:
        return list(PushSubscription.objects.filter(person=person))
    return devices
