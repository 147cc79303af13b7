"""Map an SMS reply to an answer: English and French keywords, accents optional.

The whole message must be one keyword (after normalising case, accents, surrounding
punctuation and spaces): "OK but I need help" must not be read as "safe".
"""

import re
import unicodedata

from backend.checkins.models import Answer

KEYWORDS: dict[str, str] = {
    **dict.fromkeys(
        ["safe", "i m safe", "i am safe", "ok", "okay", "sur", "sure", "en securite", "securite"],
        Answer.SAFE,
    ),
    **dict.fromkeys(["help", "aide", "sos", "au secours", "besoin d aide"], Answer.NEED_HELP),
    **dict.fromkeys(
        ["away", "not here", "absent", "absente", "pas la", "pas dans la zone"], Answer.NOT_IN_AREA
    ),
}

_NOT_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Lower-case TEXT, drop accents, and reduce punctuation and spaces to single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _NOT_WORD.sub(" ", bare).strip()


def answer_for(text: str) -> str | None:
    """The answer a reply means (`safe`, `need_help`, `not_in_area`), or None if unknown."""
    return KEYWORDS.get(normalise(text))
