"""The words of every notification, in the person's language (one place for all channels).

`title` and `body` suit email; `short_body` suits a push notification or an SMS.
"""

import functools

from django.utils import translation
from django.utils.translation import gettext as _

from .channels.base import FriendNews, Message


def title(message: Message) -> str:
    """The subject line or notification title."""
    if message.purpose == "friend_alert":
        with translation.override(message.language):
            if len(message.friends) == 1:
                return friend_line(message.friends[0])
            return _("News from your friends")
    return _checkin_texts(*checkin_text_key(message))[0]


def short_body(message: Message) -> str:
    """One or two lines: what the notification says under its title."""
    if message.purpose == "friend_alert":
        with translation.override(message.language):
            return "\n".join(friend_line(news) for news in message.friends)
    return _checkin_texts(*checkin_text_key(message))[1]


def checkin_text_key(message: Message) -> tuple[str, str, bool, str, str]:
    """What the words of a message about a person's own check-in depend on."""
    return (
        message.language,
        message.purpose,
        message.drill,
        message.incident_title,
        message.sender_name,
    )


@functools.lru_cache(maxsize=1024)
def _checkin_texts(
    language: str, purpose: str, drill: bool, incident_title: str, sender_name: str
) -> tuple[str, str]:
    """(title, short body) about a person's own check-in: the same for everyone who shares
    a language in a fan-out, so translated once (switching the language for every message
    was 6 % of a push fan-out's CPU, py-spy)."""
    names = {"title": incident_title, "name": sender_name}
    with translation.override(language):
        if purpose == "nudge":
            if drill:
                head = _("DRILL: %(name)s asks if you are safe — %(title)s") % names
            else:
                head = _("%(name)s asks if you are safe — %(title)s") % names
            return head, _("%(name)s would like to know that you are safe.") % names
        if drill:
            head = _("DRILL: Are you safe? — %(title)s") % names
        else:
            head = _("Are you safe? — %(title)s") % names
        if purpose == "reminder":
            return head, _("We have not heard from you yet. Are you safe?")
        return head, _("You may be in the area of: %(title)s.") % names


def body(message: Message) -> str:
    """The full text of an email: the short body, then the one-tap link."""
    with translation.override(message.language):
        if message.purpose == "friend_alert":
            return "\n\n".join([short_body(message), _("See all your friends:"), message.link])
        return "\n\n".join(
            [
                short_body(message),
                _("Answer with one tap (no sign-in needed):"),
                message.link,
                _("Your friends will see your answer."),
            ]
        )


def friend_line(news: FriendNews) -> str:
    """'Alice is safe — Paris attacks' (in the active language)."""
    names = {"name": news.name, "title": news.incident_title}
    if news.status == "safe":
        return _("%(name)s is safe — %(title)s") % names
    if news.status == "need_help":
        return _("%(name)s needs help — %(title)s") % names
    return _("%(name)s is not in the area — %(title)s") % names


def answer_actions(language: str) -> list[dict[str, str]]:
    """The buttons of a push notification; the service worker posts the chosen action."""
    return [dict(action) for action in _answer_actions(language)]


@functools.lru_cache(maxsize=16)
def _answer_actions(language: str) -> tuple[dict[str, str], ...]:
    # Once per language: switching the translation for every message cost 3.6 % of a push
    # fan-out (py-spy).
    with translation.override(language):
        return (
            {"action": "safe", "title": _("I'm safe")},
            {"action": "need_help", "title": _("I need help")},
        )
