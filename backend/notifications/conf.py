"""This app's settings with their defaults, so the app works even before settings.py names them.

settings.py reads each from the environment (strictly); these are the values when it does not.
"""

from django.conf import settings


def escalation_minutes() -> int:
    """Minutes without an answer before the next channel is tried."""
    return int(getattr(settings, "SAFE_ESCALATION_MINUTES", 10))


def friend_alert_window_seconds() -> int:
    """At most one friend alert per recipient in this many seconds."""
    return int(getattr(settings, "SAFE_FRIEND_ALERT_WINDOW_SECONDS", 300))


def nudge_interval_seconds() -> int:
    """A person may ask the same friend to check in at most once in this many seconds."""
    return int(getattr(settings, "SAFE_NUDGE_INTERVAL_SECONDS", 1800))


def push_allow_http_loopback() -> bool:
    """Accept http:// push endpoints on a loopback host (development and tests only)."""
    return bool(getattr(settings, "SAFE_PUSH_ALLOW_HTTP_LOOPBACK", settings.DEBUG))


def push_threads() -> int:
    """Pushes in flight at once in one worker process."""
    return int(getattr(settings, "SAFE_PUSH_THREADS", 16))


def push_origin_concurrency() -> int:
    """Pushes in flight at once to one push-service origin in one worker process."""
    return int(getattr(settings, "SAFE_PUSH_ORIGIN_CONCURRENCY", 8))


def push_max_subscriptions() -> int:
    """Devices kept per person; the oldest subscription goes when a new one exceeds this."""
    return int(getattr(settings, "SAFE_PUSH_MAX_SUBSCRIPTIONS", 20))
