import pytest

from backend.social.models import Friendship

pytestmark = pytest.mark.django_db


def test_friends_list_shows_my_friends_only(api, alice, bob, charlie):
    body = api(alice).get("/api/friends/").json()
    assert [f["name"] for f in body["friends"]] == ["Bob"]
    assert api(charlie).get("/api/friends/").json()["friends"] == []


def test_removing_a_friend_removes_both_directions(api, alice, bob):
    assert api(alice).delete(f"/api/friends/{bob.id}/").status_code == 204
    assert not Friendship.objects.filter(person__in=[alice, bob]).exists()


def test_removing_a_stranger_is_404(api, alice, bob, charlie):
    assert api(charlie).delete(f"/api/friends/{alice.id}/").status_code == 404
    assert Friendship.objects.filter(person=alice, friend=bob).exists()
