"""Phone numbers in, E.164 out (`phonenumbers`), with messages a person can act on."""

import phonenumbers
from phonenumbers import PhoneNumberType

from backend.common.errors import ServiceError

# Numbers without a country code are read as national numbers of the person's language's
# country; for other languages there is no safe guess, so "+CC" is required.
REGION_FOR_LANGUAGE = {"fr": "FR"}

# Types that cannot receive text messages.
NOT_FOR_SMS = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.TOLL_FREE,
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.SHARED_COST,
        PhoneNumberType.UAN,
        PhoneNumberType.VOICEMAIL,
    }
)
MAX_INPUT = 40


def number_to_e164(raw: str, *, language: str) -> str:
    """Validate RAW as a mobile number and return it in E.164; raise ServiceError if not."""
    raw = (raw or "").strip()
    region = REGION_FOR_LANGUAGE.get(language)
    example = "+33 6 12 34 56 78"
    if not raw or len(raw) > MAX_INPUT:
        raise _invalid(f"Enter a mobile number, for example {example}.")
    if region is None and not raw.startswith(("+", "00")):
        raise _invalid(f"Enter the number with its country code, for example {example}.")
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise _invalid(f"This is not a phone number; for example {example}.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise _invalid("This phone number does not exist; check the digits and country code.")
    if phonenumbers.number_type(parsed) in NOT_FOR_SMS:
        raise _invalid("This number cannot receive text messages; enter a mobile number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def sender_to_e164(raw: str) -> str | None:
    """The E.164 form of an inbound sender, or None if it is not a valid number."""
    try:
        parsed = phonenumbers.parse((raw or "").strip(), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _invalid(message: str) -> ServiceError:
    return ServiceError(message, code="invalid_number", fields={"number": [message]})
