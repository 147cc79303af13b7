"""Glue the PWA pages need beyond the domain services: sign-in links, invite links, export.

Sign-in links and invite links are signed with the SECRET_KEY (django.core.signing), so
nothing is stored for them. A sign-in link is single-use because it embeds the person's
last login time, which changes the moment it is used.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Prefetch, ProtectedError
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from backend.accounts.models import User, default_channel_order
from backend.checkins.models import CheckIn, Response
from backend.common.errors import Conflict, NotFound, ServiceError
from backend.social.models import FriendRequest
from backend.social.selectors import friends_of
from backend.social.services import friend_request_accept, friend_request_create

MAGIC_LINK_MAX_AGE = timedelta(minutes=15)
INVITE_MAX_AGE = timedelta(days=14)
_MAGIC_SALT = "safe-and-sound.pwa.magic-link"
_INVITE_SALT = "safe-and-sound.pwa.invite"


def _login_stamp(person: User) -> str:
    return person.last_login.isoformat() if person.last_login else ""


def magic_link_token(*, person: User) -> str:
    """A signed token that signs PERSON in once, within MAGIC_LINK_MAX_AGE."""
    return signing.dumps({"p": person.id, "l": _login_stamp(person)}, salt=_MAGIC_SALT)


def magic_link_person(*, token: str) -> User:
    """The person a sign-in token is for; expired, used or tampered tokens are not found."""
    try:
        data = signing.loads(token, salt=_MAGIC_SALT, max_age=MAGIC_LINK_MAX_AGE)
    except signing.BadSignature as exc:  # includes SignatureExpired
        raise NotFound(
            _("This sign-in link has expired or was already used."), code="bad_link"
        ) from exc
    person = User.objects.filter(id=data.get("p"), is_active=True).first()
    if person is None or _login_stamp(person) != data.get("l"):
        raise NotFound(_("This sign-in link has expired or was already used."), code="bad_link")
    return person


def magic_link_send(*, email: str) -> bool:
    """Email a sign-in link to EMAIL if it has an account; say nothing either way.

    Returns whether an email was sent (for tests): the page shows the same message in
    both cases so it cannot be used to find out who has an account.
    """
    email = User.objects.normalize_email(email)
    person = User.objects.filter(email=email, is_active=True).first()
    if person is None:
        return False
    link = f"{settings.SITE_URL}/signin/link/{magic_link_token(person=person)}"
    minutes = int(MAGIC_LINK_MAX_AGE.total_seconds() // 60)
    with translation.override(person.language):
        send_mail(
            subject=_("Your Safe & Sound sign-in link"),
            message=_(
                "Open this link to sign in to Safe & Sound. It works once, for %(minutes)d "
                "minutes:\n\n%(link)s\n\nIf you did not ask for it, ignore this email."
            )
            % {"minutes": minutes, "link": link},
            from_email=None,
            recipient_list=[person.email],
        )
    return True


def invite_token(*, person: User) -> str:
    """A shareable, signed token that lets whoever opens it befriend PERSON."""
    return signing.dumps({"p": person.id}, salt=_INVITE_SALT, compress=True)


def invite_sender(*, token: str) -> User:
    """Who made an invite token; expired or tampered tokens are not found."""
    try:
        data = signing.loads(token, salt=_INVITE_SALT, max_age=INVITE_MAX_AGE)
    except signing.BadSignature as exc:
        raise NotFound(
            _("This invitation has expired or is not valid."), code="bad_invite"
        ) from exc
    sender = User.objects.filter(id=data.get("p"), is_active=True).first()
    if sender is None:
        raise NotFound(_("This invitation has expired or is not valid."), code="bad_invite")
    return sender


@transaction.atomic
def invite_accept(*, person: User, token: str) -> User:
    """Make PERSON and the invite's sender friends (both asked: one by sharing). Atomic."""
    sender = invite_sender(token=token)
    if sender.id == person.id:
        raise ServiceError(_("This is your own invitation link."), code="self_request")
    try:
        request = friend_request_create(sender=sender, email=person.email)
    except Conflict:
        return sender  # already friends: opening the link twice is harmless
    if request.status == FriendRequest.Status.PENDING:
        friend_request_accept(person=person, request_id=request.id)
    return sender


def preferences_update(
    *, person: User, channel_order: list[str], friend_alerts: bool, language: str
) -> User:
    """Change how PERSON is reached (channels, in order), friend alerts and language."""
    unknown = [name for name in channel_order if name not in default_channel_order()]
    if unknown or len(set(channel_order)) != len(channel_order) or not channel_order:
        raise ServiceError(_("Choose each channel at most once."), fields={"channels": unknown})
    if language not in dict(settings.LANGUAGES):
        raise ServiceError(_("Unknown language."), fields={"language": [language]})
    person.channel_order = channel_order
    person.friend_alerts = friend_alerts
    person.language = language
    person.save(update_fields=["channel_order", "friend_alerts", "language"])
    return person


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def person_export(*, person: User) -> dict[str, Any]:
    """Everything stored about PERSON, as JSON-ready data (their right of access)."""
    answers = Prefetch("responses", queryset=Response.objects.order_by("at"))
    checkins = (
        CheckIn.objects.filter(person=person).select_related("incident").prefetch_related(answers)
    )
    return {
        "exported_at": timezone.now().isoformat(),
        "person": {
            "email": person.email,
            "name": person.name,
            "language": person.language,
            "channel_order": person.channel_order,
            "friend_alerts": person.friend_alerts,
            "date_joined": _iso(person.date_joined),
        },
        "places": [
            {
                "label": place.label,
                "h3_cell": f"{place.cell:x}",
                "created_at": _iso(place.created_at),
            }
            for place in person.places.all()
        ],
        "friends": [{"name": f.name, "email": f.email} for f in friends_of(person=person)],
        "friend_requests_sent": [
            {"to": r.to_email, "status": r.status}
            for r in FriendRequest.objects.filter(from_person=person)
        ],
        "checkins": [
            {
                "incident": c.incident.title,
                "status": c.status,
                "note": c.note,
                "answered_at": _iso(c.answered_at),
                "answers": [
                    {"status": r.status, "note": r.note, "via": r.via, "at": _iso(r.at)}
                    for r in c.responses.all()
                ],
            }
            for c in checkins
        ],
        "push_subscriptions": person.push_subscriptions.count(),
    }


def person_delete(*, person: User) -> None:
    """Delete PERSON and everything that is theirs (places, check-ins, friendships)."""
    try:
        person.delete()
    except ProtectedError as exc:  # operators' names stay on the incidents they ran
        raise Conflict(
            _("This account ran incidents and cannot be deleted here; ask an administrator."),
            code="protected",
        ) from exc
