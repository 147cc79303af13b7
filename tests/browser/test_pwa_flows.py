"""The PWA in a real browser: sign-up to answer, live friends, offline queue, push, install."""

import json
import time

import pytest
from django.db import connection
from rest_framework.test import APIClient

from backend.accounts.models import User
from backend.checkins.models import CheckIn, Response
from backend.social.models import Friendship
from tests.factories import PARIS, PARIS_POLYGON, PASSWORD, befriend, make_operator, make_person

from .conftest import sign_in, wait_for_service_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def activate_over_paris(title: str = "Paris attacks") -> int:
    """An operator drafts and activates an incident over Paris through the API."""
    client = APIClient()
    client.force_authenticate(make_operator("olivia@example.org", "Olivia"))
    created = client.post(
        "/api/incidents/", {"title": title, "regions": [{"geometry": PARIS_POLYGON}]}, format="json"
    )
    assert created.status_code == 201, created.content
    incident_id = created.json()["id"]
    activated = client.post(f"/api/incidents/{incident_id}/activate/", format="json")
    assert activated.status_code in (200, 202), activated.content
    return incident_id


def eventually(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_sign_up_add_a_place_invite_a_friend_who_accepts(new_context):
    make_person("bob@example.org", "Bob")
    page = new_context().new_page()
    page.goto("/signup")
    page.get_by_label("Your name").fill("Alice")
    page.get_by_label("Email").fill("alice@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url("**/welcome")
    page.get_by_label("Latitude").fill(str(PARIS[0]))
    page.get_by_label("Longitude").fill(str(PARIS[1]))
    page.get_by_role("button", name="Save this place").click()
    page.get_by_text("Place saved").wait_for()
    alice = User.objects.get(email="alice@example.org")
    assert alice.places.count() == 1

    page.goto("/friends")
    page.get_by_label("Your friend's email").fill("bob@example.org")
    page.get_by_role("button", name="Send a friend request").click()
    page.get_by_text("Request sent").wait_for()

    bob_page = new_context().new_page()
    sign_in(bob_page, "bob@example.org")
    bob_page.goto("/friends")
    bob_page.get_by_role("button", name="Accept Alice").click()
    bob_page.get_by_role("button", name="Remove Alice").wait_for()
    assert Friendship.objects.filter(person=alice, friend__email="bob@example.org").exists()


def test_checkin_appears_and_the_friend_sees_the_answer_without_reload(new_context):
    alice = make_person("alice@example.org", "Alice", places=[PARIS])
    bob = make_person("bob@example.org", "Bob")
    befriend(alice, bob)
    page = new_context().new_page()
    sign_in(page, alice.email)
    page.get_by_text("Nothing is happening").wait_for()

    incident_id = activate_over_paris()
    page.get_by_role("heading", name="Paris attacks").wait_for()  # by polling, no reload

    bob_page = new_context().new_page()
    sign_in(bob_page, bob.email)
    bob_page.goto(f"/incidents/{incident_id}/")
    bob_page.get_by_text("No answer yet").wait_for()
    bob_page.evaluate("window.__notReloaded = true")

    page.get_by_label("Note for your friends (optional)").fill("at home")
    page.get_by_role("button", name="I'm safe").click()
    page.locator("#net").get_by_text("recorded").wait_for()

    bob_page.locator(".badge-safe").wait_for()
    assert bob_page.get_by_text("at home").is_visible()
    assert bob_page.evaluate("window.__notReloaded") is True


def test_an_answer_made_offline_is_queued_then_stored_exactly_once(new_context):
    alice = make_person("alice@example.org", "Alice", places=[PARIS])
    activate_over_paris()
    checkin = CheckIn.objects.get(person=alice)
    context = new_context()
    page = context.new_page()
    sign_in(page, alice.email)
    wait_for_service_worker(page)

    context.set_offline(True)
    page.get_by_role("button", name="I need help").click()
    page.locator("#net").get_by_text("saved on this device").wait_for()
    assert not Response.objects.filter(checkin=checkin).exists()

    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")  # as a phone regaining signal
    eventually(lambda: Response.objects.filter(checkin=checkin).exists())
    page.reload()  # the next open replays again: the queue must be empty by now
    time.sleep(1.5)
    checkin.refresh_from_db()
    assert checkin.status == "need_help"
    assert Response.objects.filter(checkin=checkin).count() == 1
    assert page.evaluate("answerQueue.all().then(items => items.length)") == 0


SHOWN_WITHIN_5_S = """async () => {
    for (let i = 0; i < 50; i++) {
        if ((await self.registration.getNotifications()).length) return true;
        await new Promise((r) => setTimeout(r, 100));
    }
    return false;
}"""


def test_push_notification_action_answers_without_opening_a_page(
    new_context, live_server, settings
):
    from backend.notifications.webpush import generate_vapid_keypair
    from tests.support.push_service import PushService

    private_key, _public_key = generate_vapid_keypair()
    settings.VAPID_PRIVATE_KEY = private_key
    settings.VAPID_SUBJECT = "mailto:ops@example.org"
    settings.SAFE_PUSH_ALLOW_HTTP_LOOPBACK = True
    alice = make_person("alice@example.org", "Alice", places=[PARIS])
    with PushService() as push_service:
        subscription = push_service.subscribe()
        context = new_context()
        context.grant_permissions(["notifications"], origin=live_server.url)
        # The browser's own push service is unreachable offline: hand out one at the receiver.
        context.add_init_script(
            "PushManager.prototype.subscribe = async function () {"
            f"  const json = {json.dumps(subscription)};"
            "  return { endpoint: json.endpoint, toJSON: () => json };"
            "};"
        )
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        registrations: list[str] = []
        cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda event: registrations.extend(
                r["registrationId"] for r in event["registrations"] if not r["isDeleted"]
            ),
        )
        cdp.send("ServiceWorker.enable")
        sign_in(page, alice.email)
        wait_for_service_worker(page)
        page.get_by_role("button", name="Turn on notifications").click()
        page.get_by_text("Notifications are on").wait_for()
        assert alice.push_subscriptions.count() == 1

        activate_over_paris()
        [message] = push_service.wait_for(1, timeout=10)
        payload = json.loads(message.payload)
        assert payload["token"]

        pages_before = len(context.pages)
        [worker] = context.service_workers
        # A loaded machine may start the worker late: deliver again (same tag, one notification).
        for _attempt in range(4):
            cdp.send(
                "ServiceWorker.deliverPushMessage",
                {
                    "origin": live_server.url,
                    "registrationId": registrations[-1],
                    "data": message.payload.decode(),
                },
            )
            if worker.evaluate(SHOWN_WITHIN_5_S):
                break
        else:
            raise AssertionError("the service worker showed no notification")
        worker.evaluate(
            """async () => {
                const [shown] = await self.registration.getNotifications();
                const click = {notification: shown, action: "safe"};
                self.dispatchEvent(new NotificationEvent("notificationclick", click));
            }"""
        )
        checkin = CheckIn.objects.get(person=alice)
        eventually(lambda: CheckIn.objects.get(id=checkin.id).status == "safe")
        assert Response.objects.get(checkin=checkin).via == "push"
        assert len(context.pages) == pages_before


def test_installable_and_the_app_shell_loads_offline(profile_context):
    alice = make_person("alice@example.org", "Alice", places=[PARIS])
    context = profile_context
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, alice.email)
    wait_for_service_worker(page)
    page.reload()  # now through the service worker, which keeps a copy
    cdp = context.new_cdp_session(page)
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert errors == []

    context.set_offline(True)
    page.goto("/")
    page.get_by_role("heading", name="Hello, Alice").wait_for()
    page.goto("/friends/invite/never-visited")
    page.get_by_role("heading", name="No connection").wait_for()


def test_first_load_of_home_transfer_size(new_context):
    alice = make_person("alice@example.org", "Alice", places=[PARIS])
    activate_over_paris()
    page = new_context().new_page()
    sign_in(page, alice.email)
    fresh = new_context()
    fresh.add_cookies(page.context.cookies())
    home = fresh.new_page()
    home.goto("/")
    home.wait_for_load_state("load")
    sizes = home.evaluate(
        """() => performance.getEntriesByType("navigation")
            .concat(performance.getEntriesByType("resource"))
            .map((e) => ({name: e.name, transfer: e.transferSize, body: e.encodedBodySize}))"""
    )
    total = sum(entry["transfer"] for entry in sizes)
    origins = {entry["name"].split("/")[2] for entry in sizes}
    print(f"\nfirst load of home: {total} bytes transferred in {len(sizes)} requests")
    for entry in sizes:
        print(f"  {entry['transfer']:>7} {entry['name']}")
    assert len(origins) == 1  # nothing from a third party
    assert total > 0
    connection.close()
