"""A model server shared by every job of one model on one machine.

The first job that needs the server starts it under a small supervisor process; later
jobs find it through a state file and join it. Each job holds a lease (a file named
after its pid) while it runs; the supervisor stops the server once no live lease has
been held for `idle_timeout_s` seconds. A killed job's lease dies with its pid.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from abc import abstractmethod
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..files import atomic_write_text
from .base import Endpoint, Engine, EngineError


def default_state_dir() -> Path:
    """Node-local, so that each machine of a cluster runs its own servers."""
    return Path(os.environ.get("SLMBENCH_SERVER_DIR", f"/tmp/slmbench-{os.getuid()}/servers"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid: int) -> bool:
    """True while the process runs; an exited child not yet reaped (a zombie) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def log_tail(path: Path, n_bytes: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - n_bytes))
            return f.read().decode(errors="replace")
    except OSError:
        return "(no server log)"


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
            return json.loads(self.state.read_text())
        except (OSError, ValueError):
            return None

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


class ManagedServerEngine(Engine):
    """An engine whose server this package starts, shares and stops."""

    health_path = "/v1/models"

    def __init__(self, name: str, *, ready_timeout_s: float, idle_timeout_s: float, state_dir: Path | None = None, log=None):
        self.name = name
        self.ready_timeout_s = ready_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.state_dir = state_dir or default_state_dir()
        self.log = log or sys.stderr
        self._lease: Path | None = None
        self._log_offset = 0

    @abstractmethod
    def launch_command(self, port: int) -> list[str]:
        """The server's command line, listening on 127.0.0.1:port."""

    def served_model(self) -> str:
        return self.name

    def server_key(self) -> str:
        """Servers with the same fingerprint and flags are the same server."""
        blob = json.dumps([self.fingerprint(), self.launch_command(0)], sort_keys=True)
        return f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"

    def open(self) -> Endpoint:
        files = ServerFiles(self.state_dir, self.server_key())
        with locked(files.lock):
            state = files.read_state()
            if state and pid_alive(state["supervisor_pid"]):
                print(f"[engine] joining the {self.name} server on port {state['port']} (pid {state['supervisor_pid']})", file=self.log, flush=True)
            else:
                state = self._start(files)
            files.leases.mkdir(parents=True, exist_ok=True)
            self._lease = files.leases / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
            self._lease.touch()
        self._log_offset = files.log.stat().st_size if files.log.exists() else 0
        self._files = files
        base = f"http://127.0.0.1:{state['port']}"
        self.wait_ready(base, files)
        return Endpoint(f"{base}/v1", self.served_model())

    def _start(self, files: ServerFiles) -> dict[str, Any]:
        port = free_port()
        command = self.launch_command(port)
        print(f"[engine] starting the {self.name} server: {' '.join(command)}", file=self.log, flush=True)
        print(f"[engine] server log: {files.log}", file=self.log, flush=True)
        files.log.write_bytes(b"")  # a new server, a new log; then appended to by it and its supervisor
        with open(files.log, "ab") as log:
            supervisor = subprocess.Popen(
                [sys.executable, "-m", "slmbench.engines.supervisor", "--key-prefix", str(files.state.with_suffix("")),
                 "--idle-timeout", str(self.idle_timeout_s), "--", *command],
                start_new_session=True,  # outlives this job, so later jobs can join it
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            )
        state = {"supervisor_pid": supervisor.pid, "port": port, "command": command, "started": time.time()}
        atomic_write_text(files.state, json.dumps(state))
        return state

    def health_ok(self, base: str) -> bool:
        try:
            with urllib.request.urlopen(base + self.health_path, timeout=5) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def wait_ready(self, base: str, files: ServerFiles) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.health_ok(base):
                return
            state = files.read_state()
            if state is None or not pid_alive(state["supervisor_pid"]):
                self.close()
                raise EngineError(
                    f"the {self.name} server exited before it was ready; the end of its log ({files.log}):\n"
                    f"{log_tail(files.log)}\nCheck the model's weights and server flags in config.yaml."
                )
            time.sleep(0.5)
        self.close()
        raise EngineError(
            f"the {self.name} server was not ready within {self.ready_timeout_s:.0f} s "
            f"(config key server.ready_timeout_s); the end of its log ({files.log}):\n{log_tail(files.log)}"
        )

    def close(self) -> None:
        """Drop this job's lease and copy the server log lines of its lifetime into the job log."""
        if self._lease is None:
            return
        self._lease.unlink(missing_ok=True)
        self._lease = None
        try:
            with open(self._files.log, "rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode(errors="replace")
        except OSError:
            text = ""
        if text:
            print(f"[engine] server log during this job ({self._files.log}):\n{text.rstrip()}", file=self.log, flush=True)
