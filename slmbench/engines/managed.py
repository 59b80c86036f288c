"""A model server shared by every job of one model on one machine.

The first job that needs the server starts it under a small supervisor process; later
jobs find it through a state file and join it. Each job holds a lease (a file named
after its pid) while it runs; the supervisor stops the server once no live lease has
been held for `idle_timeout_s` seconds. A killed job's lease dies with its pid.

Nothing is joined on trust: the state file must name a live supervisor (pid, the pid's
start time and command line), and the server on its port must serve the model under the
random name that supervisor was started with. A state file that does not check out is
replaced by a new server. A server that dies or stops answering mid-job is restarted
(`recover`), a bounded number of times.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from abc import abstractmethod
from pathlib import Path
from typing import Any

from . import slurm_step
from ..config import schema_defaults
from ..files import private_dir
from .base import Endpoint, Engine, EngineError
from .server_files import (SUPERVISOR_MODULE, ServerFiles, locked, pid_alive, process_command, process_start_time,
                           supervisor_mismatch, valid_pid)

SERVER_DEFAULTS = schema_defaults("server")  # schemas/config.schema.yaml, server
# How long a launcher waits for a new supervisor to record itself (srun may queue the step briefly).
SUPERVISOR_START_S = 60.0
MODELS_PATH = "/v1/models"  # lists the served model names: the proof of a server's identity
# One health request; a busy llama.cpp server answers only after its current generation, and
# SGLang's /health_generate allows its own generation 20 s before it calls itself unhealthy.
PROBE_TIMEOUT_S = 30.0
# How often a starting supervisor's state file is looked at: a file read, well under a millisecond;
# the wait adds half of it on average to every server start.
SUPERVISOR_POLL_S = 0.02


def default_state_dir() -> Path:
    """Node-local, so that each machine of a cluster runs its own servers."""
    return Path(os.environ.get("SLMBENCH_SERVER_DIR", f"/tmp/slmbench-{os.getuid()}/servers"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, n_bytes: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - n_bytes))
            return f.read().decode(errors="replace")
    except OSError:
        return "(no server log)"


def stale_reason(state: dict[str, Any] | None) -> str:
    """Why a state file does not describe a live slmbench supervisor ("" when it does)."""
    if state is None:
        return "there is no readable state file"
    fields = {"supervisor_pid": int, "pid_start": str, "token": str, "port": int, "model": str}
    if any(not isinstance(state.get(k), t) or isinstance(state.get(k), bool) for k, t in fields.items()):
        return "the state file lacks a field of a current slmbench supervisor"
    pid = state["supervisor_pid"]
    if not valid_pid(pid):
        return f"its supervisor pid {pid} is not a process id"
    if not (1 <= state["port"] <= 65535):
        return f"its port {state['port']} is not a port"
    if not pid_alive(pid):
        return f"its supervisor (pid {pid}) is gone, or is not ours"
    if process_start_time(pid) != state["pid_start"]:
        return f"pid {pid} is now another process ({process_command(pid)[:120].strip() or 'unknown'})"
    return supervisor_mismatch(pid, state)


class ServerGone(EngineError):
    """The server a job joined died or was replaced while the job waited for it."""


class ManagedServerEngine(Engine):
    """An engine whose server this package starts, shares and stops."""

    health_path = MODELS_PATH
    # The server's `python -m` module, whose package open() looks for (None: the command needs none), and
    # how to get that package where this environment lacks it.
    server_module: str | None = None
    install_hint = ""
    # How often a loading server is asked whether it is ready. Where the probe is a generation
    # (SGLang's /health_generate), ten times a second; an engine with a cheaper probe asks more often.
    ready_poll_s = 0.1

    def __init__(self, name: str, *, ready_timeout_s: float, idle_timeout_s: float, state_dir: Path | None = None,
                 max_restarts: int = SERVER_DEFAULTS["max_restarts"], log=None):
        self.name = name
        self.ready_timeout_s = ready_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.state_dir = state_dir or default_state_dir()
        self.max_restarts = max_restarts
        self.restarts = 0
        self.log = log or sys.stderr
        self._lease: Path | None = None
        self._state: dict[str, Any] | None = None
        self._log_offset = 0

    @abstractmethod
    def launch_command(self, port: int, served_model: str) -> list[str]:
        """The server's command line, listening on 127.0.0.1:port and serving the model as `served_model`."""

    def served_model(self) -> str:
        return self.name

    def server_env(self) -> dict[str, str]:
        """Environment variables the server is started with, beside this job's own."""
        return {}

    def server_key(self) -> str:
        """Servers with the same fingerprint, flags and environment are the same server."""
        blob = json.dumps([self.fingerprint(), self.launch_command(0, self.served_model()), self.server_env()], sort_keys=True)
        return f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"

    def _say(self, text: str) -> None:
        print(f"[engine] {text}", file=self.log, flush=True)

    def open(self) -> Endpoint:
        package = self.server_module and self.server_module.split(".")[0]
        if package and importlib.util.find_spec(package) is None:  # say what to install, not fail in the server
            raise EngineError(f"models.{self.name}: the server needs the {package!r} package in this environment; {self.install_hint}")
        try:
            private_dir(self.state_dir, "the server state folder (config key server.state_dir, or SLMBENCH_SERVER_DIR)")
        except OSError as e:
            raise EngineError(str(e)) from None
        files = ServerFiles(self.state_dir, self.server_key())
        self._files = files
        for _ in range(2):  # a joined server that dies while we wait is replaced once
            with locked(files.lock):
                state = files.read_state()
                reason = stale_reason(state)
                if not reason:
                    self._say(f"joining the {self.name} server on port {state['port']} (supervisor pid {state['supervisor_pid']})")
                    started = False
                else:
                    if state is not None or files.state.exists():
                        self._say(f"the state file {files.state} is stale ({reason}); starting a new server")
                        files.state.unlink(missing_ok=True)
                    state, started = self._start(files), True
                files.leases.mkdir(parents=True, exist_ok=True)
                self._lease = files.leases / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
                self._lease.touch()
            self._log_offset = 0 if started else (files.log.stat().st_size if files.log.exists() else 0)
            self._state = state
            try:
                return self.wait_ready(state, files)
            except ServerGone:
                if started:
                    raise
        raise ServerGone(f"the {self.name} server kept exiting before it was ready; the end of its log ({files.log}):\n{log_tail(files.log)}")

    def _start(self, files: ServerFiles) -> dict[str, Any]:
        """Start a supervisor and wait until it has recorded itself in the state file (the caller holds the lock)."""
        port, token = free_port(), uuid.uuid4().hex
        served = f"{self.served_model()}-{token[:12]}"  # only this server answers to this name
        command = self.launch_command(port, served)
        self._say(f"starting the {self.name} server: {' '.join(command)}")
        self._say(f"server log: {files.log}")
        files.log.write_bytes(b"")  # a new server, a new log; then appended to by it and its supervisor
        supervisor_command = [
            sys.executable, "-m", SUPERVISOR_MODULE, "--key-prefix", str(files.state.with_suffix("")),
            "--idle-timeout", str(self.idle_timeout_s), "--token", token, "--port", str(port), "--model", served,
            "--", *command,
        ]
        with open(files.log, "ab") as log:
            launcher = subprocess.Popen(
                slurm_step.as_job_step(supervisor_command, files.log),  # in a SLURM job: its own step, which outlives this one
                start_new_session=True,  # outlives this job, so later jobs can join it
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, **self.server_env()},
            )
        deadline = time.monotonic() + SUPERVISOR_START_S
        while time.monotonic() < deadline:
            state = files.read_state()
            if state and state.get("token") == token and not stale_reason(state):
                return state
            if launcher.poll() is not None:
                break
            time.sleep(SUPERVISOR_POLL_S)
        launcher.terminate()  # inside SLURM: the wrapper passes it on to srun, which cancels the step
        try:
            launcher.wait(timeout=10)
        except subprocess.TimeoutExpired:
            launcher.kill()
        raise EngineError(
            f"the {self.name} server's supervisor did not start (exit code {launcher.poll()}); "
            f"the end of its log ({files.log}):\n{log_tail(files.log)}"
        )

    def health_ok(self, base: str) -> bool:
        try:
            with urllib.request.urlopen(base + self.health_path, timeout=PROBE_TIMEOUT_S) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def probe(self, base: str, model: str) -> str:
        """"ours" (healthy and listing `model`), "other" (a service that answers but lists no such model)
        or "down" (no answer yet: loading, busy, hung or gone).

        llama.cpp answers /v1/models only between two generations, so "down" is never proof of death.
        Where /v1/models is the health check itself (llama.cpp), it is asked once.
        """
        if self.health_path != MODELS_PATH and not self.health_ok(base):
            return "down"
        try:
            with urllib.request.urlopen(base + MODELS_PATH, timeout=PROBE_TIMEOUT_S) as r:
                if r.status != 200:
                    return "down"
                listed = json.loads(r.read(1_000_000))
        except (urllib.error.URLError, OSError):
            return "down"
        except (ValueError, RecursionError):
            return "other"
        models = listed.get("data") if isinstance(listed, dict) else None
        served = isinstance(models, list) and any(isinstance(m, dict) and m.get("id") == model for m in models)
        return "ours" if served else "other"

    def _impostor(self, state: dict[str, Any]) -> EngineError:
        self.close()
        return EngineError(
            f"port {state['port']} answers, but not as the {self.name} server its supervisor started "
            f"(it does not list the model {state['model']!r}); stop whatever listens there, or set "
            f"server.state_dir to a folder of your own"
        )

    def wait_ready(self, state: dict[str, Any], files: ServerFiles) -> Endpoint:
        base = f"http://127.0.0.1:{state['port']}"
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            answer = self.probe(base, state["model"])
            if answer == "ours":
                return Endpoint(f"{base}/v1", state["model"])
            if answer == "other":
                raise self._impostor(state)
            if stale_reason(files.read_state()):
                self.close()
                raise ServerGone(
                    f"the {self.name} server exited before it was ready; the end of its log ({files.log}):\n"
                    f"{log_tail(files.log)}\nCheck the model's weights and server flags in config.yaml."
                )
            time.sleep(self.ready_poll_s)
        self.close()
        raise EngineError(
            f"the {self.name} server was not ready within {self.ready_timeout_s:.0f} s "
            f"(config key server.ready_timeout_s); the end of its log ({files.log}):\n{log_tail(files.log)}"
        )

    def recover(self) -> Endpoint:
        """After a failed request: the same endpoint while the server still answers, else a new server.

        A server is restarted only on evidence: its supervisor is gone (the server died), or it
        has answered no health check for `ready_timeout_s` (hung; its supervisor then stops it).
        At most `max_restarts` restarts per job; after that the job must fail.
        """
        state, files = self._state, self._files
        base = f"http://127.0.0.1:{state['port']}"
        deadline = time.monotonic() + self.ready_timeout_s
        while not stale_reason(current := files.read_state()) and time.monotonic() < deadline:
            if current["token"] != state["token"]:  # another job of this model has already restarted it
                self.close()
                return self.open()
            answer = self.probe(base, state["model"])
            if answer == "ours":
                return Endpoint(f"{base}/v1", state["model"])
            if answer == "other":
                raise self._impostor(state)
            time.sleep(0.5)
        if self.restarts >= self.max_restarts:
            self._wait_gone(state, timeout_s=5)  # so that the log ends with how the server ended
            raise EngineError(
                f"the {self.name} server stopped answering, and this job has used {self.restarts} of its "
                f"{self.max_restarts} restarts (config key server.max_restarts); the end of its log ({files.log}):\n"
                f"{log_tail(files.log)}"
            )
        self.restarts += 1
        self._say(f"the {self.name} server stopped answering; restarting it (restart {self.restarts} of at most {self.max_restarts})")
        with locked(files.lock):
            current = files.read_state()
            if current and current.get("token") == state["token"] and not stale_reason(current):
                os.kill(current["supervisor_pid"], signal.SIGTERM)  # a hung server: its supervisor stops it and exits
        self._wait_gone(state)
        self.close()
        return self.open()

    def _wait_gone(self, state: dict[str, Any], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not stale_reason(state):
            time.sleep(0.1)

    def wait_stopped(self, timeout_s: float = 30.0) -> None:
        """Until the supervisor last used has exited: after the last lease, with idle_timeout_s 0, it stops
        the server and tidies the state folder, which the caller may then remove."""
        if self._state:
            self._wait_gone(self._state, timeout_s)

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
            self._say(f"server log during this job ({self._files.log}):\n{text.rstrip()}")
