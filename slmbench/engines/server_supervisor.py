"""Runs one shared model server and stops it when no job has held a lease for a while.

Started by ManagedServerEngine as `python -m slmbench.engines.server_supervisor --key-prefix P
--idle-timeout S --token T --port N --model M -- COMMAND...`; P is the common path of the
server's lock, state, leases and log files. The supervisor writes the state file itself,
with its own pid and that pid's start time, so that a joining job can prove the state
describes this live supervisor (and not a reused pid), also when a launcher such as
`srun` stands between the job and the supervisor.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..files import atomic_write_text
from .server_files import SUPERVISOR_MODULE, ServerFiles, locked, process_start_time

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent() -> None:
    """In the server's process: if the supervisor dies, even by SIGKILL, Linux sends the server SIGTERM."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the supervisor's own SIGTERM handler is the only guard
        pass


def exit_description(returncode: int) -> str:
    """How the server ended, with the likely cause for the signals a broken build or host produces."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    sig = -returncode
    name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
    hint = {
        signal.SIGILL: ": an illegal instruction, the engine was built for CPU features this machine cannot run "
        "(rebuild it: README, 'Install')",
        signal.SIGKILL: ": killed from outside (out of memory, a scheduler, or a person)",
        signal.SIGSEGV: ": a crash inside the engine",
    }.get(sig, "")
    return f"was killed by {name}{hint}"


def write_state(files: ServerFiles, *, token: str, port: int, model: str, command: list[str]) -> None:
    pid = os.getpid()
    state = {"supervisor_pid": pid, "pid_start": process_start_time(pid), "token": token, "port": port,
             "model": model, "command": command, "started": time.time()}
    atomic_write_text(files.state, json.dumps(state))


def supervise(files: ServerFiles, command: list[str], idle_timeout_s: float, poll_s: float = 0.5) -> int:
    with open(files.log, "ab") as log:
        # Its own process group, so that stopping it also stops the workers it forks (SGLang does).
        server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True, preexec_fn=die_with_parent)
    signal.signal(signal.SIGTERM, lambda *_: stop_group(server, signal.SIGTERM))
    idle_since = time.monotonic()
    try:
        while server.poll() is None:
            time.sleep(poll_s)
            if files.live_leases():
                idle_since = time.monotonic()
                continue
            if time.monotonic() - idle_since < idle_timeout_s:
                continue
            with locked(files.lock):  # a job joining now would hold this lock
                if files.live_leases() == 0:
                    print(f"[supervisor] idle for {idle_timeout_s:.0f} s, stopping the server", file=sys.stderr, flush=True)
                    files.state.unlink(missing_ok=True)
                    break
        else:
            print(f"[supervisor] the server {exit_description(server.returncode)}", file=sys.stderr, flush=True)
    finally:
        with locked(files.lock):
            state = files.read_state()
            if state and state.get("supervisor_pid") == os.getpid():
                files.state.unlink(missing_ok=True)
        stop_group(server, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            stop_group(server, signal.SIGKILL)
            server.wait()
    return server.returncode or 0


def stop_group(server: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(server.pid, sig)
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {SUPERVISOR_MODULE}", description=__doc__)
    parser.add_argument("--key-prefix", required=True)
    parser.add_argument("--idle-timeout", type=float, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    prefix = Path(args.key_prefix)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    files = ServerFiles(prefix.parent, prefix.name)
    # Before the server starts: the launcher waits (holding the lock) for this record.
    write_state(files, token=args.token, port=args.port, model=args.model, command=command)
    return supervise(files, command, args.idle_timeout)


if __name__ == "__main__":
    sys.exit(main())
