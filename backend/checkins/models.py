"""One check-in per person per incident, every answer kept, and sharded live counters."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backend.common.direct_load import DirectLoad
from backend.incidents.models import Incident


class Answer(models.TextChoices):
    SAFE = "safe", _("I'm safe")
    NEED_HELP = "need_help", _("I need help")
    NOT_IN_AREA = "not_in_area", _("I'm not in the area")


class CheckIn(DirectLoad, models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("No answer yet")
        SAFE = Answer.SAFE.value, Answer.SAFE.label
        NEED_HELP = Answer.NEED_HELP.value, Answer.NEED_HELP.label
        NOT_IN_AREA = Answer.NOT_IN_AREA.value, Answer.NOT_IN_AREA.label

    # No single-column indexes: (incident, person) and (person, incident) below cover both
    # lookups, and every activation inserts up to millions of rows into these indexes.
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="checkins", db_index=False
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="checkins", db_index=False
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    note = models.CharField(max_length=280, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_via = models.CharField(max_length=12, blank=True)
    # First time any channel reached the person; set once, by compare-and-set.
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "person"], name="one_checkin_per_person")
        ]
        indexes = [models.Index(fields=["person", "incident"], name="checkin_person")]

    def __str__(self) -> str:
        return f"{self.person_id} in {self.incident_id}: {self.status}"


class Response(models.Model):
    """One answer as it was given; the check-in holds the latest."""

    checkin = models.ForeignKey(CheckIn, on_delete=models.CASCADE, related_name="responses")
    status = models.CharField(max_length=12, choices=Answer.choices)
    note = models.CharField(max_length=280, blank=True)
    via = models.CharField(max_length=12)
    at = models.DateTimeField(default=timezone.now)
    # The idempotency key of an answer that came through the write-behind stream: the
    # drainer may see an entry twice (a crash between commit and XACK), never records it twice.
    # NULL for the other answers: the unique constraint below ignores those.
    key = models.CharField(max_length=32, null=True, blank=True, editable=False)  # noqa: DJ001

    class Meta:
        # Unique as a constraint, not `unique=True`: on PostgreSQL that also builds a second,
        # pattern-matching index that no query uses and every recorded answer had to update.
        constraints = [models.UniqueConstraint(fields=["key"], name="one_response_per_key")]

    def __str__(self) -> str:
        return f"{self.checkin_id}: {self.status}"


class IncidentCounter(models.Model):
    """A shard of an incident's live counters.

    Every answer bumps one random shard in the transaction that records it, so counters
    are exact, cheap to read (sum of a few rows) and no single row serialises the peak.
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="counters")
    shard = models.PositiveSmallIntegerField()
    targeted = models.BigIntegerField(default=0)
    delivered = models.BigIntegerField(default=0)
    safe = models.BigIntegerField(default=0)
    need_help = models.BigIntegerField(default=0)
    not_in_area = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "shard"], name="one_counter_per_shard")
        ]

    def __str__(self) -> str:
        return f"counters of {self.incident_id} (shard {self.shard})"
