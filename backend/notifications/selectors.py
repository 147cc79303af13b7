"""Reads for notifications: delivery counts per channel, a person's channel settings."""

from django.db.models import Count

from .models import Delivery

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
