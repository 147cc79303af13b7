"""The few words said by JavaScript (pages and service worker), in the active language."""

from django.utils.translation import gettext as _

from backend.checkins.models import Answer


def client_words() -> dict[str, str]:
    """Return the client-side messages, translated into the active language."""
    return {
        "safe": str(Answer.SAFE.label),
        "need_help": str(Answer.NEED_HELP.label),
        "ask": _("Are you safe?"),
        "recorded": _("Your answer is recorded."),
        "queued": _("No connection: your answer is saved on this device and will be sent."),
        "sent": _("Your saved answer has been sent."),
        "offline": _("No connection. Answers are saved on this device."),
        "error": _("Something went wrong. Please try again."),
        "asked": _("Asked"),
        "copied": _("Link copied."),
        "locating": _("Finding your location…"),
        "no_location": _("Your location is not available; enter the coordinates instead."),
        "push_on": _("Notifications are on for this device."),
        "push_denied": _("Notifications are blocked; you can allow them in the browser."),
        "push_failed": _("Notifications could not be turned on here."),
        "code_sent": _("We sent you a code by text message."),
        "phone_confirmed": _("Your phone is confirmed."),
    }
