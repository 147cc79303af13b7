"""Start child processes in their own process group and stop them reliably."""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# Repository root: backend/devtools/processes.py -> three levels up.
BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this child if its parent dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    capture: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ARGV as the leader of a new process group, dying with its parent.

    Its own group keeps a terminal's Ctrl-C away from it, so the parent decides the order
    in which things stop; with `capture`, stdout and stderr come back on one pipe.
    """
    return subprocess.Popen(  # noqa: S603 - argv is built by our own tooling
        list(argv),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        start_new_session=True,
        preexec_fn=_die_with_parent,  # only calls prctl: fork-safe
    )


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 10.0) -> int:
    """Stop PROC and its process group: SIGTERM, SIGKILL after TIMEOUT; return its code.

    SIGTERM goes to the leader alone, so that it can shut down its own children in order
    (a Celery worker's warm shutdown); the group is killed only afterwards.
    """
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
    # Grandchildren (a Celery pool, say) may outlive their leader; never leave them behind.
    _signal_group(proc, signal.SIGKILL)
    return proc.returncode


def exit_code(returncode: int) -> int:
    """Turn a Popen return code into a shell exit status (killed by signal N -> 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode
