"""Reads for friendships.

Someone else's answers are read only through `friend_ids` (see
`checkins.selectors.friends_checkins`): the friendship join is the access check, so a
stranger's data never appears.
"""

from django.db.models import QuerySet

from backend.accounts.models import User

from .models import FriendRequest, Friendship


def friends_of(*, person: User) -> QuerySet[User]:
    return User.objects.filter(
        id__in=Friendship.objects.filter(person=person).values("friend_id")
    ).order_by("name")


def friend_ids(*, person: User) -> QuerySet[Friendship, int]:
    return Friendship.objects.filter(person=person).values_list("friend_id", flat=True)


def friend_requests_incoming(*, person: User) -> QuerySet[FriendRequest]:
    return FriendRequest.objects.filter(
        to_person=person, status=FriendRequest.Status.PENDING
    ).select_related("from_person")


def friend_requests_outgoing(*, person: User) -> QuerySet[FriendRequest]:
    return FriendRequest.objects.filter(from_person=person, status=FriendRequest.Status.PENDING)
