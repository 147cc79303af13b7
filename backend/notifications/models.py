"""The delivery outbox: one row per (check-in, channel, purpose, sequence).

A row is claimed with a compare-and-set (pending → sending) before anything is sent,
so a task that runs twice (broker redelivery, retry) never sends the same message twice.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from backend.checkins.models import CheckIn
from backend.common.direct_load import DirectLoad
from backend.incidents.models import Incident


class Purpose(models.TextChoices):
    ASK = "ask", "Are you safe?"
    ESCALATION = "escalation", "Are you safe? (next channel)"
    REMINDER = "reminder", "Reminder"
    NUDGE = "nudge", "A friend asks you to check in"
    UPDATE = "update", "Official update"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    # No index of their own: `one_delivery_per_message` starts with the check-in and
    # `delivery_stats` with the incident. Every index costs each claim and record an entry.
    checkin = models.ForeignKey(
        CheckIn, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    channel = models.CharField(max_length=12)
    purpose = models.CharField(max_length=12, choices=Purpose.choices, default=Purpose.ASK)
    seq = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
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
        indexes = [
            models.Index(fields=["incident", "channel", "status"], name="delivery_stats"),
            # The sweeps: rows due for a retry, and claims of workers that died. Partial, so
            # rows move in and out only while pending or sending, not for every status.
            models.Index(
                fields=["next_attempt_at"], name="delivery_due", condition=Q(status="pending")
            ),
            models.Index(
                fields=["claimed_at"], name="delivery_claimed", condition=Q(status="sending")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel}/{self.purpose}#{self.seq} for {self.checkin_id}: {self.status}"


class FanOutClaim(models.Model):
    """A fan-out task's hold on the first asks of one batch on one channel: one row for up
    to a thousand messages, where the outbox would write a row per message twice.

    Made for channels that `claims_at_insert` (Web Push). A message sent is recorded on its
    check-in (`delivered_at`, the first reach) and in `sent`; only one not sent becomes a
    `Delivery` row (retry, failure, fallback: as any other). Unique per (incident, channel,
    first check-in of the task), so a redelivered task finds the claim and sends nothing.
    A claim its worker neither closed nor renewed in time is taken over by `retry_due`:
    its check-ins not yet reached become pending rows (`deliveries_retry_due`).
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"  # every message recorded by the worker that held it
        TAKEN_OVER = "taken_over", "Taken over"  # its unreached check-ins became rows

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=12)
    first_checkin_id = models.BigIntegerField()
    checkin_ids = models.JSONField()
    size = models.PositiveIntegerField()
    sent = models.PositiveIntegerField(default=0)
    # Messages recorded as `Delivery` rows instead (retries and failures).
    not_sent = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "channel", "first_checkin_id"], name="one_claim_per_batch"
            )
        ]
        indexes = [
            models.Index(fields=["claimed_at"], name="fanoutclaim_open", condition=Q(status="open"))
        ]

    def __str__(self) -> str:
        return f"{self.channel} asks from {self.first_checkin_id} ({self.size}): {self.status}"


class PushSubscription(models.Model):
    """One browser/device's Web Push subscription (the PushSubscription JSON)."""

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(max_length=1024, unique=True)
    p256dh = models.CharField(max_length=100)
    auth = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"push for {self.person_id}"


class Phone(DirectLoad, models.Model):
    """A person's mobile number (E.164), usable only once confirmed with a one-time code."""

    person = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="phone"
    )
    number = models.CharField(max_length=20)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    code_hash = models.CharField(max_length=128, blank=True)
    code_sent_at = models.DateTimeField(null=True, blank=True)
    code_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            # Inbound replies are matched by number: a confirmed number has one owner.
            models.UniqueConstraint(
                fields=["number"],
                condition=models.Q(confirmed_at__isnull=False),
                name="one_owner_per_confirmed_number",
            )
        ]

    def __str__(self) -> str:
        return self.number


class Reminder(models.Model):
    """When a check-in without an answer is next reminded or escalated (swept by beat)."""

    checkin = models.OneToOneField(CheckIn, on_delete=models.CASCADE, related_name="reminder")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")
    next_at = models.DateTimeField(db_index=True)
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    # Index in the person's channel order reached so far (escalation).
    channel_step = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return f"reminder for {self.checkin_id} at {self.next_at:%H:%M}"


class FriendAlert(models.Model):
    """Tell RECIPIENT that a friend answered; coalesced per recipient when sent."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="friend_alerts_received"
    )
    response = models.ForeignKey(
        "checkins.Response", on_delete=models.CASCADE, related_name="friend_alerts"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    channel = models.CharField(max_length=12, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "response"], name="one_alert_per_answer_and_friend"
            )
        ]
        indexes = [models.Index(fields=["status", "recipient"], name="friendalert_pending")]

    def __str__(self) -> str:
        return f"alert to {self.recipient_id} about response {self.response_id}"


class Nudge(models.Model):
    """A friend asked someone who has not answered to check in (rate-limited per pair)."""

    from_person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    checkin = models.ForeignKey(CheckIn, on_delete=models.CASCADE, related_name="nudges")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.from_person_id} nudged {self.checkin_id}"
