import logging

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)


class NotificationsConfig(AppConfig):
    name = "backend.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from backend.checkins.services import answer_batch_listeners, answer_listeners

        from .services import answer_recorded, answers_recorded
        from .webpush import VapidSigner

        if answer_recorded not in answer_listeners:
            answer_listeners.append(answer_recorded)
        answer_batch_listeners[answer_recorded] = answers_recorded
        private_key = getattr(settings, "VAPID_PRIVATE_KEY", "")
        if private_key:
            # A bad key must stop the start, not surface as failed pushes at the worst time.
            try:
                VapidSigner(private_key, getattr(settings, "VAPID_SUBJECT", ""))
            except ValueError as exc:
                raise ImproperlyConfigured(f"VAPID_PRIVATE_KEY / VAPID_SUBJECT: {exc}") from exc
        elif not settings.DEBUG:
            log.warning(
                "Web Push is off: VAPID_PRIVATE_KEY is not set (manage.py vapid_keygen makes one)"
            )
