"""Friendships are mutual: one row per direction, so "my friends" is one indexed lookup."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class FriendRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"

    from_person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sent_friend_requests"
    )
    # Requests may name someone who has not signed up yet; they are matched at sign-up.
    to_email = models.EmailField()
    to_person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="received_friend_requests",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["from_person", "to_email"],
                condition=models.Q(status="pending"),
                name="one_pending_request_per_pair",
            )
        ]

    def __str__(self) -> str:
        return f"{self.from_person_id} → {self.to_email} ({self.status})"


class Friendship(models.Model):
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="friendships"
    )
    friend = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["person", "friend"], name="one_friendship_per_pair"),
            models.CheckConstraint(
                condition=~models.Q(person=models.F("friend")), name="no_self_friendship"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} ↔ {self.friend_id}"
