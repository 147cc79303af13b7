"""Reads for friendships. Every read of someone else's data goes through `access_friend`."""

from django.db.models import QuerySet

from backend.accounts.models import User
from backend.common.errors import NotFound

from .models import FriendRequest, Friendship


def friends_of(*, person: User) -> QuerySet[User]:
    return User.objects.filter(
        id__in=Friendship.objects.filter(person=person).values("friend_id")
    ).order_by("name")


def friend_ids(*, person: User) -> QuerySet[Friendship, int]:
    return Friendship.objects.filter(person=person).values_list("friend_id", flat=True)


def access_friend(*, viewer: User, person_id: int) -> User:
    """Return PERSON_ID if they are VIEWER's friend (or VIEWER); otherwise 404, not 403."""
    if person_id == viewer.id:
        return viewer
    if not Friendship.objects.filter(person=viewer, friend_id=person_id).exists():
        raise NotFound("No such person.")
    return User.objects.get(id=person_id)


def friend_requests_incoming(*, person: User) -> QuerySet[FriendRequest]:
    return FriendRequest.objects.filter(
        to_person=person, status=FriendRequest.Status.PENDING
    ).select_related("from_person")


def friend_requests_outgoing(*, person: User) -> QuerySet[FriendRequest]:
    return FriendRequest.objects.filter(from_person=person, status=FriendRequest.Status.PENDING)
