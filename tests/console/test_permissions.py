"""Every operator endpoint: anonymous 401, people who are not operators (charlie) 403."""

import pytest

ENDPOINTS = [
    ("post", "/api/incidents/from-cap/"),
    ("get", "/api/incidents/{id}/preview/"),
    ("get", "/api/incidents/{id}/cells/"),
    ("get", "/api/incidents/{id}/activation/"),
    ("post", "/api/incidents/{id}/activation/"),
    ("post", "/api/incidents/{id}/activation/1/approve/"),
    ("post", "/api/incidents/{id}/activation/1/withdraw/"),
    ("post", "/api/incidents/{id}/decline/"),
    ("post", "/api/incidents/{id}/resolution/"),
    ("get", "/api/incidents/{id}/updates/"),
    ("post", "/api/incidents/{id}/updates/"),
    ("get", "/api/incidents/{id}/triage/"),
    ("patch", "/api/incidents/{id}/triage/1/"),
    ("get", "/api/incidents/{id}/live/"),
    ("get", "/api/incidents/{id}/export/"),
    ("get", "/api/audit/"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_people_who_are_not_operators_are_refused(api, charlie, incident, method, path):
    response = getattr(api(charlie), method)(path.format(id=incident.id), {}, format="json")

    assert response.status_code == 403
    assert "error" in response.json()


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_anonymous_requests_must_sign_in(api, incident, method, path):
    response = getattr(api(None), method)(path.format(id=incident.id), {}, format="json")

    assert response.status_code == 401


def test_charlie_cannot_open_console_pages(client, charlie, incident):
    client.force_login(charlie)
    for path in (
        "/console/",
        f"/console/incidents/{incident.id}/",
        f"/console/incidents/{incident.id}/triage/",
        f"/console/incidents/{incident.id}/export.csv",
        f"/console/incidents/{incident.id}/events/",
        "/console/audit/",
    ):
        assert client.get(path).status_code == 403, path
    assert (
        client.post(f"/console/incidents/{incident.id}/resolve/", {"reason": "x"}).status_code
        == 403
    )


def test_anonymous_visitors_are_sent_to_sign_in(client, incident):
    response = client.get(f"/console/incidents/{incident.id}/")

    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")


def test_the_activation_log_is_public(client, incident):
    assert client.get("/console/activation-log/").status_code == 200
