"""Every URL that names someone's data, tried by every persona (walks the URL resolver).

A new route with an id in it is covered automatically: the walk fails on an id kind it
does not know, so whoever adds one must say here whose object it is.
"""

from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from backend.checkins.models import CheckIn
from backend.checkins.tokens import checkin_token
from backend.social.models import FriendRequest, Friendship
from tests.factories import make_person

# Operator views: everything in the console app except signing in and the public log.
OPERATOR_MODULES = ("backend.console.",)
PUBLIC_CONSOLE_ROUTES = {
    "console/login/",
    "console/logout/",
    "console/activation-log/",
    "api/activation-log/",
}
# Incidents API views that act on the audience (DRF classes with IsOperator).
OPERATOR_API_SUFFIXES = ("/audience/", "/activate/", "/resolve/", "/deliveries/")
# A friend may ask a friend to check in: the one thing bob may do with alice's check-in.
FRIEND_MAY = {"api/checkins/<id:checkin_id>/nudge/"}
# Django's admin is staff-only and tested by Django; its ids are not people's data here.
SKIP_PREFIXES = ("admin/",)


def routes(
    patterns: list[URLPattern | URLResolver] | None = None, prefix: str = ""
) -> Iterator[tuple[str, URLPattern]]:
    """Every (route, pattern) under PATTERNS, with the prefixes of the includes."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def is_operator_route(route: str, pattern: URLPattern) -> bool:
    module = getattr(pattern.callback, "__module__", "")
    if route in PUBLIC_CONSOLE_ROUTES:
        return False
    if module.startswith(OPERATOR_MODULES):
        return True
    return route.startswith("api/incidents/") and route.endswith(OPERATOR_API_SUFFIXES)


def fill(route: str, values: dict[str, object]) -> str:
    """ROUTE with each <converter:name> replaced by VALUES[name]."""
    path = route
    while "<" in path:
        start, end = path.index("<"), path.index(">")
        name = path[start + 1 : end].split(":")[-1]
        if name not in values:
            raise AssertionError(f"{route}: the matrix does not know whose <{name}> this is")
        path = path[:start] + str(values[name]) + path[end + 1 :]
    return "/" + path


@pytest.fixture
def world(alice, bob, charlie, olivia, incident, alice_checkin):
    """Alice's objects: a check-in, a place, a pending friend request; bob is her friend."""
    dave = make_person("dave@example.org", "Dave")
    request = FriendRequest.objects.create(from_person=alice, to_email=dave.email, to_person=dave)
    return {
        "checkin_id": alice_checkin.id,
        "place_id": alice.places.get().id,
        "request_id": request.id,
        "incident_id": incident.id,
        "token": checkin_token(alice_checkin.id, alice_checkin.incident_id),
        "language": "en",
    }


def call(client: Client, method: str, url: str) -> int:
    """METHOD URL with a plausible body (an answer), JSON for the API, a form for pages."""
    if method == "get":
        return client.get(url).status_code
    body = {"status": "safe", "note": "not me"}
    if url.startswith("/api/"):
        return getattr(client, method)(url, body, content_type="application/json").status_code
    return getattr(client, method)(url, body).status_code


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def personal_routes() -> list[tuple[str, URLPattern]]:
    """Routes whose ids point at a person's objects (not public incidents)."""
    names = ("checkin_id", "place_id", "request_id", "friend_id")
    return [
        (route, pattern)
        for route, pattern in routes()
        if not route.startswith(SKIP_PREFIXES)
        and any(f":{name}>" in route for name in names)
        and not is_operator_route(route, pattern)
    ]


def unchanged(alice, bob, world) -> None:
    checkin = CheckIn.objects.get(id=world["checkin_id"])
    assert checkin.status == CheckIn.Status.PENDING
    assert checkin.responses.count() == 0
    assert alice.places.filter(id=world["place_id"]).exists()
    assert Friendship.objects.filter(person=alice, friend=bob).exists()
    assert FriendRequest.objects.get(id=world["request_id"]).status == "pending"


@pytest.mark.django_db
def test_the_walk_finds_every_route_with_someones_id():
    found = {route for route, _ in personal_routes()}
    # A floor, not a list: new routes join the matrix without editing this test.
    assert {
        "api/checkins/<id:checkin_id>/respond/",
        "api/me/places/<id:place_id>/",
        "api/friends/<id:friend_id>/",
        "checkins/<id:checkin_id>/answer",
    } <= found


@pytest.mark.django_db
def test_a_stranger_gets_404_for_everything_of_someone_else(alice, bob, charlie, world):
    charlie_client = client_of(charlie)
    values = {**world, "friend_id": alice.id}
    missing = dict.fromkeys(values, 987654321)
    for route, _ in personal_routes():
        url = fill(route, values)
        for method in ("get", "post", "delete"):
            status = call(charlie_client, method, url)
            if status == 302 and not url.startswith("/api/"):
                # A page's form post answers with a redirect and a message: it must be the
                # same as for an id that does not exist, so nothing is learnt.
                assert call(charlie_client, method, fill(route, missing)) == 302, url
                continue
            assert status in (404, 405), f"charlie {method.upper()} {url} -> {status}"
    unchanged(alice, bob, world)


@pytest.mark.django_db
def test_a_friend_can_only_ask_a_friend_to_check_in(alice, bob, charlie, world):
    bob_client = client_of(bob)
    # Bob's non-friend is charlie: his friendship "object" must not exist for bob either.
    values = {**world, "friend_id": charlie.id}
    for route, _ in personal_routes():
        url = fill(route, values)
        for method in ("get", "post", "delete"):
            status = call(bob_client, method, url)
            if route in FRIEND_MAY and method == "post":
                assert status < 500, f"bob {method.upper()} {url} -> {status}"
                continue
            if status == 302 and not url.startswith("/api/"):
                continue  # a page's form post: same redirect as a missing id (see above)
            assert status in (404, 405), f"bob {method.upper()} {url} -> {status}"
    unchanged(alice, bob, world)


@pytest.mark.django_db
def test_a_friend_sees_status_but_never_alices_places_or_private_fields(
    alice, bob, world, incident
):
    CheckIn.objects.filter(id=world["checkin_id"]).update(status="safe", note="at Maria's")
    bob_client = client_of(bob)
    for url in ("/api/me/friends/checkins/", f"/api/incidents/{incident.id}/friends/"):
        body = bob_client.get(url).content.decode()
        assert "Alice" in body
        assert str(alice.places.get().cell) not in body
        assert f"{alice.places.get().cell:x}" not in body


@pytest.mark.django_db
def test_incident_views_show_a_stranger_nothing_of_alice(alice, charlie, world, incident):
    CheckIn.objects.filter(id=world["checkin_id"]).update(status="need_help", note="trapped")
    charlie_client = client_of(charlie)
    for route, _ in routes():
        if ":incident_id>" not in route or is_operator_route(route, _):
            continue
        response = charlie_client.get(fill(route, world))
        body = response.content.decode()
        assert response.status_code < 500
        assert "Alice" not in body
        assert "alice@example.org" not in body
        assert "trapped" not in body


@pytest.mark.django_db
def test_people_who_are_not_operators_get_403_on_operator_views(alice, bob, charlie, world):
    operator_routes = [
        (route, pattern)
        for route, pattern in routes()
        if not route.startswith(SKIP_PREFIXES) and is_operator_route(route, pattern)
    ]
    assert len(operator_routes) > 20
    values = {**world, "request_id": 1}
    for person in (alice, bob, charlie):
        client = client_of(person)
        for route, _ in operator_routes:
            url = fill(route, values)
            for method in ("get", "post"):
                status = call(client, method, url)
                assert status in (403, 405), f"{person.name} {method.upper()} {url} -> {status}"
    unchanged(alice, bob, world)


@pytest.mark.django_db
def test_anonymous_people_get_nothing_of_anyones(alice, bob, world):
    client = Client()
    values = {**world, "friend_id": bob.id}
    for route, _ in personal_routes():
        url = fill(route, values)
        response = client.get(url)
        assert response.status_code in (302, 401, 403, 404, 405), f"anonymous GET {url}"
        assert "Alice" not in response.content.decode()
    unchanged(alice, bob, world)
