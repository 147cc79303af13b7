"""What the benches read of processes from /proc (Linux)."""

import os
from contextlib import suppress
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of PID so far, and of its children that ended (a PostgreSQL
    backend closed mid-run is counted in the postmaster's); 0 once PID has gone."""
    with suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(map(int, fields[11:15])) / os.sysconf("SC_CLK_TCK")
    return 0.0
