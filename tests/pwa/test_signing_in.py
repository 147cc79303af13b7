import pytest
from django.core import mail, signing

from backend.accounts.models import User
from backend.pwa import services
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_signup_creates_the_person_in_the_browser_language_and_opens_onboarding(client):
    page = client.post(
        "/signup",
        {"name": "Zoé", "email": "zoe@example.org", "password": PASSWORD},
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert page.status_code == 302
    assert page["Location"] == "/welcome"
    assert User.objects.get(email="zoe@example.org").language == "fr"
    assert client.get("/").status_code == 200


def test_signup_with_a_taken_email_says_so_and_creates_nothing(client, alice):
    page = client.post("/signup", {"name": "A", "email": alice.email, "password": PASSWORD})
    assert page.status_code == 200
    assert "already exists" in page.content.decode()
    assert User.objects.filter(email=alice.email).count() == 1


def test_password_sign_in_goes_to_next_only_on_this_site(client, alice):
    page = client.post(
        "/signin", {"email": alice.email, "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert page["Location"] == "/"
    client.logout()
    page = client.post("/signin", {"email": alice.email, "password": PASSWORD, "next": "/friends"})
    assert page["Location"] == "/friends"


def test_the_email_is_matched_whatever_its_case(client, api, alice):
    page = client.post("/signin", {"email": alice.email.upper(), "password": PASSWORD})
    assert page["Location"] == "/"
    token = api(None).post(
        "/api/auth/token/", {"email": alice.email.title(), "password": PASSWORD}, format="json"
    )
    assert token.status_code == 200


def test_a_wrong_password_is_refused(client, alice):
    page = client.post("/signin", {"email": alice.email, "password": "nope"})
    assert page.status_code == 200
    assert "do not match" in page.content.decode()
    assert client.get("/").status_code == 302


def test_pages_need_a_signed_in_person(client):
    for url in ("/", "/friends", "/settings", "/welcome", "/settings/export.json"):
        assert client.get(url)["Location"].startswith("/signin?next=")


def test_magic_link_is_emailed_and_signs_in_once(client, alice):
    page = client.post("/signin/email", {"magic-email": alice.email})
    assert page.status_code == 200
    [message] = mail.outbox
    link = next(word for word in message.body.split() if "/signin/link/" in word)
    path = link.split("127.0.0.1:8000", 1)[1]
    assert client.get(path).status_code == 200  # a scanner's GET does not use it up
    assert client.post(path)["Location"] == "/"
    assert client.get("/").status_code == 200
    client.logout()
    assert client.post(path).status_code == 404


def test_magic_link_request_says_the_same_for_unknown_emails(client, alice):
    known = client.post("/signin/email", {"magic-email": alice.email}).content.decode()
    unknown = client.post("/signin/email", {"magic-email": "nobody@example.org"}).content.decode()
    assert len(mail.outbox) == 1
    assert known.replace(alice.email, "X") == unknown.replace("nobody@example.org", "X")


def test_an_expired_or_tampered_magic_link_does_not_sign_in(client, alice, monkeypatch):
    token = services.magic_link_token(person=alice)
    assert client.post(f"/signin/link/{token}x").status_code == 404
    monkeypatch.setattr(signing, "time", type("T", (), {"time": staticmethod(lambda: 2e10)}))
    assert client.post(f"/signin/link/{token}").status_code == 404
    assert client.get("/").status_code == 302
