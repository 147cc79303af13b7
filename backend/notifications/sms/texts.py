"""The words of every text message, in the person's language, kept within two segments.

A segment holds 160 GSM-7 characters (153 when a message has several), but only 70 UCS-2
characters (67) as soon as one character is outside GSM-7: the French texts avoid
"Ê" and typographic quotes for that reason.
"""

import math

from django.utils import translation
from django.utils.translation import gettext as _

from backend.checkins.models import Answer
from backend.notifications.channels.base import Message
from backend.notifications.texts import friend_line

MAX_SEGMENTS = 2
CODE_TTL_MINUTES = 10

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# These take two septets each (an escape, then the character).
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def segments(text: str) -> int:
    """How many SMS segments TEXT needs."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENDED for char in text):
        units = len(text) + sum(char in GSM7_EXTENDED for char in text)
        single, multi = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi = 70, 67
    return 1 if units <= single else math.ceil(units / multi)


def message_text(message: Message) -> str:
    """The text for a channel message: a friend alert, or "Are you safe?" with the keywords."""
    if message.purpose == "friend_alert":
        return friend_alert_text(message)
    return ask_text(message)


def ask_text(message: Message) -> str:
    """ "Are you safe?" with the reply keywords and the one-tap link.

    The incident title is shortened (never the question or the link) to fit two segments.
    """
    with translation.override(message.language):
        question = _("Are you safe? Reply SAFE, HELP or AWAY, or use this link:")
        if message.purpose == "reminder":
            head = _("Reminder: %(title)s")
        elif message.purpose == "nudge":
            head = _("%(name)s asks you to check in: %(title)s").replace(
                "%(name)s", message.sender_name.replace("%", "%%")
            )
        else:
            head = "%(title)s"
        if message.drill:
            head = _("DRILL: %(title)s") % {"title": head}

    def build(title: str) -> str:
        return f"{head % {'title': title}}\n{question} {message.link}"

    title = message.incident_title
    text = build(title)
    while segments(text) > MAX_SEGMENTS and title:
        title = title[:-4].rstrip() + "..." if len(title) > 3 else ""
        text = build(title)
    return text


def friend_alert_text(message: Message) -> str:
    """One line per friend's answer and the link; the lines that do not fit are counted."""
    with translation.override(message.language):
        lines = [friend_line(news) for news in message.friends]
        link = _("See all your friends:") + " " + message.link
        shown = len(lines)
        text = "\n".join([*lines, link])
        while segments(text) > MAX_SEGMENTS and shown > 1:
            shown -= 1
            more = _("and %(count)d more") % {"count": len(lines) - shown}
            text = "\n".join([*lines[:shown], more, link])
    return text


def code_text(*, code: str, language: str) -> str:
    with translation.override(language):
        return _(
            "Your Safe & Sound code: %(code)s. It expires in %(minutes)d minutes. Do not share it."
        ) % {"code": code, "minutes": CODE_TTL_MINUTES}


def help_text(*, language: str, link: str | None) -> str:
    """What to reply, sent when a reply is not understood."""
    with translation.override(language):
        text = _(
            "Reply SAFE if you are safe, HELP if you need help, "
            "or AWAY if you were not in the area."
        )
        if link:
            text += " " + _("Or use this link:") + " " + link
    return text


def recorded_text(*, status: str, language: str) -> str:
    """The confirmation of an answer received by SMS."""
    with translation.override(language):
        text = _("Thank you. Your answer is recorded: %(answer)s. Your friends will see it.") % {
            "answer": str(Answer(status).label)
        }
        if status == Answer.NEED_HELP:
            text += " " + _("If you are in danger, call the emergency services.")
    return text


def nothing_open_text(*, language: str) -> str:
    with translation.override(language):
        return _("There is nothing to answer right now: no check-in is open for you.")
