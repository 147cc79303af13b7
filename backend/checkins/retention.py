"""Retention: forget who answered what once an incident has been over for a while.

Check-ins, their answers and their deliveries (and what hangs off them: reminders,
friend alerts, nudges, triage notes) of incidents resolved more than
`SAFE_RETENTION_DAYS` ago are deleted. The incident, its regions, its aggregate counters
and the audit log stay: they hold no one's answer. Deletion runs in small batches, each
its own transaction, so it never holds long locks while people answer in another incident.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from backend.incidents.models import Incident
from backend.notifications.models import Delivery, FanOutClaim

from .models import CheckIn, Response


def _delete_in_batches(queryset: QuerySet[Model], *, batch: int) -> int:
    """Delete QUERYSET's rows BATCH at a time; return how many rows went (not cascades)."""
    deleted = 0
    while True:
        ids = list(queryset.values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        with transaction.atomic():
            queryset.model._default_manager.filter(id__in=ids).delete()
        deleted += len(ids)


def retention_purge(*, now: datetime | None = None, batch: int = 1000) -> dict[str, int]:
    """Delete the personal records of incidents resolved before the retention period.

    Idempotent; each batch is atomic. Returns how many deliveries, fan-out claims, answers
    and check-ins were deleted.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.SAFE_RETENTION_DAYS)
    expired = Incident.objects.filter(
        status=Incident.Status.RESOLVED, resolved_at__lt=cutoff
    ).values("id")
    # Children first, so no single check-in delete cascades into thousands of rows.
    return {
        "deliveries": _delete_in_batches(
            Delivery.objects.filter(incident_id__in=expired), batch=batch
        ),
        # They hold only ids, but ids of check-ins that are going.
        "claims": _delete_in_batches(
            FanOutClaim.objects.filter(incident_id__in=expired), batch=batch
        ),
        "answers": _delete_in_batches(
            Response.objects.filter(checkin__incident_id__in=expired), batch=batch
        ),
        "checkins": _delete_in_batches(
            CheckIn.objects.filter(incident_id__in=expired), batch=batch
        ),
    }
