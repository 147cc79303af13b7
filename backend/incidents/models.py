"""Incidents, the regions they cover (compiled to H3 cell ranges) and the audit log."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


def default_reminder_minutes() -> list[int]:
    return [15, 60, 360]


class Incident(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", pgettext_lazy("incident status", "Draft")
        ACTIVE = "active", pgettext_lazy("incident status", "Active")
        RESOLVED = "resolved", pgettext_lazy("incident status", "Resolved")

    class Kind(models.TextChoices):
        ATTACK = "attack", _("Attack")
        NATURAL = "natural", _("Natural disaster")
        WEATHER = "weather", _("Severe weather")
        FIRE = "fire", _("Fire")
        HEALTH = "health", _("Health")
        ENVIRONMENTAL = "environmental", _("Environmental")
        TRANSPORT = "transport", _("Transport accident")
        INFRASTRUCTURE = "infrastructure", _("Infrastructure failure")
        CBRNE = "cbrne", _("Chemical, biological, radiological")
        OTHER = "other", _("Other")

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OTHER)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    drill = models.BooleanField(default=False, help_text="An exercise: people are told so.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Minutes after activation at which people who have not answered are reminded.
    reminder_minutes = models.JSONField(default=default_reminder_minutes)
    # Set when the audience task has created every check-in (fan-out progress).
    fanout_done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("operate_incident", "Can create, activate and resolve incidents")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class AffectedRegion(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="regions")
    # GeoJSON as given (Polygon / MultiPolygon), or null for a circle.
    geometry = models.JSONField(null=True, blank=True)
    center_lat = models.FloatField(null=True, blank=True)
    center_lon = models.FloatField(null=True, blank=True)
    radius_m = models.FloatField(null=True, blank=True)
    area_km2 = models.FloatField()
    cell_count = models.BigIntegerField()
    summary = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.summary


class CellRange(models.Model):
    """[lo, hi] of res-9 H3 cell integers covered by a region (see DESIGN.md, decision 2)."""

    region = models.ForeignKey(AffectedRegion, on_delete=models.CASCADE, related_name="ranges")
    # Denormalised so the audience join needs no hop through the region.
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")
    lo = models.BigIntegerField()
    hi = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["incident", "lo", "hi"], name="cellrange_incident_lo")]

    def __str__(self) -> str:
        return f"[{self.lo}, {self.hi}]"


class AuditEntry(models.Model):
    """Every operator action, with who and when."""

    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="audit"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=40)
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"
