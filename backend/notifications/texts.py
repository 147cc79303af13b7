"""The words of every notification, in the person's language (one place for all channels).

`title` and `body` suit email; `short_body` suits a push notification or an SMS.
"""

import functools

from django.utils import translation
from django.utils.translation import gettext as _

from .channels.base import FriendNews, Message


def title(message: Message) -> str:
    """The subject line or notification title."""
    with translation.override(message.language):
        if message.purpose == "friend_alert":
            if len(message.friends) == 1:
                return friend_line(message.friends[0])
            return _("News from your friends")
        names = {"title": message.incident_title, "name": message.sender_name}
        if message.purpose == "nudge":
            if message.drill:
                return _("DRILL: %(name)s asks if you are safe — %(title)s") % names
            return _("%(name)s asks if you are safe — %(title)s") % names
        if message.drill:
            return _("DRILL: Are you safe? — %(title)s") % names
        return _("Are you safe? — %(title)s") % names


def short_body(message: Message) -> str:
    """One or two lines: what the notification says under its title."""
    with translation.override(message.language):
        if message.purpose == "friend_alert":
            return "\n".join(friend_line(news) for news in message.friends)
        if message.purpose == "reminder":
            return _("We have not heard from you yet. Are you safe?")
        if message.purpose == "nudge":
            return _("%(name)s would like to know that you are safe.") % {
                "name": message.sender_name
            }
        return _("You may be in the area of: %(title)s.") % {"title": message.incident_title}


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
