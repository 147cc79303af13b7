"""Reads for notifications: delivery counts per channel, a person's push devices."""

from collections.abc import Iterable
from typing import NamedTuple

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from backend.accounts.models import User
from backend.common.sql import InArray

from .models import Delivery, FanOutClaim, PushSubscription

# Where `attach_push_devices` puts a person's subscriptions: a plain list. Django's
# prefetch built a related manager and a queryset per person to hold them and matched them
# through the generic foreign-key code (py-spy: 16 % of a push worker's CPU).
_PUSH_DEVICES = "push_devices"


class PushDevice(NamedTuple):
    """What sending to one push subscription reads. A tuple, not a model instance: loading a
    fan-out batch's devices as models took about twice as long (`attach_push_devices`,
    1,000 people on PostgreSQL: ~15 µs each against ~8)."""

    id: int
    endpoint: str
    p256dh: str
    auth: str


DEVICE_FIELDS = ("id", "endpoint", "p256dh", "auth")
COUNTED = ("pending", "sent", "failed", "expired")


def delivery_counts(*, incident_id: int) -> dict[str, dict[str, int]]:
    """Per channel, how many deliveries are pending, sent, failed or expired.

    A grouped COUNT over the (incident, channel, status) index: an index-only scan, cheap
    enough for an operator's refresh. Rows being sent count as pending, and so do messages
    of fan-out claims not yet recorded.
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
    for channel, sent, unrecorded in claimed_counts(incident_id=incident_id):
        per_status = counts.setdefault(channel, dict.fromkeys(COUNTED, 0))
        per_status["sent"] += sent
        per_status["pending"] += unrecorded
    return counts


def claimed_counts(*, incident_id: int) -> list[tuple[str, int, int]]:
    """Per channel, the messages of fan-out claims (`FanOutClaim`) sent, and those of open
    claims not yet recorded. The others are counted as their `Delivery` rows."""
    open_ = Q(status=FanOutClaim.Status.OPEN)
    unrecorded = F("size") - F("sent") - F("not_sent")
    return list(
        FanOutClaim.objects.filter(incident_id=incident_id)
        .values("channel")
        .annotate(sent_in_all=Sum("sent"), unrecorded=Coalesce(Sum(unrecorded, filter=open_), 0))
        .order_by()
        .values_list("channel", "sent_in_all", "unrecorded")
    )


def attach_push_devices(people: Iterable[User]) -> None:
    """Load the push subscriptions of PEOPLE in one query, for `push_devices`."""
    people = list(people)
    devices: dict[int, list[PushDevice]] = {person.id: [] for person in people}
    found = PushSubscription.objects.filter(InArray(F("person_id"), list(devices)))
    for person_id, *device in found.values_list("person_id", *DEVICE_FIELDS):
        devices[person_id].append(PushDevice(*device))
    for person in people:
        setattr(person, _PUSH_DEVICES, devices[person.id])


def push_devices(person: User) -> list[PushDevice]:
    """PERSON's push subscriptions: attached by `attach_push_devices`, else a fresh query."""
    devices: list[PushDevice] | None = getattr(person, _PUSH_DEVICES, None)
    if devices is None:
        found = PushSubscription.objects.filter(person=person).values_list(*DEVICE_FIELDS)
        return [PushDevice(*device) for device in found]
    return devices
