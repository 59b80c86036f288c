"""The one way the benches time a command: wall seconds, and the run stops with the command's output when it fails."""

from __future__ import annotations

import subprocess
import sys
import time


def timed_run(cmd: list[str], what: str, **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    """Seconds of `cmd` (run with captured text output) and its result; exits with `what` and the output's tail on failure."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, done
