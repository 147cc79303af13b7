"""Writes for friendships. A friendship is two rows, created and removed together."""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backend.accounts.models import User
from backend.common.errors import Conflict, NotFound, ServiceError

from .models import FriendRequest, Friendship


def friend_request_create(*, sender: User, email: str) -> FriendRequest:
    """Ask EMAIL to be friends.

    The answer is the same whether or not EMAIL has an account, so requests cannot be
    used to find out who is signed up. If they already asked us, this accepts theirs.
    """
    email = User.objects.normalize_email(email)
    if email == sender.email:
        raise ServiceError("You cannot send a friend request to yourself.", code="self_request")
    recipient = User.objects.filter(email=email).first()
    if recipient and Friendship.objects.filter(person=sender, friend=recipient).exists():
        raise Conflict("You are already friends.", code="already_friends")
    if recipient:
        theirs = FriendRequest.objects.filter(
            from_person=recipient, to_person=sender, status=FriendRequest.Status.PENDING
        ).first()
        if theirs:
            friend_request_accept(person=sender, request_id=theirs.id)
            theirs.refresh_from_db()
            return theirs
    request, _ = FriendRequest.objects.get_or_create(
        from_person=sender,
        to_email=email,
        status=FriendRequest.Status.PENDING,
        defaults={"to_person": recipient},
    )
    return request


def friend_requests_attach(*, person: User) -> int:
    """Address pending requests sent to PERSON's email before they signed up."""
    return FriendRequest.objects.filter(
        to_email=person.email, to_person__isnull=True, status=FriendRequest.Status.PENDING
    ).update(to_person=person)


def _answer(*, person: User, request_id: int, status: str) -> FriendRequest:
    updated = FriendRequest.objects.filter(
        id=request_id, to_person=person, status=FriendRequest.Status.PENDING
    ).update(status=status, answered_at=timezone.now())
    if updated != 1:
        raise NotFound("No such pending friend request.")
    return FriendRequest.objects.get(id=request_id)


@transaction.atomic
def friend_request_accept(*, person: User, request_id: int) -> FriendRequest:
    """Accept a request addressed to PERSON and create the mutual friendship. Atomic."""
    request = _answer(person=person, request_id=request_id, status=FriendRequest.Status.ACCEPTED)
    Friendship.objects.bulk_create(
        [
            Friendship(person_id=request.from_person_id, friend=person),
            Friendship(person=person, friend_id=request.from_person_id),
        ],
        ignore_conflicts=True,
    )
    return request


def friend_request_decline(*, person: User, request_id: int) -> FriendRequest:
    """Decline a request addressed to PERSON."""
    return _answer(person=person, request_id=request_id, status=FriendRequest.Status.DECLINED)


@transaction.atomic
def friendship_remove(*, person: User, friend_id: int) -> None:
    """End a friendship in both directions. Atomic."""
    deleted, _ = Friendship.objects.filter(
        Q(person=person, friend_id=friend_id) | Q(person_id=friend_id, friend=person)
    ).delete()
    if not deleted:
        raise NotFound("No such friend.")
