"""Reads for notifications: delivery counts per channel, a person's push devices."""

from django.db.models import Count, Prefetch

from backend.accounts.models import User

from .models import Delivery, PushSubscription

# Where `with_push_devices` puts a person's subscriptions: a plain list. The default
# prefetch built a related manager and a queryset per person to hold them (py-spy: 6 % of a
# push fan-out); a list costs one attribute.
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


def with_push_devices(people: str = "") -> Prefetch:
    """Prefetch the push subscriptions of the people at the lookup PEOPLE ("" for users,
    "checkin__person" for deliveries) for `push_devices`."""
    lookup = f"{people}__push_subscriptions" if people else "push_subscriptions"
    return Prefetch(lookup, to_attr=_PUSH_DEVICES)


def push_devices(person: User) -> list[PushSubscription]:
    """PERSON's push subscriptions: prefetched by `with_push_devices`, else a fresh query."""
    devices: list[PushSubscription] | None = getattr(person, _PUSH_DEVICES, None)
    if devices is None:
        return list(PushSubscription.objects.filter(person=person))
    return devices
