"""Run the demo: web server, Celery worker and beat, answers drainer, on the embedded Redis.

`make run` calls this after installing, migrating and seeding. Every child runs in its own
process group and its output is prefixed with its name. Ctrl-C or SIGTERM stops them all
and exits 0; if one of them dies, the others are stopped and the exit status is 1.
"""

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import FrameType

from backend.devtools.embedded_redis import EmbeddedRedisError, embedded_redis
from backend.devtools.processes import BASE_DIR, VAR_DIR, spawn, stop

DEFAULT_PORT = "8000"
# Longest name, for aligned prefixes.
_WIDTH = len("answers")


def _commands(port: str) -> dict[str, list[str]]:
    """Name each process and its command line; they stop in reverse order."""
    celery = [sys.executable, "-m", "celery", "-A", "backend.config"]
    return {
        "worker": [*celery, "worker", "-c", "2", "-l", "INFO"],
        "beat": [*celery, "beat", "-l", "INFO", "-s", str(VAR_DIR / "celerybeat-schedule")],
        # Records answers from the write-behind stream (backend/checkins/answer_drainer.py).
        "answers": [sys.executable, "manage.py", "drain_answers"],
        "web": [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
    }


def _environment(redis_url: str, port: str) -> dict[str, str]:
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    env.setdefault("DEBUG", "1")
    env.setdefault("SAFE_INSECURE_DEV_KEY", "1")
    # One-tap links in the emails must point at this server, whatever its port.
    env.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
    return env


def _pump(name: str, proc: subprocess.Popen[bytes]) -> None:
    """Copy PROC's output to ours, each line prefixed with NAME."""
    assert proc.stdout is not None  # noqa: S101 - spawn(capture=True) always gives a pipe
    prefix = f"{name:<{_WIDTH}} | "
    for raw in proc.stdout:
        line = raw.decode(errors="replace").rstrip("\n")
        sys.stdout.write(f"{prefix}{line}\n")
        sys.stdout.flush()


def _banner(port: str, redis_url: str, embedded: bool) -> str:
    url = f"http://127.0.0.1:{port}"
    broker = f"{redis_url} ({'embedded' if embedded else 'from REDIS_URL'})"
    database = os.environ.get("DATABASE_URL") or f"SQLite at {VAR_DIR / 'db.sqlite3'}"
    lines = [
        "Safe & Sound is starting",
        f"  app       {url}/",
        f"  console   {url}/console/",
        f"  admin     {url}/admin/",
        f"  API docs  {url}/api/docs/",
        f"  health    {url}/healthz",
        f"  database  {database}",
        f"  broker    {broker}",
        "  demo accounts: see the README ('Demo accounts'); emails print below (console).",
        "  Ctrl-C stops everything.",
    ]
    rule = "=" * max(len(line) for line in lines)
    return "\n".join([rule, *lines, rule])


@contextmanager
def _broker() -> Iterator[tuple[str, bool]]:
    """Yield (REDIS_URL, embedded?): the configured server, or an embedded one."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured, False
        return
    # Durable (append-only file in var/redis): it holds answers not yet in the database.
    with embedded_redis(data_dir=VAR_DIR / "redis") as url:
        yield url, True


def supervise(commands: Mapping[str, list[str]], *, env: Mapping[str, str]) -> int:
    """Run COMMANDS until a signal (return 0) or until one of them exits (return 1)."""
    stopping = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    children: dict[str, subprocess.Popen[bytes]] = {}
    pumps: list[threading.Thread] = []
    failed: str | None = None
    try:
        for name, argv in commands.items():
            proc = spawn(argv, env=env, cwd=BASE_DIR, capture=True)
            children[name] = proc
            pump = threading.Thread(target=_pump, args=(name, proc), daemon=True)
            pump.start()
            pumps.append(pump)
        while not stopping.is_set() and failed is None:
            for name, proc in children.items():
                if proc.poll() is not None:
                    failed = f"{name} exited with status {proc.returncode}"
                    break
            stopping.wait(0.2)
    finally:
        for name, proc in reversed(children.items()):
            if proc.poll() is None:
                print(f"stopping {name} ...", flush=True)
            stop(proc, timeout=10)
        for pump in pumps:
            pump.join(timeout=2)
    if failed is not None:
        print(f"error: {failed}; stopped the others.", file=sys.stderr, flush=True)
        return 1
    print("stopped everything.", flush=True)
    return 0


def main() -> int:
    port = os.environ.get("PORT") or DEFAULT_PORT
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    try:
        with _broker() as (redis_url, embedded):
            print(_banner(port, redis_url, embedded), flush=True)
            return supervise(_commands(port), env=_environment(redis_url, port))
    except EmbeddedRedisError as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
