"""The words of every notification, in the person's language (one place for all channels)."""

from django.utils import translation
from django.utils.translation import gettext as _

from .channels.base import Message


def ask_title(message: Message) -> str:
    with translation.override(message.language):
        if message.drill:
            return _("DRILL: Are you safe? — %(title)s") % {"title": message.incident_title}
        return _("Are you safe? — %(title)s") % {"title": message.incident_title}


def ask_body(message: Message) -> str:
    with translation.override(message.language):
        if message.purpose == "reminder":
            lead = _("We have not heard from you yet. Are you safe?")
        else:
            lead = _("You may be in the area of: %(title)s.") % {"title": message.incident_title}
        return "\n\n".join(
            [
                lead,
                _("Answer with one tap (no sign-in needed):"),
                message.link,
                _("Your friends will see your answer."),
            ]
        )
