import pytest

pytestmark = pytest.mark.django_db

CONTRACT = [
    "/api/auth/token/",
    "/api/people/",
    "/api/me/",
    "/api/me/places/",
    "/api/me/places/{place_id}/",
    "/api/friends/",
    "/api/friends/requests/",
    "/api/friends/requests/{request_id}/accept/",
    "/api/friends/{friend_id}/",
    "/api/incidents/",
    "/api/incidents/{incident_id}/",
    "/api/incidents/{incident_id}/audience/",
    "/api/incidents/{incident_id}/activate/",
    "/api/incidents/{incident_id}/resolve/",
    "/api/incidents/{incident_id}/stats/",
    "/api/me/checkins/",
    "/api/checkins/{checkin_id}/respond/",
    "/api/incidents/{incident_id}/friends/",
    "/api/me/friends/checkins/",
]


def test_the_schema_documents_every_path_of_the_contract(api, alice):
    response = api(alice).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert not set(CONTRACT) - set(paths)
    respond = paths["/api/checkins/{checkin_id}/respond/"]["post"]
    assert {"200", "400", "404", "409"} <= set(respond["responses"])


def test_the_docs_page_renders(client):
    assert client.get("/api/docs/").status_code == 200
