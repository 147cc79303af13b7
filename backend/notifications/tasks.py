"""Celery interface to the notification services: thin, idempotent, ids in and out."""

from datetime import datetime

from celery import shared_task

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_batch(checkin_ids: list[int], purpose: str = "ask", seq: int = 0) -> dict[str, int]:
    return services.deliveries_send_batch(checkin_ids=checkin_ids, purpose=purpose, seq=seq)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_deliveries(delivery_ids: list[int]) -> dict[str, int]:
    return services.deliveries_send_ids(delivery_ids=delivery_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def retry_due() -> dict[str, int]:
    return services.deliveries_retry_due()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep_reminders() -> dict[str, int]:
    return services.reminders_sweep()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep_friend_alerts() -> dict[str, int]:
    return services.friend_alerts_sweep()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_friend_alerts(recipient_ids: list[int], claimed_at: str) -> dict[str, int]:
    return services.friend_alerts_send(
        recipient_ids=recipient_ids, claimed_at=datetime.fromisoformat(claimed_at)
    )
