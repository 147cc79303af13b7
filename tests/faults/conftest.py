"""A stack of our own for fault injection: PostgreSQL, Redis, gunicorn (see servers.py)."""

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import Gunicorn, Postgres, Redis, django_env, manage

# Seeds an active incident over Paris: alice (friend of bob) and N more people in it.
SEED = """
import json
from backend.checkins.services import checkins_create_for_incident
from backend.checkins.tokens import checkin_token
from backend.incidents.models import Incident
from backend.incidents.services import incident_create
from tests.factories import PARIS, PARIS_POLYGON, befriend, make_operator, make_person
from backend.accounts.models import User
olivia = make_operator("olivia@example.org", "Olivia")
alice = make_person("alice@example.org", "Alice", places=[PARIS])
bob = make_person("bob@example.org", "Bob", places=[(45.764, 4.8357)])
befriend(alice, bob)
User.objects.bulk_create([User(email=f"p{n}@example.org", name=f"P{n}") for n in range(N)])
from backend.accounts.models import Place
from backend.geo.cells import cell_for_point
cell = cell_for_point(lat=PARIS[0], lon=PARIS[1])
Place.objects.bulk_create(
    [Place(person=p, cell=cell) for p in User.objects.filter(email__startswith="p")]
)
incident = incident_create(creator=olivia, title="Fault", regions=[{"geometry": PARIS_POLYGON}])
Incident.objects.filter(id=incident.id).update(status=Incident.Status.ACTIVE)
checkins_create_for_incident(incident_id=incident.id)
print("SEED" + json.dumps({
    "alice": checkin_token(alice.checkins.get().id, incident.id),
    "others": [checkin_token(c.id, incident.id) for c in incident.checkins.exclude(person=alice)],
}))
"""


class Stack:
    def __init__(self, base: Path, *, web: bool = True) -> None:
        self.base = base
        self.postgres = Postgres(base)
        self.redis = Redis(base)
        self.env = django_env(database_url=self.postgres.url, redis_url=self.redis.url)
        manage(self.env, "migrate", "--no-input", "-v", "0")
        # Worker-only faults need no web server: two fewer processes on a small machine.
        self.web = Gunicorn(self.env) if web else None

    def seed(self, people: int) -> dict:
        out = manage(self.env, "shell", stdin=SEED.replace("range(N)", f"range({people})"))
        return json.loads(out.split("SEED", 1)[1])

    def destroy(self) -> None:
        if self.web is not None:
            self.web.destroy()
        self.redis.destroy()
        self.postgres.destroy()


def _stack(*, web: bool) -> Iterator[Stack]:
    # Not pytest's tmp_path: its parent is private to root, and PostgreSQL runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="safe-faults-"))
    stack = Stack(base, web=web)
    yield stack
    stack.destroy()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def stack() -> Iterator[Stack]:
    yield from _stack(web=True)


@pytest.fixture
def worker_stack() -> Iterator[Stack]:
    """PostgreSQL and Redis of our own, without gunicorn (for tests that drive workers)."""
    yield from _stack(web=False)
