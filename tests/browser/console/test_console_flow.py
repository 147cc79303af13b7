"""An operator runs a whole incident in the console, in headless Chromium (Debian's)."""

import json
import re

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from backend.checkins.models import CheckIn
from tests.factories import PARIS_POLYGON, PASSWORD
from tests.support.chromium import ARGS, CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(live_server, settings, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own database
    # calls are still synchronous, so Django's async guard does not apply.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The manifest of collected files is not needed to serve pages from the source folders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(base_url=live_server.url, accept_downloads=True)
        yield context.new_page()
        context.close()
        browser.close()


def assert_accessible(page: Page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def sign_in(page: Page, email: str) -> None:
    page.goto("/console/login/")
    assert_accessible(page)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()


def test_an_operator_runs_an_incident_from_draft_to_csv(page, olivia, alice, charlie, api):
    sign_in(page, olivia.email)
    assert_accessible(page)

    page.get_by_role("link", name="New incident").first.click()
    expect(page.locator(".leaflet-container")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Title").fill("Paris attacks")
    page.get_by_label("Kind").select_option("attack")
    page.get_by_label(re.compile("^Regions as GeoJSON")).fill(json.dumps(PARIS_POLYGON))
    page.get_by_role("button", name="Create draft").click()

    expect(page.locator("#audience-total")).to_have_text("2")
    expect(page.locator(".leaflet-overlay-pane path").first).to_be_attached()  # covered cells
    assert_accessible(page)
    activate = page.get_by_role("button", name="Activate and send")
    page.get_by_label("Reason (published in the activation log)").fill("Shootings in Paris")
    expect(activate).to_be_disabled()
    page.get_by_label(re.compile("^Type the title to confirm")).fill("Paris attacks")
    activate.click()

    expect(page.locator("#live dd[data-counter=targeted]")).to_have_text("2")
    expect(page.locator("[data-live-state]")).to_have_text("(live)")
    assert_accessible(page)
    alice_checkin = CheckIn.objects.get(person=alice)
    api(alice).post(f"/api/checkins/{alice_checkin.id}/respond/", {"status": "safe"}, format="json")
    expect(page.locator("#live dd[data-counter=safe]")).to_have_text("1", timeout=5000)
    expect(page.locator("[data-chart] svg polyline.safe")).to_be_attached()

    page.get_by_role("link", name=re.compile("Need-help triage")).click()
    expect(page.get_by_text("Nobody has asked for help.")).to_be_visible()
    charlie_checkin = CheckIn.objects.get(person=charlie)
    api(charlie).post(
        f"/api/checkins/{charlie_checkin.id}/respond/",
        {"status": "need_help", "note": "Trapped in a shop"},
        format="json",
    )
    expect(page.get_by_text("Trapped in a shop")).to_be_visible(timeout=5000)  # arrives live
    assert_accessible(page)
    page.get_by_label("Status").select_option("handled")
    page.get_by_label("Assigned to").select_option(label="Olivia")
    page.get_by_label("Internal comment").fill("Police informed")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Triage saved.")).to_be_visible()
    expect(page.get_by_label("Status")).to_have_value("handled")

    page.get_by_role("link", name="Paris attacks").click()
    page.get_by_label(re.compile("^A short update")).fill("No shooting at Les Halles.")
    page.get_by_role("button", name="Post and send").click()
    expect(page.get_by_text("Update posted and sent.")).to_be_visible()
    expect(page.locator("#updates li", has_text="No shooting at Les Halles.")).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    content = download.value.path().read_text(encoding="utf-8")
    assert content.startswith("checkin_id,name,email,answer")
    assert "Trapped in a shop" in content

    page.get_by_label("Reason (published in the activation log)").fill("Threat over")
    page.get_by_role("button", name="Resolve the incident").click()
    expect(page.get_by_text("Incident resolved.")).to_be_visible()

    page.get_by_role("link", name="Audit log").first.click()
    expect(page.get_by_role("cell", name="export")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Sign out").click()
    page.goto("/console/activation-log/")
    expect(page.get_by_role("cell", name="Shootings in Paris")).to_be_visible()
    expect(page.get_by_role("cell", name="Threat over")).to_be_visible()
    assert_accessible(page)
