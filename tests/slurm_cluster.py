"""Detect, or start, the single-node SLURM test cluster of ``.ci/slurm-up.sh``.

Use from a test module or ``conftest.py``::

    from slurm_cluster import slurm_cluster  # noqa: F401  (registers the fixture)

    def test_something(slurm_cluster):
        slurm_cluster.profile   # profiles/slurm-local
        slurm_cluster.partition # e.g. "debug"

The fixture never starts anything unless asked to:

* a cluster that answers ``sinfo`` with a usable node is used as it is;
* otherwise, with ``SLMBENCH_START_SLURM=1`` on a root machine with ``apt-get``
  (or with SLURM already installed), ``.ci/slurm-up.sh`` is run, and the cluster
  is stopped again at the end of the session (unless ``SLMBENCH_KEEP_SLURM=1``);
* in every other case the test is skipped, with the reason.

``SLMBENCH_REQUIRE_SLURM=1`` turns those skips into failures (for CI jobs that
exist to run the SLURM tests and must not pass by skipping them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SLURM_UP = REPO / ".ci" / "slurm-up.sh"
SLURM_DOWN = REPO / ".ci" / "slurm-down.sh"
LOCAL_PROFILE = REPO / "profiles" / "slurm-local"

# sinfo node states in which a node accepts or runs jobs ("idle*" = not
# responding, "drain", "down", ... are not usable).
_USABLE_STATES = {"idle", "mixed", "allocated", "completing"}
# The plugin's squeue status checks need finished jobs to stay visible; with
# profiles/slurm-local (init 1 s) 3 s would do, but keep a safe margin.
_MIN_JOB_AGE_NEEDED = 120


@dataclass
class SlurmCluster:
    """What a test needs to know about the running test cluster."""

    partition: str
    nodes: list[str]
    min_job_age: int | None
    gpus: int
    proctrack: str
    started_here: bool
    profile: Path = LOCAL_PROFILE
    info: str = ""
    env: dict[str, str] = field(default_factory=dict)


def _run(cmd: list[str], timeout: float = 15) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _sinfo_nodes() -> tuple[list[tuple[str, str, str, str]], str]:
    """Rows (node, partition, state, gres) from sinfo, or ([], why-not)."""
    if shutil.which("sinfo") is None:
        return [], "SLURM is not installed (no `sinfo` on PATH)"
    if shutil.which("scontrol") is not None:
        # fast check first: sinfo retries for ~9 s when slurmctld is down,
        # `scontrol ping` answers at once
        try:
            ping = _run(["scontrol", "ping"], timeout=15)
        except subprocess.TimeoutExpired:
            return [], "`scontrol ping` timed out: slurmctld does not answer"
        if " is UP" not in ping.stdout:
            first = (ping.stdout or ping.stderr).strip().splitlines()
            return [], f"slurmctld is not running (`scontrol ping`: {first[0] if first else 'no answer'})"
    try:
        res = _run(["sinfo", "-h", "-N", "-o", "%N|%P|%T|%G"])
    except subprocess.TimeoutExpired:
        return [], "`sinfo` timed out: slurmctld does not answer"
    if res.returncode != 0:
        msg = (res.stderr or res.stdout).strip().splitlines()
        return [], f"`sinfo` failed: {msg[-1] if msg else f'exit {res.returncode}'}"
    rows = []
    for line in res.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4:
            rows.append(tuple(p.strip() for p in parts))
    if not rows:
        return [], "`sinfo` lists no nodes"
    return rows, ""


def slurm_config(name: str) -> str | None:
    """One value of `scontrol show config` (None if unknown)."""
    try:
        res = _run(["scontrol", "show", "config"])
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in res.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == name:
            return value.strip()
    return None


def min_job_age() -> int | None:
    """MinJobAge of the running slurmctld in seconds (None if unknown)."""
    value = slurm_config("MinJobAge") or ""
    digits = value.split()[0] if value else ""
    return int(digits) if digits.isdigit() else None


def slurm_available() -> tuple[bool, str]:
    """(True, description) when `sinfo` answers and a node can take jobs,
    else (False, reason)."""
    rows, why = _sinfo_nodes()
    if not rows:
        return False, why
    for tool in ("sbatch", "squeue", "scontrol"):
        if shutil.which(tool) is None:
            return False, f"`{tool}` is not on PATH"
    usable = [r for r in rows if r[2] in _USABLE_STATES]
    if not usable:
        states = ", ".join(f"{n}={s}" for n, _, s, _ in rows)
        return False, f"no SLURM node is idle or in use ({states})"
    node, partition, state, _ = usable[0]
    age = min_job_age()
    if age is not None and age < _MIN_JOB_AGE_NEEDED:
        return False, (
            f"MinJobAge={age}s on this cluster: finished jobs vanish from squeue "
            f"too fast for `--slurm-status-command squeue` (need >= {_MIN_JOB_AGE_NEEDED}s)"
        )
    return True, f"SLURM node {node} is {state} in partition {partition.rstrip('*')}"


def _cluster_info(started_here: bool) -> SlurmCluster:
    rows, _ = _sinfo_nodes()
    default = [r for r in rows if r[1].endswith("*")]
    partition = (default or rows)[0][1].rstrip("*")
    gpus = 0
    for _, _, _, gres in rows:
        for item in gres.split(","):
            # e.g. "gpu:1", "gpu:a100:4", "gpu:1(S:0)"
            bits = item.split("(")[0].split(":")
            if bits and bits[0] == "gpu" and bits[-1].isdigit():
                gpus += int(bits[-1])
    ok, info = slurm_available()
    return SlurmCluster(
        partition=partition,
        nodes=sorted({r[0] for r in rows}),
        min_job_age=min_job_age(),
        gpus=gpus,
        proctrack=slurm_config("ProctrackType") or "unknown",
        started_here=started_here,
        info=info,
        env={"SLMBENCH_SLURM_GPUS": "1"} if gpus else {},
    )


def skip_or_fail(reason: str):
    print(f"[slurm_cluster] {reason}", file=sys.stderr)
    if os.environ.get("SLMBENCH_REQUIRE_SLURM") == "1":
        pytest.fail(f"SLMBENCH_REQUIRE_SLURM=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _start_cluster() -> tuple[bool, str]:
    """Run .ci/slurm-up.sh; (started, message)."""
    if os.name != "posix" or os.geteuid() != 0:
        return False, "SLMBENCH_START_SLURM=1 but not running as root"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return False, "SLMBENCH_START_SLURM=1 but SLURM is not installed and there is no apt-get"
    if not SLURM_UP.exists():
        return False, f"{SLURM_UP} is missing"
    try:
        res = subprocess.run(
            ["bash", str(SLURM_UP)], capture_output=True, text=True, timeout=900
        )
    except subprocess.TimeoutExpired:
        return False, ".ci/slurm-up.sh did not finish within 900 s"
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-15:])
        return False, f".ci/slurm-up.sh failed (exit {res.returncode}):\n{tail}"
    return True, res.stdout.strip().splitlines()[-1] if res.stdout.strip() else "started"


@pytest.fixture(scope="session")
def slurm_cluster():
    """A usable SLURM cluster (see module docstring), else skip."""
    ok, why = slurm_available()
    if ok:
        yield _cluster_info(started_here=False)
        return
    if os.environ.get("SLMBENCH_START_SLURM") != "1":
        skip_or_fail(f"no SLURM cluster ({why}); set SLMBENCH_START_SLURM=1 "
                      "(as root, with apt) to start one via .ci/slurm-up.sh")
    started, msg = _start_cluster()
    if not started:
        skip_or_fail(f"no SLURM cluster ({why}) and could not start one: {msg}")
    ok, why = slurm_available()
    if not ok:
        skip_or_fail(f".ci/slurm-up.sh succeeded but the cluster is not usable: {why}")
    try:
        yield _cluster_info(started_here=True)
    finally:
        if os.environ.get("SLMBENCH_KEEP_SLURM") != "1":
            subprocess.run(["bash", str(SLURM_DOWN)], capture_output=True, timeout=120)
