import pytest

from backend.accounts.models import Place
from backend.geo.cells import cell_for_point
from backend.pwa import services
from backend.social.models import Friendship
from tests.factories import make_person

pytestmark = pytest.mark.django_db


def test_adding_a_place_stores_only_its_cell(client, charlie):
    client.force_login(charlie)
    page = client.post("/welcome", {"label": "work", "lat": "48.8566", "lon": "2.3522"})
    assert page.status_code == 302
    place = Place.objects.filter(person=charlie).latest("id")
    assert place.cell == cell_for_point(lat=48.8566, lon=2.3522)


def test_a_place_out_of_range_is_refused(client, charlie):
    client.force_login(charlie)
    before = Place.objects.count()
    assert client.post("/welcome", {"label": "home", "lat": "95", "lon": "2"}).status_code == 400
    assert Place.objects.count() == before


def test_a_stranger_cannot_delete_someone_elses_place(client, alice, charlie):
    client.force_login(charlie)
    place = alice.places.get()
    client.post(f"/places/{place.id}/delete")
    assert Place.objects.filter(id=place.id).exists()


def test_invite_by_email_then_accept_makes_friends(client, alice, charlie):
    client.force_login(alice)
    assert client.post("/friends", {"email": charlie.email}).status_code == 302
    client.force_login(charlie)
    html = client.get("/friends").content.decode()
    assert "Accept Alice" in html
    request_id = charlie.received_friend_requests.get().id
    client.post(f"/friends/requests/{request_id}/accept")
    assert Friendship.objects.filter(person=alice, friend=charlie).exists()


def test_invite_link_and_qr_code_make_friends_once_accepted(client, alice, charlie):
    client.force_login(alice)
    html = client.get("/friends").content.decode()
    assert "<svg" in html
    assert "/friends/invite/" in html
    token = services.invite_token(person=alice)
    client.force_login(charlie)
    assert "Alice invites you" in client.get(f"/friends/invite/{token}").content.decode()
    assert not Friendship.objects.filter(person=alice, friend=charlie).exists()
    client.post(f"/friends/invite/{token}")
    client.post(f"/friends/invite/{token}")
    assert Friendship.objects.filter(person=alice, friend=charlie).count() == 1
    assert Friendship.objects.filter(person=charlie, friend=alice).count() == 1


def test_a_tampered_invite_link_is_not_found(client, charlie):
    client.force_login(charlie)
    assert client.get("/friends/invite/nonsense").status_code == 404


def test_an_anonymous_visitor_is_offered_to_sign_up_from_an_invite(client, alice):
    token = services.invite_token(person=alice)
    html = client.get(f"/friends/invite/{token}").content.decode()
    assert f"/signup?next=/friends/invite/{token}" in html.replace("%3A", ":").replace("%2F", "/")


def test_invite_sender_must_still_exist(alice):
    token = services.invite_token(person=alice)
    alice.delete()
    with pytest.raises(services.NotFound):
        services.invite_sender(token=token)


def test_own_invite_link_is_refused(alice):
    with pytest.raises(services.ServiceError):
        services.invite_accept(person=alice, token=services.invite_token(person=alice))


def test_friends_page_lists_friends_but_not_strangers(client, alice, bob, charlie):
    make_person("dora@example.org", "Dora")
    client.force_login(alice)
    html = client.get("/friends").content.decode()
    assert "Bob" in html
    assert "Charlie" not in html
