"""The delivery outbox: one row per (check-in, channel, purpose, sequence).

A row is claimed with a compare-and-set (pending → sending) before anything is sent,
so a task that runs twice (broker redelivery, retry) never sends the same message twice.
"""

from django.db import models
from django.utils import timezone

from backend.checkins.models import CheckIn
from backend.incidents.models import Incident


class Purpose(models.TextChoices):
    ASK = "ask", "Are you safe?"
    REMINDER = "reminder", "Reminder"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    checkin = models.ForeignKey(CheckIn, on_delete=models.CASCADE, related_name="deliveries")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=12)
    purpose = models.CharField(max_length=12, choices=Purpose.choices, default=Purpose.ASK)
    seq = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When a pending row may be tried (again); retries back off by pushing it forward.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["checkin", "channel", "purpose", "seq"], name="one_delivery_per_message"
            )
        ]
        indexes = [models.Index(fields=["incident", "channel", "status"], name="delivery_stats")]

    def __str__(self) -> str:
        return f"{self.channel}/{self.purpose}#{self.seq} for {self.checkin_id}: {self.status}"
