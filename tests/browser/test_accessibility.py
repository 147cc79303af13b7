"""axe-core finds no WCAG 2.x A/AA violation on any PWA page, in English and in French."""

import pytest
from axe_playwright_python.sync_playwright import Axe

from backend.checkins.models import CheckIn
from backend.checkins.tokens import checkin_token
from backend.pwa.services import invite_token, magic_link_token
from tests.factories import PARIS, befriend, make_person

from .test_pwa_flows import activate_over_paris

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WCAG_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}
}


@pytest.mark.parametrize(
    ("language", "locale", "signin_word"),
    [("en", "en-GB", "Sign in"), ("fr", "fr-FR", "Se connecter")],
)
def test_every_page_has_no_accessibility_violation(new_context, language, locale, signin_word):
    alice = make_person("alice@example.org", "Alice", places=[PARIS], language=language)
    bob = make_person("bob@example.org", "Bob", places=[PARIS], language=language)
    befriend(alice, bob)
    make_person("dora@example.org", "Dora")
    incident_id = activate_over_paris()
    bob_checkin = CheckIn.objects.get(person=bob)
    axe = Axe()

    anonymous = new_context(locale=locale).new_page()
    pages = [
        "/signin",
        "/signup",
        "/offline",
        f"/friends/invite/{invite_token(person=bob)}",
        f"/signin/link/{magic_link_token(person=alice)}",
        f"/r/{checkin_token(bob_checkin.id, bob_checkin.incident_id)}",
        "/signin/link/not-a-token",
    ]
    found = {}
    for path in pages:
        anonymous.goto(path)
        assert anonymous.locator("html").get_attribute("lang") == language, path
        found[path] = axe.run(anonymous, options=WCAG_AA)

    page = new_context(locale=locale).new_page()
    page.goto("/signin")
    page.locator("#id_email").fill(alice.email)
    page.locator("#id_password").fill("correct horse battery staple")
    page.get_by_role("button", name=signin_word).click()
    page.wait_for_url("**/")
    for path in (
        "/",
        "/welcome",
        "/friends",
        "/settings",
        "/settings/delete",
        f"/incidents/{incident_id}/",
    ):
        page.goto(path)
        assert page.locator("html").get_attribute("lang") == language, path
        found[path] = axe.run(page, options=WCAG_AA)

    reports = {path: r.generate_report() for path, r in found.items() if r.violations_count}
    assert not reports, "\n\n".join(f"{path}:\n{report}" for path, report in reports.items())
