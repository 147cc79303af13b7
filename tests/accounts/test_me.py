import pytest

pytestmark = pytest.mark.django_db


def test_me_shows_my_profile(api, alice):
    body = api(alice).get("/api/me/").json()
    assert body == {
        "id": alice.id,
        "email": "alice@example.org",
        "name": "Alice",
        "language": "en",
        "is_operator": False,
    }


def test_patch_me_changes_name_and_language(api, alice):
    response = api(alice).patch("/api/me/", {"name": "Alice M.", "language": "fr"}, format="json")
    assert response.status_code == 200
    alice.refresh_from_db()
    assert (alice.name, alice.language) == ("Alice M.", "fr")


def test_patch_me_cannot_change_email_or_become_operator(api, alice):
    api(alice).patch("/api/me/", {"email": "evil@example.org", "is_operator": True}, format="json")
    alice.refresh_from_db()
    assert alice.email == "alice@example.org"
    assert not alice.is_operator


def test_patch_me_with_an_unknown_language_changes_nothing(api, alice):
    response = api(alice).patch("/api/me/", {"language": "klingon"}, format="json")
    assert response.status_code == 400
    alice.refresh_from_db()
    assert alice.language == "en"
