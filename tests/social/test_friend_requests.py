import pytest

from backend.social.models import FriendRequest, Friendship

pytestmark = pytest.mark.django_db


def _are_friends(a, b) -> bool:
    return (
        Friendship.objects.filter(person=a, friend=b).exists()
        and Friendship.objects.filter(person=b, friend=a).exists()
    )


def test_request_then_accept_makes_a_mutual_friendship(api, alice, charlie):
    sent = api(charlie).post(
        "/api/friends/requests/", {"email": "alice@example.org"}, format="json"
    )
    assert sent.status_code == 201
    incoming = api(alice).get("/api/friends/").json()["incoming"]
    assert [r["from_name"] for r in incoming] == ["Charlie"]
    accepted = api(alice).post(f"/api/friends/requests/{incoming[0]['id']}/accept/")
    assert accepted.status_code == 200
    assert _are_friends(alice, charlie)


def test_declining_makes_no_friendship(api, alice, charlie):
    sent = api(charlie).post(
        "/api/friends/requests/", {"email": "alice@example.org"}, format="json"
    )
    response = api(alice).post(f"/api/friends/requests/{sent.json()['id']}/decline/")
    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    assert not _are_friends(alice, charlie)


def test_only_the_recipient_can_accept(api, alice, charlie, olivia):
    sent = api(charlie).post(
        "/api/friends/requests/", {"email": "alice@example.org"}, format="json"
    )
    for outsider in (charlie, olivia):
        response = api(outsider).post(f"/api/friends/requests/{sent.json()['id']}/accept/")
        assert response.status_code == 404
    assert not _are_friends(alice, charlie)


def test_accepting_twice_is_404_the_second_time(api, alice, charlie):
    sent = api(charlie).post(
        "/api/friends/requests/", {"email": "alice@example.org"}, format="json"
    )
    assert api(alice).post(f"/api/friends/requests/{sent.json()['id']}/accept/").status_code == 200
    assert api(alice).post(f"/api/friends/requests/{sent.json()['id']}/accept/").status_code == 404
    assert Friendship.objects.filter(person=alice, friend=charlie).count() == 1


def test_a_request_to_an_unknown_email_looks_the_same_as_to_a_known_one(api, charlie):
    known = api(charlie).post(
        "/api/friends/requests/", {"email": "alice@example.org"}, format="json"
    )
    unknown = api(charlie).post(
        "/api/friends/requests/", {"email": "nobody@example.org"}, format="json"
    )
    assert known.status_code == unknown.status_code == 201
    assert set(known.json()) == set(unknown.json())


def test_crossed_requests_become_a_friendship(api, alice, charlie):
    api(charlie).post("/api/friends/requests/", {"email": "alice@example.org"}, format="json")
    api(alice).post("/api/friends/requests/", {"email": "charlie@example.org"}, format="json")
    assert _are_friends(alice, charlie)


def test_requesting_myself_or_a_friend_is_refused(api, alice, bob):
    assert (
        api(alice)
        .post("/api/friends/requests/", {"email": "alice@example.org"}, format="json")
        .status_code
        == 400
    )
    again = api(alice).post("/api/friends/requests/", {"email": "bob@example.org"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_friends"


def test_a_repeated_request_is_not_duplicated(api, alice, charlie):
    for _ in range(3):
        api(charlie).post("/api/friends/requests/", {"email": "alice@example.org"}, format="json")
    assert FriendRequest.objects.filter(from_person=charlie).count() == 1


def test_bad_email_is_refused(api, alice):
    response = api(alice).post("/api/friends/requests/", {"email": "<script>"}, format="json")
    assert response.status_code == 400
    assert not FriendRequest.objects.exists()
