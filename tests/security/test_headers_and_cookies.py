"""Security headers on pages and the API, cookies under production settings, check --deploy."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from backend.common.security import content_security_policy, tile_origin

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["/signin", "/signup", "/console/login/", "/offline", "/api/schema/"]


def directives(csp: str) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in csp.split("; ")}


@pytest.mark.django_db
@pytest.mark.parametrize("path", [*PAGES, "/api/me/", "/healthz", "/no-such-page"])
def test_every_response_carries_the_security_headers(path):
    response = Client().get(path)
    csp = directives(response["Content-Security-Policy"])
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert csp["form-action"] == "'self'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "geolocation=(self)" in response["Permissions-Policy"]
    assert "camera=()" in response["Permissions-Policy"]
    assert "microphone=()" in response["Permissions-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_pages_have_no_inline_script_or_style(alice):
    client = Client()
    client.force_login(alice)
    for path in ["/", "/settings", "/friends", "/signin"]:
        html = client.get(path, follow=True).content.decode()
        for needle in ("<script>", "onclick=", "onload=", ' style="', "javascript:"):
            assert needle not in html, f"{path} has {needle}"


def test_images_may_come_from_the_tile_server_only():
    csp = directives(
        content_security_policy(tile_url="https://{s}.tile.example.org/{z}/{x}/{y}.png")
    )
    assert csp["img-src"] == "'self' data: https://*.tile.example.org"
    assert tile_origin("javascript:alert(1)") == ""
    assert directives(content_security_policy())["img-src"] == "'self' data:"


@pytest.mark.django_db
def test_hsts_and_secure_cookies_under_production_settings(settings, alice):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    client = Client()
    response = client.post(
        "/console/login/", {"username": alice.email, "password": "wrong"}, secure=True
    )
    csrf = response.cookies["csrftoken"]
    assert csrf["secure"]
    assert csrf["samesite"] == "Lax"
    alice.set_password("correct horse battery staple")
    alice.save()
    response = client.post(
        "/signin", {"email": alice.email, "password": "correct horse battery staple"}, secure=True
    )
    session = response.cookies["sessionid"]
    assert session["secure"]
    assert session["httponly"]
    assert session["samesite"] == "Lax"
    page = client.get("/signin", secure=True)
    assert page["Strict-Transport-Security"].startswith("max-age=31536000")


def test_production_settings_pass_check_deploy():
    """The same command as `make check-deploy`: Django's deployment checks, warnings fail."""
    # Not what the test run itself set (the browser tests allow async-unsafe calls).
    unset = {"DEBUG", "SAFE_INSECURE_DEV_KEY", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.update(
        DEBUG="0",
        SAFE_INSECURE_DEV_KEY="0",
        SECURE_HSTS="1",
        ALLOWED_HOSTS="example.org",
        SECRET_KEY=secrets.token_urlsafe(64),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
