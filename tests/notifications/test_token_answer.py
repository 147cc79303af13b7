"""POST /api/answer/: the service worker answers with the one-tap token, no session."""

import pytest

from backend.checkins.tokens import checkin_token

pytestmark = pytest.mark.django_db


def test_the_token_answers_the_checkin_without_signing_in(client, alice_checkin):
    response = client.post(
        "/api/answer/",
        {
            "token": checkin_token(alice_checkin.id, alice_checkin.incident_id),
            "status": "safe",
            "note": "at home",
        },
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["status"] == "safe"
    alice_checkin.refresh_from_db()
    assert (alice_checkin.status, alice_checkin.answered_via, alice_checkin.note) == (
        "safe",
        "push",
        "at home",
    )


def test_csrf_is_not_required(alice_checkin):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/answer/",
        {
            "token": checkin_token(alice_checkin.id, alice_checkin.incident_id),
            "status": "need_help",
        },
        content_type="application/json",
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"token": "1.forged", "status": "safe"}, 404),
        ({"token": "x" * 65, "status": "safe"}, 400),
        ({"status": "safe"}, 400),
        ({"token": "1.x", "status": "fine"}, 400),
    ],
)
def test_a_bad_answer_is_refused_and_changes_nothing(client, alice_checkin, body, code):
    response = client.post("/api/answer/", body, content_type="application/json")

    assert response.status_code == code
    assert "error" in response.json()
    alice_checkin.refresh_from_db()
    assert alice_checkin.status == "pending"


def test_the_answer_endpoint_is_in_the_openapi_schema(client, alice):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(alice)
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()

    assert "/api/answer/" in schema
    assert "/api/me/push-subscriptions/" in schema


def _token(checkin) -> str:
    return checkin_token(checkin.id, checkin.incident_id)


def test_the_plain_path_answers_as_drf_does(client, alice_checkin, charlie):
    # {token, status} is answered without DRF; a body with a note goes through DRF.
    plain = client.post(
        "/api/answer/",
        {"token": _token(alice_checkin), "status": "safe"},
        content_type="application/json",
    )
    through_drf = client.post(
        "/api/answer/",
        {"token": _token(charlie.checkins.get()), "status": "safe", "note": "home"},
        content_type="application/json",
    )

    for response in (plain, through_drf):
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        body = response.json()
        assert sorted(body) == ["answered_at", "id", "note", "status"]
        assert body["answered_at"].endswith("Z")
    assert plain.json()["id"] == alice_checkin.id
    assert b", " not in plain.content  # compact, as DRF renders it


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "application/json; charset=UTF-8"],
)
def test_a_json_charset_parameter_is_still_answered(client, alice_checkin, content_type):
    body = {"token": _token(alice_checkin), "status": "need_help"}

    response = client.post("/api/answer/", body, content_type=content_type)

    assert response.status_code == 200
    alice_checkin.refresh_from_db()
    assert alice_checkin.status == "need_help"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        # JSON that Python reads but DRF's strict parser refuses: the same 400 either way.
        ('{"token": "%s", "status": "safe", "x": NaN}', 400),
        ('{"token": "%s", "status": "safe"', 400),  # cut short
        ('["%s", "safe"]', 400),
        ('{"token": "%s", "status": ["safe"]}', 400),
    ],
)
def test_bodies_the_plain_path_leaves_to_drf_get_its_answer(client, alice_checkin, raw, code):
    response = client.post(
        "/api/answer/", raw % _token(alice_checkin), content_type="application/json"
    )

    assert response.status_code == code
    assert "error" in response.json()
    alice_checkin.refresh_from_db()
    assert alice_checkin.status == "pending"


def test_a_large_or_form_body_goes_through_drf(client, alice_checkin):
    padded = {"token": _token(alice_checkin), "status": "safe", "padding": "x" * 600}
    assert client.post("/api/answer/", padded, content_type="application/json").status_code == 200
    form = client.post("/api/answer/", {"token": _token(alice_checkin), "status": "safe"})
    assert form.status_code == 415
    assert form.json()["error"]["code"] == "unsupported_media_type"


def test_other_methods_are_refused_by_drf(client):
    response = client.get("/api/answer/")

    assert response.status_code == 405
    assert "error" in response.json()
