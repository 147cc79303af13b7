"""My phone number: set, confirm with a texted code, read, remove."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from backend.notifications.models import Phone
from tests.factories import make_person
from tests.notifications.sms.conftest import ALICE_NUMBER, confirm_phone

URL = "/api/me/phone/"
CONFIRM = "/api/me/phone/confirm/"


def code_in(body: str) -> str:
    return re.search(r"\b(\d{6})\b", body).group(1)


def set_number(client, number=ALICE_NUMBER):
    return client.put(URL, {"number": number}, format="json")


def test_setting_a_number_texts_a_code_and_stores_only_its_hash(api, alice, sms_provider):
    response = set_number(api(alice), "+33 6 12 34 56 78")

    assert response.status_code == 200, response.data
    assert response.data["number"] == ALICE_NUMBER
    assert response.data["confirmed"] is False
    assert response.data["code_expires_at"] is not None
    [sms] = sms_provider.messages
    assert sms.to == ALICE_NUMBER
    code = code_in(sms.body)
    phone = Phone.objects.get(person=alice)
    assert phone.confirmed_at is None
    assert code not in phone.code_hash


def test_the_right_code_confirms_the_number(api, alice, sms_provider):
    set_number(api(alice))
    code = code_in(sms_provider.messages[0].body)

    response = api(alice).post(CONFIRM, {"code": f" {code} "}, format="json")

    assert response.status_code == 200, response.data
    assert response.data["confirmed"] is True
    assert response.data["code_expires_at"] is None
    assert api(alice).get(URL).data["confirmed"] is True


def test_a_french_speaker_may_give_a_national_number(db, api, sms_provider):
    pierre = make_person("pierre@example.org", "Pierre", language="fr")

    response = set_number(api(pierre), "06 12 34 56 78")

    assert response.status_code == 200, response.data
    assert response.data["number"] == ALICE_NUMBER
    assert "Votre code Safe & Sound" in sms_provider.messages[0].body


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("", "Enter a mobile number"),
        ("06 12 34 56 78", "country code"),  # alice writes English: no region to guess
        ("+33 6 12", "does not exist"),
        ("+33 1 42 76 40 40", "cannot receive text messages"),  # a Paris landline
        ("+33 hello", "not a phone number"),
        ("+" + "1" * 45, "Ensure this field has no more than 40 characters"),
    ],
)
def test_a_bad_number_is_refused_and_nothing_is_stored(api, alice, sms_provider, number, message):
    response = set_number(api(alice), number)

    assert response.status_code == 400
    assert message in response.data["error"]["message"]
    assert not Phone.objects.filter(person=alice).exists()
    assert sms_provider.messages == []


def test_a_wrong_code_is_refused_and_counts_an_attempt(api, alice, sms_provider):
    set_number(api(alice))
    code = code_in(sms_provider.messages[0].body)
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    response = api(alice).post(CONFIRM, {"code": wrong}, format="json")

    assert response.status_code == 400
    assert response.data["error"]["code"] == "wrong_code"
    assert "4 attempt(s) left" in response.data["error"]["message"]
    assert Phone.objects.get(person=alice).confirmed_at is None


def test_a_malformed_code_is_refused_without_using_an_attempt(api, alice, sms_provider):
    set_number(api(alice))

    response = api(alice).post(CONFIRM, {"code": "12ab"}, format="json")

    assert response.status_code == 400
    assert Phone.objects.get(person=alice).code_attempts == 0


def test_after_five_wrong_codes_even_the_right_one_is_refused(api, alice, sms_provider):
    set_number(api(alice))
    code = code_in(sms_provider.messages[0].body)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert api(alice).post(CONFIRM, {"code": wrong}, format="json").status_code == 400

    response = api(alice).post(CONFIRM, {"code": code}, format="json")

    assert response.status_code == 400
    assert response.data["error"]["code"] == "too_many_attempts"
    assert Phone.objects.get(person=alice).confirmed_at is None


def test_an_expired_code_is_refused(api, alice, sms_provider):
    set_number(api(alice))
    code = code_in(sms_provider.messages[0].body)
    Phone.objects.filter(person=alice).update(
        code_sent_at=timezone.now() - timedelta(minutes=10, seconds=1)
    )

    response = api(alice).post(CONFIRM, {"code": code}, format="json")

    assert response.status_code == 400
    assert response.data["error"]["code"] == "code_expired"
    assert Phone.objects.get(person=alice).confirmed_at is None


def test_a_new_code_within_a_minute_is_refused_with_retry_after(api, alice, sms_provider):
    set_number(api(alice))

    response = set_number(api(alice))

    assert response.status_code == 429
    assert response.data["error"]["code"] == "too_soon"
    assert 0 < int(response["Retry-After"]) <= 60
    assert len(sms_provider.messages) == 1


def test_a_new_code_after_a_minute_replaces_the_old_one(api, alice, sms_provider):
    set_number(api(alice))
    old = code_in(sms_provider.messages[0].body)
    Phone.objects.filter(person=alice).update(code_sent_at=timezone.now() - timedelta(seconds=61))

    assert set_number(api(alice)).status_code == 200
    new = code_in(sms_provider.messages[1].body)

    if old != new:
        assert api(alice).post(CONFIRM, {"code": old}, format="json").status_code == 400
    assert api(alice).post(CONFIRM, {"code": new}, format="json").status_code == 200


def test_a_number_confirmed_by_someone_else_cannot_be_confirmed_again(
    api, alice, charlie, sms_provider
):
    confirm_phone(alice, ALICE_NUMBER)
    set_number(api(charlie))
    code = code_in(sms_provider.messages[0].body)

    response = api(charlie).post(CONFIRM, {"code": code}, format="json")

    assert response.status_code == 409
    assert response.data["error"]["code"] == "number_taken"
    assert Phone.objects.get(person=charlie).confirmed_at is None
    assert Phone.objects.get(person=alice).confirmed_at is not None


def test_setting_the_confirmed_number_again_sends_nothing(api, alice, sms_provider):
    confirm_phone(alice, ALICE_NUMBER)

    response = set_number(api(alice), "+33 6 12 34 56 78")

    assert response.status_code == 200
    assert response.data["confirmed"] is True
    assert sms_provider.messages == []


def test_a_provider_refusal_is_a_400_and_a_new_code_may_be_asked_at_once(api, alice, sms_provider):
    sms_provider.fail_next(400)

    response = set_number(api(alice))

    assert response.status_code == 400
    assert response.data["error"]["code"] == "sms_refused"
    assert set_number(api(alice)).status_code == 200


def test_a_provider_outage_is_a_503(api, alice, sms_provider):
    sms_provider.fail_next(503)

    response = set_number(api(alice))

    assert response.status_code == 503
    assert response.data["error"]["code"] == "sms_unavailable"
    assert api(alice).post(CONFIRM, {"code": "123456"}, format="json").status_code == 400


def test_confirming_without_a_number_is_404(api, alice):
    response = api(alice).post(CONFIRM, {"code": "123456"}, format="json")

    assert response.status_code == 404


def test_removing_the_number_forgets_it(api, alice):
    confirm_phone(alice, ALICE_NUMBER)

    assert api(alice).delete(URL).status_code == 204
    assert api(alice).get(URL).status_code == 404
    assert not Phone.objects.filter(person=alice).exists()


def test_a_stranger_neither_sees_nor_changes_my_number(api, alice, charlie, sms_provider):
    confirm_phone(alice, ALICE_NUMBER)

    assert api(charlie).get(URL).status_code == 404
    assert api(charlie).delete(URL).status_code == 204
    assert api(charlie).post(CONFIRM, {"code": "123456"}, format="json").status_code == 404
    assert Phone.objects.get(person=alice).confirmed_at is not None


@pytest.mark.parametrize(
    ("method", "url"), [("get", URL), ("put", URL), ("delete", URL), ("post", CONFIRM)]
)
def test_phone_endpoints_need_sign_in(api, method, url):
    response = getattr(api(None), method)(url, {}, format="json")

    assert response.status_code in (401, 403)
