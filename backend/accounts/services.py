"""Writes for people and places."""

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from backend.common.errors import NotFound, ServiceError
from backend.geo.cells import cell_for_point
from backend.geo.errors import GeoError

from .models import Place, User


@transaction.atomic
def person_signup(*, email: str, password: str, name: str, language: str = "en") -> User:
    """Create a person and match friend requests already sent to their email. Atomic."""
    from backend.social.services import friend_requests_attach

    email = User.objects.normalize_email(email)
    if User.objects.filter(email=email).exists():
        raise ServiceError("An account with this email already exists.", code="email_taken")
    user = User(email=email, name=name.strip(), language=language)
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ServiceError(" ".join(exc.messages), fields={"password": exc.messages}) from exc
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a concurrent sign-up with the same email won
        raise ServiceError(
            "An account with this email already exists.", code="email_taken"
        ) from exc
    friend_requests_attach(person=user)
    return user


def person_update(*, person: User, name: str | None = None, language: str | None = None) -> User:
    """Change a person's display name or language."""
    if name is not None:
        person.name = name.strip()
    if language is not None:
        person.language = language
    person.save(update_fields=["name", "language"])
    return person


def place_add(*, person: User, label: str, lat: float, lon: float) -> Place:
    """Store the res-9 cell holding (lat, lon); the coordinates themselves are not kept."""
    try:
        cell = cell_for_point(lat=lat, lon=lon)
    except GeoError as exc:
        raise ServiceError(str(exc), code="invalid_location") from exc
    with transaction.atomic():
        # Locked, so two places added at once cannot both be taken for the first.
        User.objects.select_for_update().filter(id=person.id).first()
        count = person.places.count()
        if count >= 20:
            raise ServiceError("A person may keep at most 20 places.", code="too_many_places")
        return Place.objects.create(person=person, label=label, cell=cell, is_first=count == 0)


def place_delete(*, person: User, place_id: int) -> None:
    """Delete one of the person's own places; another's place is simply not found."""
    deleted, _ = Place.objects.filter(id=place_id, person=person).delete()
    if not deleted:
        raise NotFound("No such place.")
