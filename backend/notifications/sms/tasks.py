"""Celery interface for SMS replies sent outside the delivery outbox."""

import logging

from celery import shared_task

from backend.notifications.webpush.transport import retry_delay

from .backends import get_backend

log = logging.getLogger(__name__)


# Acknowledged early (at most once): after a worker crash, losing a confirmation text is
# better than sending it twice.
@shared_task(bind=True, acks_late=False, max_retries=3)
def send_text(self, to: str, body: str) -> str:
    result = get_backend().send(to=to, body=body)
    if result.outcome == "retry" and self.request.retries < self.max_retries:
        delay = retry_delay(self.request.retries + 1, result.retry_after, base=5.0, cap=300.0)
        raise self.retry(countdown=delay)
    if result.outcome != "sent":
        log.warning("SMS reply to %s not sent: %s", to, result.error)
    return result.outcome
