"""The files and processes that identify one shared model server, for the jobs that share it and
for its supervisor.

Only the standard library: the supervisor imports this module and nothing heavier, so that the
server it launches starts as soon as possible after the job asks for it (bench/README.md, "One
cell, whole run").
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

SUPERVISOR_MODULE = "slmbench.engines.server_supervisor"


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """True while the process runs; an exited child not yet reaped (a zombie) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    return fields is None or fields[0] != "Z"


def process_start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot: with the pid, it names one process for good."""
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def process_command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class ServerFiles:
    """The files that describe one shared server: lock, state, leases, log."""

    def __init__(self, state_dir: Path, key: str):
        self.lock = state_dir / f"{key}.lock"
        self.state = state_dir / f"{key}.json"
        self.leases = state_dir / f"{key}.leases"
        self.log = state_dir / f"{key}.log"

    def read_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state.read_text())
        except (OSError, ValueError, RecursionError):
            return None
        return state if isinstance(state, dict) else None

    def live_leases(self) -> int:
        """Count leases whose job is still alive, dropping the others."""
        alive = 0
        for lease in self.leases.glob("*") if self.leases.exists() else []:
            pid = lease.name.split("-", 1)[0]
            if not pid.isdigit():  # not a lease (say, an NFS placeholder)
                continue
            if pid_alive(int(pid)):
                alive += 1
            else:
                lease.unlink(missing_ok=True)
        return alive
