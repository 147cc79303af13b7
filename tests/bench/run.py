"""Benchmarks B1-B6 beside bare baselines measured in the same run; writes docs/performance.md.

    make bench            # full scale: 2,000,000 people, 200,000 pushes
    make bench QUICK=1    # 1/10 scale, under 3 minutes
    FULL=1 make bench     # B2 with 1,000,000 pushes

Runs against PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/safe_bench,
created and migrated if missing) and Redis (REDIS_URL, default redis://127.0.0.1:6379/5),
starting either like .ci/run does when it is down. Figures are reported, never asserted.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.procfs import cpu_seconds  # noqa: E402 - needs the path above

QUICK = os.environ.get("QUICK", "") not in ("", "0")
FULL = os.environ.get("FULL", "") not in ("", "0")
SCALE = 10 if QUICK else 1
PEOPLE = 2_000_000 // SCALE
PUSHES = 1_000_000 if FULL and not QUICK else 200_000 // SCALE
FRIENDS = 500
# The region is the south-west half of the seeding box (a triangle cut along the diagonal),
# so it holds about half of the uniformly seeded people.
BBOX = (48.80, 2.22, 48.92, 2.48)  # south, west, north, east
PYTHON = sys.executable
VAR = ROOT / "var" / "bench"
RAMP = (4, 8, 16, 32)
STEP_SECONDS = 3 if QUICK else 12
B2_LIMIT_SECONDS = 45 if QUICK else 1200
ALONE_MESSAGES = 20_000  # B2's bound without the outbox: a few seconds
# Worker processes, as deploy/ runs them by default (CELERY_CONCURRENCY): more than the
# cores, since a delivery process waits on push services and the database a good part of
# the time (B2: 1,419 msg/s at -c 2, 1,556 at -c 4, same machine).
WORKER_CONCURRENCY = 4
GOALS = {"worker_mb": 500, "redis_mb": 200, "b1_ratio": 1.5, "b2_ratio": 0.5, "b3_ratio": 0.8}

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/safe_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/5")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
os.environ.setdefault("SAFE_INSECURE_DEV_KEY", "1")
os.environ["DEBUG"] = "0"  # DEBUG keeps every query in memory: never in a benchmark
# Email is not what is measured: people without another channel get it, and discard it.
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.dummy.EmailBackend")
os.environ["PYTHONPATH"] = str(ROOT)
# The push receiver listens on plain http://127.0.0.1.
os.environ["SAFE_PUSH_ALLOW_HTTP_LOOPBACK"] = "1"
# wrk is one client IP standing for a crowd: keep the per-IP limiter's Redis round trip in
# the path, but never let it refuse (a crisis sends one answer per person, from many IPs).
os.environ["SAFE_RATE_ONE_TAP"] = "1000000000"
# BENCH_ONLY=b3,b4 runs a subset (while tuning); the report is written only for a full set.
ONLY = [name for name in os.environ.get("BENCH_ONLY", "").lower().split(",") if name]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- servers and processes


def ensure_services() -> None:
    """Start PostgreSQL and Redis like .ci/run does if they do not answer; create the DB."""
    db = urlsplit(os.environ["DATABASE_URL"])
    host, port = db.hostname or "127.0.0.1", str(db.port or 5432)
    if subprocess.run(["pg_isready", "-q", "-h", host, "-p", port], check=False).returncode:
        versions = sorted(os.listdir("/etc/postgresql"))
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
            check=False,
        )
        wait_until(
            lambda: subprocess.run(["pg_isready", "-q", "-h", host, "-p", port]).returncode == 0,
            60,
            "PostgreSQL",
        )
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        client.ping()
    except redis.ConnectionError:
        url = urlsplit(os.environ["REDIS_URL"])
        Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port",
             str(url.port or 6379), "--save", "", "--appendonly", "no"],
            check=True,
        )  # fmt: skip
        wait_until(lambda: bool(client.ping()), 30, "Redis")
    import psycopg

    name = db.path.lstrip("/")
    admin = db._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            log(f"created database {name}")
    manage("migrate", "--no-input", "-v", "0")
    # Pages run with DEBUG off, as in production: they need the static files manifest.
    # A broken static file elsewhere must not stop the database benchmarks: B3 reports 500s.
    if subprocess.run(
        [PYTHON, "manage.py", "collectstatic", "--no-input", "-v", "0"], cwd=ROOT
    ).returncode:
        log("collectstatic failed: one-tap pages may answer 500 in B3")


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {seconds:.0f} s")


def manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


def spawn(argv: list[str], name: str, **env: str) -> subprocess.Popen[bytes]:
    VAR.mkdir(parents=True, exist_ok=True)
    out = (VAR / f"{name}.log").open("wb")
    return subprocess.Popen(
        argv, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Stop a process we started (its own session, so its children too)."""
    if proc.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def descendants(pid: int) -> list[int]:
    """PID and every process below it (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def rss_mb(pid: int, field_name: str = "VmHWM") -> float:
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


class MemorySampler:
    """Peak RSS of every process under ROOT_PIDS and Redis used_memory, sampled twice a second."""

    def __init__(self, root_pids: list[int]) -> None:
        import redis

        self.root_pids = root_pids
        self.redis = redis.Redis.from_url(os.environ["REDIS_URL"])
        self.peak_rss: dict[int, float] = {}
        self.redis_peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for root in self.root_pids:
            for pid in descendants(root):
                self.peak_rss[pid] = max(self.peak_rss.get(pid, 0.0), rss_mb(pid))
        with suppress(Exception):
            used = int(self.redis.info("memory")["used_memory"]) / 2**20
            self.redis_peak = max(self.redis_peak, used)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def __enter__(self) -> MemorySampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sample()
        self._stop.set()
        self._thread.join()

    def worst(self) -> float:
        return max(self.peak_rss.values(), default=0.0)


def postgres_pids() -> list[int]:
    """The local PostgreSQL server's processes (its backends included)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
    return pids


def idle_seconds() -> float:
    """Seconds all CPUs have spent idle since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")  # idle + iowait


class CpuMeter:
    """CPU each group of processes used while the block ran; a process that started during
    it counts from zero, one that ended during it in its parent's (`cpu_seconds`)."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.used: dict[str, float] = {}
        self.idle = 0.0

    def _read(self) -> dict[str, dict[int, float]]:
        return {
            name: {pid: cpu_seconds(pid) for pid in pids()} for name, pids in self.groups.items()
        }

    def __enter__(self) -> CpuMeter:
        self._start, self._idle = self._read(), idle_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.idle = idle_seconds() - self._idle
        for name, now in self._read().items():
            before = self._start[name]
            self.used[name] = sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())


def redis_cleanup() -> None:
    """Drop our queue and bench keys only: the Redis may be shared."""
    import redis
    from django.conf import settings

    from backend.config.queues import queue_names

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    queues = queue_names(settings.CELERY_TASK_DEFAULT_QUEUE)
    keys = [*queues, "unacked", "unacked_index", "unacked_mutex", "bench:bare-answers"]
    client.delete(*keys)


@contextmanager
def celery_worker(
    name: str, concurrency: int = WORKER_CONCURRENCY
) -> Iterator[subprocess.Popen[bytes]]:
    from backend.config.celery import app

    hostname = f"{name}-{os.getpid()}@localhost"
    proc = spawn(
        [PYTHON, "-m", "celery", "-A", "backend.config", "worker", "-l", "warning",
         "-c", str(concurrency), "-n", hostname, "--without-gossip", "--without-mingle"],
        name,
    )  # fmt: skip
    try:
        wait_until(lambda: bool(app.control.ping(destination=[hostname], timeout=0.5)), 60, name)
        yield proc
    finally:
        stop(proc)


# ---------------------------------------------------------------- data


@dataclass
class World:
    operator: Any
    positions: Path
    region: dict[str, Any]
    expected: set[int] = field(default_factory=set)
    incident_id: int = 0  # the active incident holding the B1 check-ins


def region_geometry() -> dict[str, Any]:
    south, west, north, east = BBOX
    ring = [[west, south], [west, north], [east, south], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def seed(world_positions: Path) -> None:
    """Seed PEOPLE people once; a later run with the same scale reuses them."""
    from django.db import connection

    prefix = f"bench{PEOPLE}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounts_user WHERE email LIKE %s", [f"{prefix}-%"])
        (have,) = cursor.fetchone()
    if have == PEOPLE and world_positions.exists():
        log(f"reusing {PEOPLE:,} seeded people")
        return
    log(f"seeding {PEOPLE:,} people (once per scale)")
    with connection.cursor() as cursor:
        # Our own database: start from nothing so the region holds only this population.
        cursor.execute("TRUNCATE accounts_user, incidents_incident RESTART IDENTITY CASCADE")
    south, west, north, east = BBOX
    manage(
        "seed_population", "--people", str(PEOPLE), "--friends", "0", "--prefix", prefix,
        "--bbox", f"{south},{west},{north},{east}", "--positions-out", str(world_positions),
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE accounts_user")
        cursor.execute("VACUUM ANALYZE accounts_place")


def expected_people(positions: Path, geometry: dict[str, Any]) -> set[int]:
    """Exact point-in-polygon test of every seeded position (never stored in the database)."""
    import numpy as np
    import shapely
    from shapely.geometry import shape

    polygon = shape(geometry)
    ids, lats, lons = [], [], []
    with positions.open() as source:
        reader = csv.reader(source)
        next(reader)
        for pid, lat, lon in reader:
            ids.append(int(pid))
            lats.append(float(lat))
            lons.append(float(lon))
    inside = shapely.contains_xy(polygon, np.array(lons), np.array(lats))
    return {pid for pid, hit in zip(ids, inside, strict=True) if hit}


def bench_operator() -> Any:
    from backend.accounts.models import User

    operator = User.objects.filter(email="bench-operator@example.test").first()
    if operator is None:
        operator = User.objects.create_superuser("bench-operator@example.test", None, name="Op")
    return operator


def new_incident(world: World, title: str) -> int:
    from backend.incidents.services import incident_create

    incident = incident_create(
        creator=world.operator, title=title, regions=[{"geometry": world.region}]
    )
    return int(incident.id)


def set_active(incident_id: int) -> None:
    """Mark active without queueing a fan-out (the bench creates check-ins itself)."""
    from backend.incidents.models import Incident

    Incident.objects.filter(id=incident_id).update(status=Incident.Status.ACTIVE)


def add_pending_checkins(incident: int, people: str, params: list[Any] | None = None) -> None:
    """Give INCIDENT an unanswered check-in for each person id the query PEOPLE selects."""
    sql(
        f"""INSERT INTO checkins_checkin
            (incident_id, person_id, status, note, answered_via, created_at)
            SELECT %s, p.id, 'pending', '', '', now() FROM ({people}) AS p(id)""",  # noqa: S608
        [incident, *(params or [])],
    )


def sql(statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.fetchall() if cursor.description else []


# ---------------------------------------------------------------- results


@dataclass
class Row:
    id: str
    benchmark: str
    ours: str
    baseline: str
    ratio: str
    goal: str
    met: str


ROWS: list[Row] = []
NOTES: list[str] = []


def row(*values: str) -> None:
    ROWS.append(Row(*values))
    log("| " + " | ".join(values) + " |")


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


# ---------------------------------------------------------------- B1 activation


def b1(world: World) -> None:
    from django.db import connection

    from backend.checkins.services import checkins_create_for_incident

    sql("DROP TABLE IF EXISTS bench_b1_people")
    # The rows the baseline inserts: the same people, found outside the timed part, stored in
    # person order so the bare insert fills the indexes in order (its best case).
    bare_incident = new_incident(world, "B1 baseline")
    sql(
        """CREATE UNLOGGED TABLE bench_b1_people AS
           SELECT DISTINCT p.person_id FROM incidents_cellrange r
           JOIN accounts_place p ON p.cell BETWEEN r.lo AND r.hi WHERE r.incident_id = %s
           ORDER BY p.person_id""",
        [bare_incident],
    )
    sql("TRUNCATE checkins_checkin CASCADE")
    sql("CHECKPOINT")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO checkins_checkin
               (incident_id, person_id, status, note, answered_via, created_at)
               SELECT %s, person_id, 'pending', '', '', now() FROM bench_b1_people""",
            [bare_incident],
        )
    bare = time.perf_counter() - started
    log(f"B1 bare INSERT … SELECT: {bare:.2f} s")

    sql("TRUNCATE checkins_checkin CASCADE")
    sql("CHECKPOINT")
    incident = new_incident(world, "B1 direct")
    started = time.perf_counter()
    created = checkins_create_for_incident(incident_id=incident)
    ours = time.perf_counter() - started
    log(f"B1 checkins_create_for_incident: {ours:.2f} s for {created:,} check-ins")
    missed, extra, twice = check_coverage(incident, world.expected)
    ratio = ours / bare
    row(
        "B1", f"activation, {len(world.expected):,} of {PEOPLE:,} people: check-ins created "
        "(`checkins_create_for_incident`)", f"{ours:.2f} s ({created:,} rows; missed {missed}, "
        f"twice {twice}, outside polygon but in a border cell {extra:,})",
        f"{bare:.2f} s", f"{ratio:.2f}", "≤ 1.5, 0 missed",
        yes(ratio <= GOALS["b1_ratio"] and missed == 0 and twice == 0),
    )  # fmt: skip
    world.incident_id = incident
    b1_celery(world, bare)


def check_coverage(incident_id: int, expected: set[int]) -> tuple[int, int, int]:
    """(missed, extra, twice) of the incident's check-ins against the exact expectation."""
    people = [pid for (pid,) in sql(
        "SELECT person_id FROM checkins_checkin WHERE incident_id = %s", [incident_id]
    )]  # fmt: skip
    got = set(people)
    return len(expected - got), len(got - expected), len(people) - len(got)


B5: dict[str, tuple[float, float]] = {}


def b1_celery(world: World, bare: float) -> None:
    """Activation as in production: activate → fanout_incident on a real worker."""
    from backend.incidents.models import Incident
    from backend.incidents.services import incident_activate

    sql("TRUNCATE checkins_checkin CASCADE")
    sql("CHECKPOINT")
    redis_cleanup()
    incident = new_incident(world, "B1 through Celery")
    target = len(world.expected)
    with celery_worker("bench-b1") as worker, MemorySampler([worker.pid]) as memory:
        started = time.perf_counter()
        incident_activate(actor=world.operator, incident_id=incident)
        wait_until(
            lambda: Incident.objects.filter(id=incident, fanout_done_at__isnull=False).exists(),
            600,
            "the fan-out",
        )
        ours = time.perf_counter() - started
        # The delivery batches it queued are not B1: stop them before they send.
        redis_cleanup()
    missed, _extra, twice = check_coverage(incident, world.expected)
    rows = sql("SELECT count(*) FROM checkins_checkin WHERE incident_id = %s", [incident])[0][0]
    ratio = ours / bare
    row(
        "B1", f"activation through a real Celery worker (-c {WORKER_CONCURRENCY}): activate → "
        f"every check-in row ({rows:,} rows, ≥ {target:,} expected)",
        f"{ours:.2f} s (missed {missed}, twice {twice})",
        f"{bare:.2f} s", f"{ratio:.2f}", "≤ 1.5, 0 missed",
        yes(ratio <= GOALS["b1_ratio"] and missed == 0 and twice == 0),
    )  # fmt: skip
    B5["B1 Celery worker"] = (memory.worst(), memory.redis_peak)
    # Deliveries the worker may have started belong to no benchmark.
    for table in ("notifications_delivery", "notifications_fanoutclaim"):
        sql(f"DELETE FROM {table} WHERE incident_id = %s", [incident])  # noqa: S608 - ours
    world.incident_id = incident


def latest_b1_incident() -> int:
    """The B1 incident of an earlier run, for BENCH_ONLY runs that skip B1."""
    found = sql(
        "SELECT max(id) FROM incidents_incident WHERE title = 'B1 through Celery' "
        "AND status = 'active'"
    )
    return int(found[0][0] or 0)


# ---------------------------------------------------------------- B6 audience preview


def b6(world: World) -> None:
    """The preview as operators use it: on the draft, before activation (and so before the
    autovacuum that follows a million-row fan-out competes for the disk and a core)."""
    from backend.console.selectors import audience_preview
    from backend.incidents.selectors import incident_audience_count
    from tests.bench.push_receiver import shared_subscription_keys

    draft = new_incident(world, "B6 draft")
    if not sql("SELECT EXISTS (SELECT 1 FROM notifications_pushsubscription)")[0][0]:
        subscribe("http://127.0.0.1:9", *shared_subscription_keys())  # B2's devices, early
    sql("ANALYZE notifications_pushsubscription")  # as autovacuum would have by now

    def median_ms(run: Callable[[], Any]) -> tuple[float, Any]:
        timings, result = [], None
        for _ in range(3):
            started = time.perf_counter()
            result = run()
            timings.append((time.perf_counter() - started) * 1000)
        return statistics.median(timings), result

    count_ms, count = median_ms(lambda: incident_audience_count(incident_id=draft))
    preview_ms, preview = median_ms(lambda: audience_preview(incident_id=draft))
    row(
        "B6", f"audience preview of the B1 region, on a draft: the console's preview (people "
        f"per region, in all, with push, SMS, email: {preview['total']:,}, "
        f"{preview['push']:,} with push); the count alone (`incident_audience_count`) "
        f"{count_ms:.0f} ms for {count:,}",
        f"{preview_ms:.0f} ms (median of 3)", "—", "—", "≤ 500 ms", yes(preview_ms <= 500),
    )  # fmt: skip


# ---------------------------------------------------------------- B4 friends' view


def b4(world: World) -> None:
    from django.db import connection
    from rest_framework.renderers import JSONRenderer

    from backend.accounts.models import User
    from backend.checkins.selectors import friends_statuses
    from backend.social.models import Friendship

    viewer = User.objects.filter(email="bench-viewer@example.test").first()
    if viewer is None:
        viewer = User.objects.create_user("bench-viewer@example.test", None, name="Viewer")
    Friendship.objects.filter(person=viewer).delete()
    Friendship.objects.filter(friend=viewer).delete()
    step = max(len(world.expected) // FRIENDS, 1)
    friends = sorted(world.expected)[::step][:FRIENDS]
    Friendship.objects.bulk_create(
        [Friendship(person=viewer, friend_id=f) for f in friends]
        + [Friendship(person_id=f, friend=viewer) for f in friends]
    )
    # A realistic mix: some friends have answered.
    sql(
        "UPDATE checkins_checkin SET status = 'safe', answered_at = now(), answered_via = 'app' "
        "WHERE incident_id = %s AND person_id = ANY(%s)",
        [world.incident_id, friends[::3]],
    )
    sql("ANALYZE social_friendship")
    iterations = 60 if QUICK else 200

    def ours() -> int:
        rows = friends_statuses(viewer=viewer, incident_id=world.incident_id)
        JSONRenderer().render(rows)
        return len(rows)

    def bare() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT person_id, status, note, answered_at FROM checkins_checkin "
                "WHERE incident_id = %s AND person_id = ANY(%s)",
                [world.incident_id, friends],
            )
            return len(cursor.fetchall())

    seen = ours()
    ours_ms = timed(ours, iterations)
    bare_ms = timed(bare, iterations)
    p95 = ours_ms[1]
    row(
        "B4", f"friends' view, {FRIENDS} friends ({seen} rows) in the {len(world.expected):,}-"
        "person incident: `friends_statuses` (access check) + JSON, one client",
        f"p50 {ours_ms[0]:.1f} ms, p95 {p95:.1f} ms",
        f"p50 {bare_ms[0]:.1f} ms, p95 {bare_ms[1]:.1f} ms", f"{p95 / bare_ms[1]:.1f}",
        "p95 ≤ 50 ms", yes(p95 <= 50 and seen == len(friends)),
    )  # fmt: skip


def timed(function: Callable[[], int], iterations: int) -> tuple[float, float]:
    """(p50, p95) in ms over ITERATIONS calls after one warm-up."""
    function()
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.95) - 1]


# ---------------------------------------------------------------- B3 peak answers


Step = tuple[float, float, float, int, int]  # rate, p50 ms, p99 ms, connections, errors


def b3(world: World) -> None:
    if not shutil.which("wrk"):
        row("B3", "peak answers", "not run: `wrk` is not installed", "—", "—", "≥ 0.8", "no")
        return
    from backend.checkins.tokens import checkin_token

    incident = world.incident_id
    ids = unanswered(incident)
    if len(ids) < len(world.expected) // 2:  # answered by earlier `BENCH_ONLY=b3` runs
        incident = new_incident(world, "B3 answers")
        set_active(incident)
        add_pending_checkins(
            incident,
            "SELECT id FROM accounts_user WHERE email LIKE %s ORDER BY id LIMIT %s",
            [f"bench{PEOPLE}-%", len(world.expected)],
        )
        ids = unanswered(incident)
    per_step = min(len(ids) // (2 * len(RAMP)), 50_000)
    tokens = VAR / "tokens.txt"
    with tokens.open("w") as out:
        out.writelines(
            checkin_token(cid, incident) + "\n" for cid in ids[: per_step * 2 * len(RAMP)]
        )
    count_sql = (
        "SELECT count(*) FROM checkins_checkin WHERE incident_id = %s AND answered_via = 'push'"
    )
    before = sql(count_sql, [incident])[0][0]
    with answers_drainer():
        (ours, accepted, wrapped), (bare, _, _) = ramp(
            ["backend.config.settings", "tests.bench.baseline_settings"], tokens, per_step
        )
    from backend.checkins.answer_drainer import drain_until_empty

    backlog = drain_until_empty(timeout=300)
    stored = sql(count_sql, [incident])[0][0] - before
    # Each request answers a different check-in unless a step ran out of tokens (then a
    # repeat is an idempotent no-op and the distinct answers are what must be stored).
    complete = stored >= (accepted if not wrapped else per_step)
    ratio = ours[0] / bare[0]
    held = ours[2] <= 100 and ours[4] == 0 and bare[2] <= 100
    row(
        "B3", "peak \"I'm safe\" answers: `POST /api/answer/` {token, status} (what a push "
        "action posts) through gunicorn with deploy/gunicorn.conf.py, wrk -t2 on the same 2 "
        f"cores, {STEP_SECONDS} s per step at {', '.join(map(str, RAMP))} connections, the two "
        "servers' steps interleaved: best rate with p99 ≤ 100 ms (else the best rate, marked)",
        f"{step_text(ours)}; {accepted:,} answers accepted, {stored:,} stored in PostgreSQL "
        f"({backlog:,} of them still queued when the load stopped)",
        step_text(bare), f"{ratio:.2f}", "≥ 0.8 at p99 ≤ 100 ms, every answer stored",
        yes(ratio >= GOALS["b3_ratio"] and complete and held),
    )  # fmt: skip


def unanswered(incident: int) -> list[int]:
    """The ids of INCIDENT's check-ins nobody has answered, in order."""
    return [cid for (cid,) in sql(
        "SELECT id FROM checkins_checkin WHERE incident_id = %s AND status = 'pending' "
        "ORDER BY id", [incident],
    )]  # fmt: skip


@contextmanager
def answers_drainer() -> Iterator[None]:
    """The answers write-behind's drainer, as deploy/ runs it beside gunicorn (same cores)."""
    from backend.checkins import answer_stream

    unit = (ROOT / "deploy" / "systemd" / "safe-answers.service").read_text()
    match = re.search(r"^Nice=(-?\d+)$", unit, re.MULTILINE)
    nice = match.group(1) if match else "0"  # at the priority the systemd unit gives it
    proc = spawn(["nice", "-n", nice, PYTHON, "manage.py", "drain_answers"], "drainer")
    try:
        alive = answer_stream.keys().alive
        wait_until(lambda: bool(answer_stream.client().exists(alive)), 60, "answers drainer")
        yield
    finally:
        stop(proc)


def step_text(step: Step) -> str:
    rate, p50, p99, connections, errors = step
    mark = "" if p99 <= 100 else " (p99 > 100 ms at every step)"
    failed = f", {errors} errors" if errors else ""
    figures = f"{rate:.0f} req/s, p50 {p50:.0f} ms, p99 {p99:.0f} ms, {connections} conns"
    return figures + failed + mark


def ramp(settings_modules: list[str], tokens: Path, per_step: int) -> list[tuple[Step, int, bool]]:
    """Run wrk at each concurrency of RAMP against a fresh gunicorn per settings module, the
    servers' steps interleaved (and their order swapped every step): this VM's speed drifts
    by a fifth within a minute, and one server's whole ramp after the other's read 0.74 and
    0.87 in two runs of the same code.

    Returns, per module, the best step (the fastest with p99 ≤ 100 ms and no errors, else
    the fastest), the 2xx answers over all steps, and whether a step had to reuse tokens.
    """
    servers = []
    steps: list[list[Step]] = [[] for _ in settings_modules]
    accepted = [0] * len(settings_modules)
    wrapped = [False] * len(settings_modules)
    try:
        for settings_module in settings_modules:
            port = free_port()
            name = f"gunicorn-{settings_module.rsplit('.', 1)[0].replace('.', '-')}"
            servers.append((port, spawn(
                [PYTHON, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                 "backend.config.wsgi:application"],
                name, HOST="127.0.0.1", PORT=str(port), DJANGO_SETTINGS_MODULE=settings_module,
            )))  # fmt: skip
        for port, _ in servers:
            wait_until(lambda port=port: listening(port), 60, "gunicorn")
        time.sleep(1)
        for index, connections in enumerate(RAMP):
            order = list(range(len(servers)))
            for server in order if index % 2 == 0 else order[::-1]:
                port = servers[server][0]
                offset = (server * len(RAMP) + index) * per_step
                result = wrk(port, connections, 2, tokens, offset)
                rate = result["requests"] / (result["duration_us"] / 1e6)
                errors = sum(result[k] for k in ("status_errors", "connect", "read", "timeout"))
                accepted[server] += result["requests"] - result["status_errors"]
                wrapped[server] |= result["requests"] > per_step
                step = (rate, result["p50_us"] / 1000, result["p99_us"] / 1000, connections, errors)
                log(f"  {settings_modules[server]}: {step_text(step)}")
                steps[server].append(step)
    finally:
        for _, proc in servers:
            stop(proc)
    best = []
    for server_steps in steps:
        good = [s for s in server_steps if s[2] <= 100 and s[4] == 0]
        best.append(max(good or server_steps))
    return list(zip(best, accepted, wrapped, strict=True))


def wrk(port: int, connections: int, threads: int, tokens: Path, offset: int) -> dict[str, int]:
    env = {**os.environ, "TOKENS_FILE": str(tokens), "OFFSET": str(offset), "THREADS": str(threads)}
    done = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{STEP_SECONDS}s",
         "--timeout", "5s", "-s", str(Path(__file__).with_name("answers.lua")),
         f"http://127.0.0.1:{port}"],
        env=env, capture_output=True, text=True, timeout=STEP_SECONDS + 60, check=True,
    )  # fmt: skip
    match = re.search(r"^RESULT (.*)$", done.stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(match.group(1)))


# ---------------------------------------------------------------- B2 Web Push fan-out


def b2(world: World) -> None:
    from backend.notifications.webpush.transport import PushTarget, validate_subscription
    from tests.bench.bench_push_stream import streams_alone
    from tests.bench.bench_webpush_crypto import bench_encrypt, payload_like_ask
    from tests.bench.push_receiver import shared_subscription_keys

    receiver = subprocess.Popen(
        [PYTHON, str(Path(__file__).with_name("push_receiver.py")), "--sample", "50"],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline().split()[1])
        origin = f"http://127.0.0.1:{port}"
        p256dh, auth = shared_subscription_keys()
        people = subscribe(origin, p256dh, auth)
        incident = new_incident(world, "B2 push fan-out")
        set_active(incident)
        # This machine's PostgreSQL runs without autovacuum; in production it would long
        # have cleaned up after B3's answers and earlier fan-outs, whose dead rows made
        # every write of this one dearer (B2 alone, rerun on the same tables: 0.30-0.34).
        for table in ("checkins_checkin", "notifications_delivery"):
            sql(f"VACUUM ANALYZE {table}")
        add_pending_checkins(incident, "SELECT person_id FROM notifications_pushsubscription")
        sql("ANALYZE checkins_checkin")  # as an activation does after a mass insert
        seconds = 3 if QUICK else 10
        target = validate_subscription(f"{origin}/push/0", p256dh, auth, allow_http_loopback=True)
        first = sql("SELECT min(id) FROM checkins_checkin WHERE incident_id = %s", [incident])
        payload = payload_like_ask(first[0][0])  # the same size as the fan-out's
        # Before and after the fan-out, averaged: this VM's speed drifts by a fifth within
        # a minute, and one window taken before alone moved the ratio by as much.
        before = bench_encrypt(seconds, os.cpu_count() or 1, target, payload)
        log(
            f"B2 encryption alone on {os.cpu_count()} cores, {len(payload)}-byte payloads: "
            f"{before:.0f} msg/s"
        )
        how = (
            f"`send_batch` tasks on a real Celery worker (-c {WORKER_CONCURRENCY}), "
            "the Web Push channel"
        )
        rate, sent, memory, cpu = b2_celery(incident, people, origin, receiver.pid)
        after = bench_encrypt(seconds, os.cpu_count() or 1, target, payload)
        bare = (before + after) / 2
        log(f"B2 encryption alone, again: {after:.0f} msg/s")
        stats = receiver_stats(origin)
        # The bound: encryption and HTTP to the same receiver, no outbox at all.
        alone = streams_alone(
            [PushTarget(f"{origin}/push/{n}", p256dh, auth) for n in range(ALONE_MESSAGES)],
            payload,
        )
        log(f"B2 streams alone, no outbox: {alone:.0f} msg/s ({alone / bare:.2f} of the baseline)")
        B5["B2 workers"] = (memory.worst(), memory.redis_peak)
        ratio = rate / bare
        done = sent >= people
        per_message = ", ".join(
            f"{name} {seconds * 1e6 / max(sent, 1):.0f} µs" for name, seconds in cpu.used.items()
        )
        log(f"B2 CPU per message: {per_message}; all CPUs idle {cpu.idle:.1f} s")
        row(
            "B2", f"Web Push fan-out to {people:,} people: {how}; receiver: "
            f"tests/bench/push_receiver.py counted {stats['accepted']:,}, verified VAPID + "
            f"decrypted {stats['checked']:,} (1 in 50), rejected {stats['rejected']}",
            f"{rate:.0f} msg/s" + ("" if done else f" (stopped at {sent:,} after the time limit)")
            + f" (CPU per message: {per_message}); with no outbox at all (one PushStream per "
            f"core, the same receiver, {ALONE_MESSAGES:,} messages): {alone:.0f} msg/s, "
            f"{alone / bare:.2f} of the baseline",
            f"{bare:.0f} msg/s ({len(payload)}-byte payloads as the fan-out's; before "
            f"{before:.0f}, after {after:.0f})", f"{ratio:.3f}",  # at its goal: 0.495 is not 0.50
            "≥ 0.5",
            yes(ratio >= GOALS["b2_ratio"] and done and stats["rejected"] == 0),
        )  # fmt: skip
    finally:
        stop(receiver)


def subscribe(origin: str, p256dh: str, auth: str) -> int:
    """Give the first PUSHES people one subscription each, pointing at the receiver."""
    from django.db import connection
    from django.utils import timezone

    sql("TRUNCATE notifications_pushsubscription")
    ids = [pid for (pid,) in sql(
        "SELECT id FROM accounts_user WHERE email LIKE %s ORDER BY id LIMIT %s",
        [f"bench{PEOPLE}-%", PUSHES],
    )]  # fmt: skip
    now = timezone.now()
    with connection.cursor() as cursor:
        columns = "person_id, endpoint, p256dh, auth, created_at"
        copy = f"COPY notifications_pushsubscription ({columns}) FROM STDIN"
        with cursor.cursor.copy(copy) as cp:
            for pid in ids:
                cp.write_row((pid, f"{origin}/push/{pid}", p256dh, auth, now))
    # Push only: the person's own choice of channels (email would double the work). Only
    # where it is not yet: with autovacuum off here, rewriting 200,000 people every run left
    # dead rows that slowed B6 and B1 of later runs (B6 423 -> 674 ms after 800,000).
    sql(
        """UPDATE accounts_user SET channel_order = '["webpush"]'
           WHERE id = ANY(%s) AND channel_order <> '["webpush"]'""",
        [ids],
    )
    return len(ids)


def receiver_stats(origin: str) -> dict[str, Any]:
    import requests

    return dict(requests.get(f"{origin}/stats", timeout=5).json())


def b2_celery(
    incident: int, people: int, origin: str, receiver: int
) -> tuple[float, int, MemorySampler, CpuMeter]:
    from django.conf import settings

    from backend.notifications.services import checkin_ids_in_batches
    from backend.notifications.tasks import send_batch

    redis_cleanup()
    with celery_worker("bench-b2") as worker, MemorySampler([worker.pid]) as memory:
        groups = {
            "workers": lambda: descendants(worker.pid),
            "PostgreSQL": postgres_pids,
            "receiver": lambda: [receiver],
        }
        with CpuMeter(groups) as cpu:
            started = time.perf_counter()
            for batch in checkin_ids_in_batches(
                incident_id=incident, size=settings.SAFE_FANOUT_BATCH
            ):
                send_batch.delay(batch)
            sent = wait_for_receiver(origin, people, started)
            elapsed = time.perf_counter() - started
    redis_cleanup()
    return sent / elapsed, sent, memory, cpu


def wait_for_receiver(origin: str, people: int, started: float) -> int:
    accepted = 0
    while time.perf_counter() - started < B2_LIMIT_SECONDS:
        accepted = int(receiver_stats(origin)["accepted"])
        if accepted >= people:
            break
        time.sleep(0.2)
    return accepted


# ---------------------------------------------------------------- report


def machine() -> list[str]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    pg = sql("SHOW server_version")[0][0]
    import redis

    info = redis.Redis.from_url(os.environ["REDIS_URL"]).info("server")
    return [
        f"- CPU: {cpu}, `nproc` = {os.cpu_count()}",
        f"- memory: {mem_kb / 2**20:.1f} GiB",
        f"- PostgreSQL {pg}, Redis {info['redis_version']}, Python {platform.python_version()}",
        f"- kernel {platform.release()}",
    ]


def b5() -> None:
    for where, (worker_mb, redis_mb) in B5.items():
        row(
            "B5", f"memory during {where}: peak RSS of the worst worker process, Redis used_memory",
            f"worker {worker_mb:.0f} MB, Redis {redis_mb:.1f} MB", "—", "—",
            "worker ≤ 500 MB, Redis ≤ 200 MB",
            yes(worker_mb <= GOALS["worker_mb"] and redis_mb <= GOALS["redis_mb"]),
        )  # fmt: skip


def table() -> str:
    lines = ["| id | benchmark | ours | baseline | ratio | goal | met |", "|" + "---|" * 7]
    for r in ROWS:
        cells = (r.id, r.benchmark, r.ours, r.baseline, r.ratio, r.goal, r.met)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(text: str, elapsed: float) -> None:
    scale = "QUICK=1 (1/10 scale)" if QUICK else ("FULL=1" if FULL else "full scale")
    command = "make bench" + (" QUICK=1" if QUICK else "") + (" FULL=1" if FULL else "")
    body = [
        "# Performance",
        "",
        f"Latest run: {time.strftime('%Y-%m-%d %H:%M %Z')}, {scale}, {elapsed:.0f} s in all.",
        "Every baseline was measured in the same run on the same machine. The load generator",
        "(wrk, the push receiver) shares the machine's cores with the server it measures.",
        "",
        text,
        "",
        "## Machine",
        "",
        *machine(),
        "",
        "## Commands",
        "",
        "```",
        f"{command}",
        f"# = QUICK={os.environ.get('QUICK', '')} python tests/bench/run.py",
        f"# DATABASE_URL={os.environ['DATABASE_URL']}",
        f"# REDIS_URL={os.environ['REDIS_URL']}",
        "```",
        "",
        "Seeding (once per scale, reused later): `manage.py seed_population --people "
        f"{PEOPLE} --friends 0 --positions-out var/bench/positions-{PEOPLE}.csv`.",
        "",
        *NOTES,
    ]
    path = ROOT / "docs" / "performance.md"
    existing = path.read_text() if path.exists() else ""
    marker = "\n## Notes\n"
    notes = existing[existing.index(marker) :] if marker in existing else ""
    path.write_text("\n".join(body).rstrip() + "\n" + notes)


def main() -> None:
    started = time.monotonic()
    VAR.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("VAPID_PRIVATE_KEY"):
        from backend.notifications.webpush.vapid import generate_vapid_keypair

        os.environ["VAPID_PRIVATE_KEY"] = generate_vapid_keypair()[0]
        os.environ.setdefault("VAPID_SUBJECT", "mailto:bench@example.org")
    ensure_services()
    import django

    django.setup()
    positions = VAR / f"positions-{PEOPLE}.csv"
    seed(positions)
    world = World(operator=bench_operator(), positions=positions, region=region_geometry())
    world.expected = expected_people(positions, world.region)
    log(f"{len(world.expected):,} people inside the polygon (exact test)")
    steps: list[Callable[[World], None]] = [b6, b1, b4, b3, b2]
    if ONLY:
        world.incident_id = latest_b1_incident()
    for step in [s for s in steps if not ONLY or s.__name__ in ONLY]:
        try:
            step(world)
        except Exception as exc:  # one failing benchmark must not hide the others
            log(f"{step.__name__} failed: {exc!r}")
            row(step.__name__.upper(), "failed", repr(exc)[:200], "—", "—", "—", "no")
        finally:
            from django.db import connection

            connection.close()
    b5()
    text = table()
    print(text)
    if not ONLY:
        write_report(text, time.monotonic() - started)


if __name__ == "__main__":
    main()
