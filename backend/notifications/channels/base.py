"""The small interface every channel implements."""

from dataclasses import dataclass
from typing import ClassVar, Literal

from backend.accounts.models import User


@dataclass(frozen=True)
class Message:
    """What to tell one person about one check-in, in their language."""

    checkin_id: int
    incident_title: str
    drill: bool
    purpose: str
    token: str
    link: str
    language: str


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
