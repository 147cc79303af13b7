import pytest

from backend.accounts.models import User
from backend.social.models import FriendRequest
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_signup_creates_a_person_who_can_get_a_token(api):
    response = api(None).post(
        "/api/people/",
        {"email": "Zoe@Example.org", "password": PASSWORD, "name": "Zoé", "language": "fr"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["email"] == "zoe@example.org"
    token = api(None).post(
        "/api/auth/token/", {"email": "zoe@example.org", "password": PASSWORD}, format="json"
    )
    assert token.status_code == 200
    me = api(None).get("/api/me/", HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    assert me.json()["name"] == "Zoé"
    assert me.json()["language"] == "fr"


def test_signup_with_a_taken_email_is_refused(api, alice):
    response = api(None).post(
        "/api/people/",
        {"email": "ALICE@example.org", "password": PASSWORD, "name": "Other"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "email_taken"
    assert User.objects.filter(email="alice@example.org").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD, "name": "X"}, "email"),
        ({"email": "x@example.org", "password": "123", "name": "X"}, "password"),
        ({"email": "x@example.org", "password": PASSWORD}, "name"),
        (
            {"email": "x@example.org", "password": PASSWORD, "name": "X", "language": "xx"},
            "language",
        ),
        ({"email": "x@example.org", "password": PASSWORD, "name": "X" * 500}, "name"),
    ],
)
def test_signup_with_bad_input_says_what_is_wrong_and_creates_nobody(api, body, field):
    response = api(None).post("/api/people/", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["message"] or field in error.get("fields", {})
    assert not User.objects.filter(email=body["email"]).exists()


def test_signup_addresses_friend_requests_sent_before(api, alice):
    FriendRequest.objects.create(from_person=alice, to_email="newbie@example.org")
    api(None).post(
        "/api/people/",
        {"email": "newbie@example.org", "password": PASSWORD, "name": "Newbie"},
        format="json",
    )
    request = FriendRequest.objects.get(to_email="newbie@example.org")
    assert request.to_person.email == "newbie@example.org"


def test_malformed_json_is_a_400(api):
    response = api(None).post("/api/people/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]["message"]
