"""Fixtures shared by every suite: personas, API clients, Celery modes, a real worker."""

import email
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

from backend.config.celery import app as celery_app
from backend.config.queues import queue_names, task_queues, task_routes
from tests.factories import PARIS, PARIS_POLYGON, befriend, make_operator, make_person

ROOT = Path(__file__).resolve().parent.parent
# Each test run has its own queue, so runs sharing a Redis never take each other's tasks.
TEST_QUEUE = f"test-{os.getpid()}"
celery_app.conf.update(
    task_default_queue=TEST_QUEUE,
    task_queues=task_queues(TEST_QUEUE),
    task_routes=task_routes(TEST_QUEUE),
)
WORKER_ARGS = [
    *("worker", "-l", "warning", "-c", "2", "-Q", ",".join(queue_names(TEST_QUEUE))),
    *("--without-gossip", "--without-mingle"),
]


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:
    """Hashing with the real, deliberately slow hasher would dominate the suite's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_rate_limits(settings) -> None:
    """The whole suite comes from 127.0.0.1; tests of the limits switch them back on."""
    settings.SAFE_RATE_LIMIT_ENABLED = False


@pytest.fixture(autouse=True)
def _eager_celery() -> Iterator[None]:
    """Unit and API tests run tasks inline; integration tests use a real worker instead."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def alice(db):
    """In the area: lives in central Paris."""
    return make_person("alice@example.org", "Alice", places=[PARIS])


@pytest.fixture
def bob(db, alice):
    """Alice's friend, lives far away (Lyon)."""
    bob = make_person("bob@example.org", "Bob", places=[(45.764, 4.8357)])
    befriend(alice, bob)
    return bob


@pytest.fixture
def charlie(db):
    """A stranger, also in Paris: must never see alice's or bob's data."""
    return make_person("charlie@example.org", "Charlie", places=[(48.8606, 2.3376)])


@pytest.fixture
def olivia(db):
    """An operator."""
    return make_operator("olivia@example.org", "Olivia")


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def api():
    """`api(user)` is an API client signed in as USER (None for anonymous)."""
    return client_for


@pytest.fixture
def mail_dir(tmp_path) -> Path:
    """Where the worker's file-based mail backend writes the emails it sends."""
    path = tmp_path / "mail"
    path.mkdir()
    return path


def sent_emails(mail_dir: Path) -> list[email.message.Message]:
    """Every email the worker wrote to MAIL_DIR (the file backend separates them by dashes)."""
    messages = []
    for file in sorted(mail_dir.iterdir()):
        for chunk in file.read_text().split("-" * 79):
            if chunk.strip():
                messages.append(email.message_from_string(chunk.strip()))
    return messages


def _worker_env(mail_dir: Path) -> dict[str, str]:
    """The environment a worker process needs to use this test run's database and broker."""
    env = dict(os.environ)
    env["EMAIL_BACKEND"] = "django.core.mail.backends.filebased.EmailBackend"
    env["EMAIL_FILE_PATH"] = str(mail_dir)
    env["CELERY_QUEUE"] = TEST_QUEUE
    settings_dict = connection.settings_dict
    if settings_dict["ENGINE"].endswith("sqlite3"):
        env["SQLITE_PATH"] = str(settings_dict["NAME"])
        env.pop("DATABASE_URL", None)
    else:
        url = os.environ["DATABASE_URL"]
        env["DATABASE_URL"] = url.rsplit("/", 1)[0] + "/" + settings_dict["NAME"]
    env.setdefault("DEBUG", "1")
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture
def celery_worker(transactional_db, mail_dir) -> Iterator[subprocess.Popen]:
    """A real Celery worker process on the real broker, sharing the test database."""
    from django.conf import settings

    celery_app.conf.task_always_eager = False
    import redis

    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(TEST_QUEUE)
    hostname = f"test-{os.getpid()}-{time.monotonic_ns()}@localhost"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "backend.config", *WORKER_ARGS, "-n", hostname],
        cwd=ROOT,
        env=_worker_env(mail_dir),
    )
    deadline = time.monotonic() + 60
    while not celery_app.control.ping(destination=[hostname], timeout=0.5):
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            pytest.fail("the Celery worker did not start")
    yield worker
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


@pytest.fixture
def incident(olivia, alice, bob, charlie):
    """An active incident over Paris: alice and charlie are in it, bob (Lyon) is not."""
    from backend.checkins.services import checkins_create_for_incident
    from backend.incidents.models import Incident
    from backend.incidents.services import incident_create

    incident = incident_create(
        creator=olivia, title="Paris attacks", regions=[{"geometry": PARIS_POLYGON}]
    )
    Incident.objects.filter(id=incident.id).update(status=Incident.Status.ACTIVE)
    checkins_create_for_incident(incident_id=incident.id)
    incident.refresh_from_db()
    return incident


@pytest.fixture
def alice_checkin(incident, alice):
    return alice.checkins.get(incident=incident)
