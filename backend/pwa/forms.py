"""Forms of the PWA pages: validation of what people type; services do the rest."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from backend.accounts.models import Place
from backend.checkins.models import Answer

CHANNEL_LABELS = {
    "webpush": _("Notifications on this device"),
    "sms": _("Text message (SMS)"),
    "email": _("Email"),
}


# WCAG 2.2 1.3.5: fields about the person say what they hold, so browsers can fill them.
OWN_EMAIL = {"autocomplete": "email"}


class SignupForm(forms.Form):
    name = forms.CharField(
        label=_("Your name"), max_length=120, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(label=_("Email"), widget=forms.EmailInput(attrs=OWN_EMAIL))
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters."),
    )


class SigninForm(forms.Form):
    email = forms.EmailField(
        label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "username"})
    )
    password = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class MagicLinkForm(forms.Form):
    email = forms.EmailField(label=_("Email"), widget=forms.EmailInput(attrs=OWN_EMAIL))


class PlaceForm(forms.Form):
    label = forms.ChoiceField(
        label=_("What is this place?"), choices=Place.Label.choices, initial=Place.Label.HOME
    )
    lat = forms.FloatField(label=_("Latitude"), min_value=-90, max_value=90)
    lon = forms.FloatField(label=_("Longitude"), min_value=-180, max_value=180)


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Your friend's email"))


class AnswerForm(forms.Form):
    status = forms.ChoiceField(choices=Answer.choices)
    note = forms.CharField(max_length=280, required=False)


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    first = forms.ChoiceField(label=_("First"), choices=list(CHANNEL_LABELS.items()))
    second = forms.ChoiceField(
        label=_("Then"), choices=[("", _("Nothing more")), *CHANNEL_LABELS.items()], required=False
    )
    third = forms.ChoiceField(
        label=_("Then"), choices=[("", _("Nothing more")), *CHANNEL_LABELS.items()], required=False
    )
    friend_alerts = forms.BooleanField(label=_("Tell me when a friend answers"), required=False)

    def channel_order(self) -> list[str]:
        data = self.cleaned_data
        return [name for name in (data["first"], data["second"], data["third"]) if name]


class DeleteAccountForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("I understand: my account, places, answers and friendships are deleted for good.")
    )
