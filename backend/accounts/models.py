"""People and their places. A place is only ever stored as a res-9 H3 cell."""

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import pgettext_lazy

from backend.common.direct_load import DirectLoad


class UserManager(BaseUserManager["User"]):
    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        """The whole address in lower case: people type their email in any case."""
        return super().normalize_email(email).lower()

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "User":
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


def default_channel_order() -> list[str]:
    return ["webpush", "sms", "email"]


class User(DirectLoad, AbstractBaseUser, PermissionsMixin):
    class Language(models.TextChoices):
        EN = "en", "English"
        FR = "fr", "Français"

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=120)
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.EN)
    # Channels to reach this person on, in order; the next one is used if no answer comes.
    channel_order = models.JSONField(default=default_channel_order)
    friend_alerts = models.BooleanField(default=True, help_text="Tell me when a friend answers.")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Can sign in to the admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        # Audience counts skip deactivated people through this small index (an anti-join)
        # instead of joining every affected person's user row.
        indexes = [
            models.Index(fields=["id"], condition=models.Q(is_active=False), name="user_inactive")
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    @property
    def is_operator(self) -> bool:
        return self.has_perm("incidents.operate_incident")


class Place(models.Model):
    class Label(models.TextChoices):
        HOME = "home", pgettext_lazy("place", "Home")
        WORK = "work", pgettext_lazy("place", "Work")
        CURRENT = "current", pgettext_lazy("place", "Current location")
        OTHER = "other", pgettext_lazy("place", "Other")

    person = models.ForeignKey(User, on_delete=models.CASCADE, related_name="places")
    label = models.CharField(max_length=16, choices=Label.choices, default=Label.HOME)
    # The res-9 H3 cell (about 0.1 km²) holding the place; the coordinates are discarded.
    cell = models.BigIntegerField(db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    # True only if the person had no other place when this one was stored, so no place of
    # theirs has a smaller id. The audience count then counts these places without a
    # DISTINCT over person ids (incidents/selectors.py). False is always safe, only slower.
    is_first = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["cell", "person"], name="place_cell_person"),
            # With the person, so the console's preview reads who is inside from the index
            # alone (PostgreSQL: INCLUDE); the heap behind a city's first places is 500k pages.
            models.Index(
                fields=["cell"],
                include=["person"],
                name="place_first_cell_person",
                condition=Q(is_first=True),
            ),
            models.Index(
                fields=["cell", "person"], name="place_later_cell", condition=Q(is_first=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_label_display()} of {self.person_id}"
