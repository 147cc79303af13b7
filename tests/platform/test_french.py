"""Every string marked for translation in the code and templates has a French translation."""

import re
from pathlib import Path

import pytest
from django.utils import translation

ROOT = Path(__file__).resolve().parents[2]
PY_MSGID = re.compile(r"""\b(?:_|gettext|gettext_lazy|_lazy)\(\s*"((?:[^"\\]|\\.)+)"\s*[,)]""")
TEMPLATE_MSGID = re.compile(r"""{%\s*translate\s+"([^"]+)"\s*%}""")
# Identical in both languages.
SAME_IN_FRENCH = {
    *("Safe & Sound", "Email", "OK", "SMS", "Push", "CSV", "GeoJSON", "CAP", "Total", "Note"),
    *("Action", "Description", "Incident", "Incidents", "Invitation", "Latitude", "Longitude"),
}


def _msgids() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "backend").rglob("*.py"):
        if "migrations" not in path.parts:
            found |= set(PY_MSGID.findall(path.read_text()))
    for path in (ROOT / "frontend" / "templates").rglob("*.html"):
        found |= set(TEMPLATE_MSGID.findall(path.read_text()))
    return {m.encode().decode("unicode_escape").encode("latin-1").decode() for m in found}


def test_every_marked_string_is_translated_to_french():
    msgids = _msgids()
    assert len(msgids) > 100
    with translation.override("fr"):
        missing = sorted(m for m in msgids - SAME_IN_FRENCH if translation.gettext(m) == m)
    assert not missing, f"{len(missing)} strings have no French: {missing[:20]}"


@pytest.mark.parametrize("language", ["en", "fr"])
def test_languages_are_offered(settings, language):
    assert language in dict(settings.LANGUAGES)
