import pytest

pytestmark = pytest.mark.django_db


def test_service_worker_is_served_from_the_root_uncached(client):
    page = client.get("/sw.js")
    assert page["Content-Type"].startswith("text/javascript")
    assert page["Cache-Control"] == "no-cache"
    assert page["Service-Worker-Allowed"] == "/"
    body = page.content.decode()
    assert '"/offline"' in body
    assert "/strings/fr.json" in body
    assert "notificationclick" in body


def test_manifest_is_installable(client):
    data = client.get("/manifest.webmanifest").json()
    assert data["display"] == "standalone"
    assert data["start_url"].startswith("/")
    sizes = {(icon["sizes"], icon.get("purpose", "any")) for icon in data["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes


def test_service_worker_words_exist_in_french(client):
    words = client.get("/strings/fr.json").json()
    assert words["safe"] == "Je suis en sécurité" or words["safe"] != "I'm safe"
    assert client.get("/strings/de.json").status_code == 404


def test_the_offline_page_renders(client):
    assert "No connection" in client.get("/offline").content.decode()


@pytest.mark.parametrize(("language", "words"), [("en", "Sign in"), ("fr", "Se connecter")])
def test_pages_follow_the_browser_language(client, language, words):
    html = client.get("/signin", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f'lang="{language}"' in html
    assert 'dir="ltr"' in html
    assert words in html
