"""The small interface every channel implements."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from backend.accounts.models import User


@dataclass(frozen=True)
class FriendNews:
    """One friend's answer, as a friend alert tells it."""

    name: str
    status: str
    incident_title: str


@dataclass(frozen=True)
class Message:
    """What to tell one person, in their language.

    Purposes `ask`, `escalation`, `reminder` and `nudge` are about the person's own
    check-in (CHECKIN_ID, TOKEN); `friend_alert` carries FRIENDS instead (CHECKIN_ID 0).
    """

    checkin_id: int
    incident_title: str
    drill: bool
    purpose: str
    token: str
    link: str
    language: str
    # Who asked, for a nudge.
    sender_name: str = ""
    friends: tuple[FriendNews, ...] = ()
    # The same for every send of one outbox row (check-in, purpose, seq): a copy sent again
    # after a worker died carries it too, so push services and mail clients can drop it.
    key: str = ""


@dataclass(frozen=True)
class SendResult:
    """How a send went: `retry` may succeed later, `gone` means the address is dead."""

    outcome: Literal["sent", "retry", "failed", "gone"]
    error: str = ""
    retry_after: float | None = None


class Channel:
    name: ClassVar[str]

    def reaches(self, person: User) -> bool:
        """Whether PERSON has an address on this channel."""
        raise NotImplementedError

    def send(self, *, person: User, message: Message) -> SendResult:
        """Send MESSAGE; must not raise for a delivery failure (return a SendResult)."""
        raise NotImplementedError

    def send_many(self, items: Sequence[tuple[User, Message]]) -> list[SendResult]:
        """Send several messages, one result each in order; channels may overlap the waits."""
        return [self.send(person=person, message=message) for person, message in items]
