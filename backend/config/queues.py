"""Celery queues: one per kind of work, so each can be given its own workers.

A worker started without `-Q` consumes all of them (the demo, a single host). At scale,
delivery gets most workers, fan-out a few and the sweeps one, so a million asks being sent
never delays a reminder sweep or the next incident's fan-out (docs/scaling.md).
"""

from kombu import Queue

ROLES: dict[str, tuple[str, ...]] = {
    # Resolution: region → one check-in per affected person, then delivery batches.
    "fanout": ("backend.checkins.tasks.fanout_incident",),
    # Outbound messages on every channel.
    "deliver": (
        "backend.notifications.tasks.send_batch",
        "backend.notifications.tasks.send_deliveries",
        "backend.notifications.tasks.send_friend_alerts",
        "backend.notifications.sms.tasks.send_text",
    ),
    # Periodic work from beat: retries, reminders and escalation, friend alerts, retention.
    "sweeps": (
        "backend.notifications.tasks.retry_due",
        "backend.notifications.tasks.sweep_reminders",
        "backend.notifications.tasks.sweep_friend_alerts",
        "backend.checkins.tasks.purge_expired",
    ),
}


def queue_names(base: str) -> list[str]:
    """BASE (anything not routed) and one queue per role, named BASE.ROLE."""
    return [base, *(f"{base}.{role}" for role in ROLES)]


def task_queues(base: str) -> list[Queue]:
    return [Queue(name) for name in queue_names(base)]


def task_routes(base: str) -> dict[str, dict[str, str]]:
    return {task: {"queue": f"{base}.{role}"} for role, tasks in ROLES.items() for task in tasks}
