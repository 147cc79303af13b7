import pytest

from backend.checkins.models import Response
from backend.checkins.tokens import checkin_id_from_token, checkin_token, token_claims

pytestmark = pytest.mark.django_db


def test_get_shows_the_three_buttons_and_records_nothing(client, alice_checkin):
    page = client.get(f"/r/{checkin_token(alice_checkin.id, alice_checkin.incident_id)}")
    assert page.status_code == 200
    html = page.content.decode()
    for value in ("safe", "need_help", "not_in_area"):
        assert f'value="{value}"' in html
    alice_checkin.refresh_from_db()
    assert alice_checkin.status == "pending"


def test_post_records_the_answer(client, alice_checkin):
    page = client.post(
        f"/r/{checkin_token(alice_checkin.id, alice_checkin.incident_id)}",
        {"status": "safe", "note": "ok"},
    )
    assert page.status_code == 200
    assert "recorded" in page.content.decode()
    alice_checkin.refresh_from_db()
    assert (alice_checkin.status, alice_checkin.answered_via) == ("safe", "link")
    assert Response.objects.filter(checkin=alice_checkin).count() == 1


def test_the_page_speaks_the_persons_language(client, alice, alice_checkin):
    alice.language = "fr"
    alice.save()
    page = client.get(f"/r/{checkin_token(alice_checkin.id, alice_checkin.incident_id)}")
    assert 'lang="fr"' in page.content.decode()
    assert "Êtes-vous en sécurité" in page.content.decode()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # tampered signature
        lambda t: "1" + t,  # another check-in id, same signature
        lambda t: t.split(".")[0],  # no signature
        lambda t: "zz." + t.split(".")[1],  # not a number
        lambda t: "x" * 300,  # oversized
    ],
)
def test_bad_tokens_get_a_clear_404_and_record_nothing(client, alice_checkin, mangle):
    token = mangle(checkin_token(alice_checkin.id, alice_checkin.incident_id))
    for method in (client.get, client.post):
        page = method(f"/r/{token}", *([{"status": "safe"}] if method == client.post else []))
        assert page.status_code == 404
        assert "does not work" in page.content.decode()
    assert not Response.objects.exists()


def test_a_token_stops_working_when_the_incident_is_resolved(client, olivia, alice_checkin):
    from backend.incidents.services import incident_resolve

    incident_resolve(actor=olivia, incident_id=alice_checkin.incident_id)
    page = client.post(
        f"/r/{checkin_token(alice_checkin.id, alice_checkin.incident_id)}", {"status": "safe"}
    )
    assert page.status_code == 409
    assert not Response.objects.exists()


def test_an_unknown_answer_is_refused(client, alice_checkin):
    page = client.post(
        f"/r/{checkin_token(alice_checkin.id, alice_checkin.incident_id)}", {"status": "dancing"}
    )
    assert page.status_code == 400
    alice_checkin.refresh_from_db()
    assert alice_checkin.status == "pending"


def test_tokens_round_trip_and_are_short_enough_for_sms():
    token = checkin_token(123456789, 4321)
    assert checkin_id_from_token(token) == 123456789
    assert token_claims(token) == (123456789, 4321)
    assert len(token) <= 40  # of a text's 160 characters


def test_tokens_already_sent_keep_working(settings):
    """The MAC is Django's `salted_hmac` (its key derived once per secret): links in texts
    sent before that change still answer, and a new secret makes new tokens."""
    import base64

    from django.utils.crypto import salted_hmac

    def django_token(checkin_id: int, incident_id: int) -> str:
        value = f"checkin:{checkin_id}:{incident_id}"
        digest = salted_hmac("safe-and-sound.checkin-token", value, algorithm="sha256").digest()
        mac = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
        return f"{checkin_id:x}.{incident_id:x}.{mac}"

    assert checkin_token(123456789, 4321) == django_token(123456789, 4321)
    before = checkin_token(5, 6)
    settings.SECRET_KEY = "another secret, another key" * 2
    assert checkin_token(5, 6) == django_token(5, 6) != before
    assert token_claims(before) is None
