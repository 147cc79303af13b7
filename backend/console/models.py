"""What the operator console adds to incidents: activation requests and approvals, the
public activation log, official updates, need-help triage and links to CAP alerts."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from backend.checkins.models import CheckIn
from backend.incidents.models import Incident


class ActivationRequest(models.Model):
    """An operator's request to activate a draft, with the reason given and the audience seen.

    Without the two-operator rule it is approved at once by the requester; with it, a
    second, different operator approves it and that approval starts the fan-out.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved"
        WITHDRAWN = "withdrawn", "Withdrawn"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500)
    audience = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["incident"],
                condition=models.Q(status="pending"),
                name="one_pending_activation_per_incident",
            )
        ]

    def __str__(self) -> str:
        return f"activation of {self.incident_id}: {self.status}"


class PublicLogEntry(models.Model):
    """One line of the public activation log: why an incident did or did not get a check-in."""

    class Action(models.TextChoices):
        ACTIVATED = "activated", "Activated"
        RESOLVED = "resolved", "Resolved"
        DECLINED = "declined", "Considered and declined"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="public_log")
    action = models.CharField(max_length=10, choices=Action.choices)
    reason = models.CharField(max_length=500)
    audience = models.PositiveIntegerField(default=0)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "public log entries"

    def __str__(self) -> str:
        return f"{self.action} {self.incident_id}"


class OfficialUpdate(models.Model):
    """A short official statement about an incident, shown in the PWA and sent to people."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    text = models.CharField(max_length=500)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["incident", "created_at"], name="update_incident_time")]

    def __str__(self) -> str:
        return self.text[:60]


class Triage(models.Model):
    """How operators follow up a person who answered "I need help" (internal only)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        HANDLED = "handled", "Handled"

    checkin = models.OneToOneField(CheckIn, on_delete=models.CASCADE, related_name="triage")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.CharField(max_length=1000, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"triage of {self.checkin_id}: {self.status}"


class CapLink(models.Model):
    """Which incident a CAP alert (sender, identifier) created or changed, for its references."""

    sender = models.CharField(max_length=255)
    identifier = models.CharField(max_length=255)
    msg_type = models.CharField(max_length=10)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sender", "identifier"], name="one_link_per_cap_alert")
        ]

    def __str__(self) -> str:
        return f"{self.sender},{self.identifier}"
