import pytest

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_token_with_the_right_password(api, alice):
    response = api(None).post(
        "/api/auth/token/", {"email": "alice@example.org", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert len(response.json()["token"]) == 40


def test_token_with_a_wrong_password_is_refused_without_saying_which_part(api, alice):
    response = api(None).post(
        "/api/auth/token/", {"email": "alice@example.org", "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "bad_credentials",
        "message": "Wrong email or password.",
    }


def test_api_without_credentials_is_401(api):
    response = api(None).get("/api/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_api_with_a_bad_token_is_401(api):
    response = api(None).get("/api/me/", HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401
