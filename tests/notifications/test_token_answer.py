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
