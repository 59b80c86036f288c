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

from ..files import read_regular

SUPERVISOR_MODULE = "slmbench.engines.server_supervisor"
STATE_LIMIT = 1 << 20  # bytes; a state file is a few hundred


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


PID_MAX = 1 << 22  # Linux's largest pid_max


def valid_pid(value: Any) -> bool:
    """A number that can name a supervisor: 0 and negatives name process groups for os.kill, 1 is init."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 < value <= PID_MAX


def pid_alive(pid: int) -> bool:
    """True while the process runs and we may signal it; an exited child not yet reaped (a zombie)
    counts as gone, and so does a process of another user (never ours to join or wait for)."""
    if not valid_pid(pid):
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    fields = _proc_stat(pid)
    return fields is None or fields[0] != "Z"


def process_start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot: with the pid, it names one process for good."""
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def process_command(pid: int) -> str:
    return " ".join(process_argv(pid))


def process_argv(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1] if raw else []


def process_uid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def supervisor_mismatch(pid: int, state: dict[str, Any]) -> str:
    """Why process `pid` is not the supervisor `state` describes ("" when it is): it must be this
    user's, and its own command line must say the state's port, token and model, word for word."""
    if process_uid(pid) != os.getuid():
        return f"pid {pid} belongs to another user"
    argv = process_argv(pid)
    if argv[1:3] != ["-m", SUPERVISOR_MODULE] or "--" not in argv:
        return f"pid {pid} is now another process ({' '.join(argv)[:120].strip() or 'unknown'})"
    options = argv[3:argv.index("--")]
    said = dict(zip(options[::2], options[1::2]))
    expected = {"--token": state["token"], "--port": str(state["port"]), "--model": state["model"]}
    wrong = [k for k, v in expected.items() if said.get(k) != v]
    return f"pid {pid}'s own {', '.join(wrong)} contradict the state file" if wrong else ""


@contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Never follows a link nor waits on a FIFO put in its place; neither can be locked.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "a") as f:
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
        """The state file, or None when it is missing, unreadable, not a regular file, or not ours."""
        try:
            if os.lstat(self.state).st_uid != os.getuid():
                return None
            state = json.loads(read_regular(self.state, STATE_LIMIT))
        except (OSError, ValueError, RecursionError):
            return None
        return state if isinstance(state, dict) else None

    def live_leases(self) -> int:
        """Count leases whose job is still alive, dropping the others."""
        alive = 0
        for lease in self.leases.glob("*") if self.leases.is_dir() else []:
            pid = lease.name.split("-", 1)[0]
            if not (pid.isascii() and pid.isdigit() and len(pid) < 9 and valid_pid(int(pid))):
                continue  # not a lease (say, an NFS placeholder, or a name no job of ours writes)
            if pid_alive(int(pid)):
                alive += 1
            else:
                lease.unlink(missing_ok=True)
        return alive
