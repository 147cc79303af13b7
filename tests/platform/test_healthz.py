import pytest

pytestmark = pytest.mark.django_db


def test_healthz_reports_each_part(client):
    body = client.get("/healthz").json()
    assert body["database"] == "ok"
    assert body["broker"] == "ok"
    assert "workers" in body


def test_healthz_is_degraded_without_a_worker(client):
    response = client.get("/healthz")
    if response.json()["workers"].startswith("ok"):
        pytest.skip("a worker from another process answered the ping")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"


@pytest.mark.django_db(transaction=True)
def test_healthz_is_ok_with_a_worker(client, celery_worker):
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ok"


def test_healthz_names_a_broken_broker(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    body = client.get("/healthz").json()
    assert body["broker"].startswith("error: ConnectionError")
