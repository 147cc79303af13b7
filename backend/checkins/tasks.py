"""Celery interface to fan-out: thin and idempotent (safe to run twice)."""

from celery import shared_task
from django.conf import settings

from backend.notifications.services import checkin_ids_in_batches, reminders_schedule
from backend.notifications.tasks import send_batch

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def fanout_incident(incident_id: int) -> int:
    """Create every check-in and its reminder row, then queue one delivery task per batch."""
    created = services.checkins_create_for_incident(incident_id=incident_id)
    reminders_schedule(incident_id=incident_id)
    for batch in checkin_ids_in_batches(incident_id=incident_id, size=settings.SAFE_FANOUT_BATCH):
        send_batch.delay(batch)
    return created


@shared_task(acks_late=True, reject_on_worker_lost=True)
def purge_expired() -> dict[str, int]:
    """Delete check-ins, answers and deliveries past the retention period (beat, daily)."""
    from .retention import retention_purge

    return retention_purge()
