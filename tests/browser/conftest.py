"""Playwright on Debian's Chromium against pytest-django's live server.

Never `playwright install`: the browser is /usr/bin/chromium (CHROMIUM overrides).
"""

import os
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.factories import PASSWORD
from tests.support.chromium import ARGS, CHROMIUM

# Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make are
# ordinary blocking calls, so Django's guard against async contexts does not apply here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "1")


@pytest.fixture(autouse=True)
def _unhashed_static_names(settings) -> None:
    """Serve static files under their own names.

    The live server answers /static/ itself, from the source folders (not WhiteNoise's
    collected, hashed copies), so pages must not ask for the manifest's hashed names.
    """
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def chromium(playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield browser
    browser.close()


@pytest.fixture
def profile_context(playwright, live_server, tmp_path) -> Iterator[BrowserContext]:
    """A browser with a real profile on disk: Chromium never offers to install when incognito."""
    context = playwright.chromium.launch_persistent_context(
        tmp_path / "profile",
        executable_path=CHROMIUM,
        args=ARGS,
        base_url=live_server.url,
        viewport={"width": 390, "height": 800},
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def new_context(chromium, live_server) -> Iterator:
    """`new_context(locale=...)` opens a fresh, phone-sized browser profile on the live server."""
    contexts: list[BrowserContext] = []

    def make(locale: str = "en-GB") -> BrowserContext:
        context = chromium.new_context(
            base_url=live_server.url,
            locale=locale,
            viewport={"width": 390, "height": 800},
            service_workers="allow",
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/signin")
    page.locator("#id_email").fill(email)
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


_CONTROLLED = "() => !!(navigator.serviceWorker && navigator.serviceWorker.controller)"
_ACTIVATED = """async () => (await navigator.serviceWorker.getRegistrations())
  .some(r => r.active && r.active.state === "activated")"""
# Each registration's workers and their states, for a failure message.
_REGISTRATIONS = """async () => (await navigator.serviceWorker.getRegistrations()).map(r => ({
  scope: r.scope, active: r.active && r.active.state,
  waiting: r.waiting && r.waiting.state, installing: r.installing && r.installing.state,
}))"""


def wait_for_service_worker(page: Page, timeout: float = 30) -> None:
    """Until a service worker controls the page.

    A page whose navigation was under way while the worker activated is not among the
    clients its `clients.claim()` takes; like a person's next visit, a reload is. Polled
    from here: once Playwright's wait_for_function has to poll, our CSP (no unsafe-eval)
    makes it fail with an EvalError (microsoft/playwright#7395).
    """
    deadline = time.monotonic() + timeout
    reload_at = time.monotonic() + 2
    while not page.evaluate(_CONTROLLED):
        now = time.monotonic()
        if now > deadline:
            workers = page.evaluate(_REGISTRATIONS)
            raise AssertionError(
                f"no service worker controlled {page.url} within {timeout:.0f} s: {workers}"
            )
        if now > reload_at and page.evaluate(_ACTIVATED):
            page.reload()
            reload_at = now + 5
        time.sleep(0.1)
