"""The operator console speaks French to operators who ask for it, and its catalogue is complete."""

import ast
import re
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext, ngettext

CATALOGUE = Path(__file__).resolve().parents[2] / "backend/console/locale/fr/LC_MESSAGES/django.po"
NBSP = "\u00a0"
APOSTROPHE = "\u2019"  # the typographic one, as in the other catalogues
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _entries() -> list[dict[str, list[str]]]:
    """Parse the catalogue into entries: keyword (msgid, msgstr[0], …) to its lines, and flags."""
    entries: list[dict[str, list[str]]] = []
    for block in CATALOGUE.read_text(encoding="utf-8").split("\n\n"):
        entry: dict[str, list[str]] = {"flags": []}
        keyword = ""
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] += [flag.strip() for flag in line[2:].split(",")]
            elif line.startswith("#~"):
                entry["flags"].append("obsolete")
            elif line.startswith("msg"):
                keyword, _, quoted = line.partition(" ")
                entry[keyword] = [ast.literal_eval(quoted)]
            elif line.startswith('"'):
                entry[keyword].append(ast.literal_eval(line))
        entries.append(entry)
    return entries


def _messages() -> list[tuple[str, list[str]]]:
    """Each message (the header left out) as its msgid and its translations."""
    return [
        ("".join(entry["msgid"]), ["".join(v) for k, v in entry.items() if k.startswith("msgstr")])
        for entry in _entries()
        if "".join(entry.get("msgid", [])) and "obsolete" not in entry["flags"]
    ]


def test_the_catalogue_translates_every_console_string():
    messages = _messages()
    assert len(messages) > 100
    assert [msgid for msgid, translations in messages if not all(translations)] == []


def test_the_catalogue_has_no_fuzzy_or_obsolete_entry_and_declares_french_plurals():
    entries = _entries()
    assert [e["msgid"] for e in entries if {"fuzzy", "obsolete"} & set(e["flags"])] == []
    header = "".join(entries[0]["msgstr"])
    assert "Language: fr\n" in header
    assert "Plural-Forms: nplurals=2; plural=(n > 1);\n" in header


def test_translations_keep_every_placeholder():
    for msgid, translations in _messages():
        for translation_ in translations:
            assert sorted(PLACEHOLDER.findall(translation_)) == sorted(PLACEHOLDER.findall(msgid))


def test_translations_follow_french_typography():
    for _msgid, translations in _messages():
        for text in translations:
            # A breakable space before high punctuation would let "?" start a line.
            assert not re.search(r"[ \t][?!:;]", text), text
            assert not re.search(r"\w[?!;]|\w:(?!//)", text), text
            assert text.count("«") == text.count(f"«{NBSP}"), text
            assert text.count("»") == text.count(f"{NBSP}»"), text
            assert "'" not in text, text  # only APOSTROPHE


def test_key_console_strings_are_french_when_french_is_active():
    with translation.override("fr"):
        assert gettext("Activation log") == "Journal des déclenchements"
        assert gettext("Need-help triage") == f"Tri des demandes d{APOSTROPHE}aide"
        assert gettext("Delivered") == "Joints"
        page = render_to_string("console/public_log.html", {"entries": []})
    assert '<html lang="fr">' in page
    assert "<h1>Journal des déclenchements</h1>" in page
    assert f"Rien pour l{APOSTROPHE}instant." in page


def test_the_activation_warning_uses_french_plural_rules():
    question = 'This asks %(counter)s person "Are you safe?" on every channel they have.'
    plural = 'This asks %(counter)s people "Are you safe?" on every channel they have.'
    with translation.override("fr"):
        # In French, 0 and 1 take the singular.
        assert "à 0 personne," in ngettext(question, plural, 0) % {"counter": 0}
        assert "à 1 personne," in ngettext(question, plural, 1) % {"counter": 1}
        assert "à 2 personnes," in ngettext(question, plural, 2) % {"counter": 2}


def test_the_incident_list_is_french_for_an_operator_whose_browser_asks_for_french(client, olivia):
    client.force_login(olivia)

    page = client.get("/console/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()

    assert '<html lang="fr">' in page
    assert "Console opérateur" in page
    assert "Nouvel incident" in page
    assert "Aucun incident en cours." in page
    assert f"Journal d{APOSTROPHE}audit" in page


def test_the_console_follows_the_language_cookie_the_app_sets(client, olivia):
    client.force_login(olivia)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"

    page = client.get("/console/").content.decode()

    assert '<h2 id="drafts-h">Brouillons</h2>' in page


def test_a_draft_page_and_its_messages_are_french(client, olivia, draft):
    client.force_login(olivia)

    page = client.get(f"/console/incidents/{draft.id}/", HTTP_ACCEPT_LANGUAGE="fr")
    refused = client.post("/console/incidents/new/", {"title": " "}, HTTP_ACCEPT_LANGUAGE="fr")

    text = page.content.decode()
    assert "Aperçu de la population concernée" in text
    question = f"«{NBSP}Êtes-vous en sécurité{NBSP}?{NBSP}»"
    assert f"La question {question} sera posée à 2 personnes" in text
    assert f"Saisissez le titre pour confirmer{NBSP}: Paris attacks" in text
    assert f"Donnez un titre à l{APOSTROPHE}incident." in refused.content.decode()


def test_the_console_stays_english_by_default(client, olivia):
    client.force_login(olivia)

    page = client.get("/console/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "No active incident." in page
