"""Run a shared server's supervisor as its own SLURM job step, so that it outlives the cell that started it.

Inside a SLURM allocation every cell (one `generate` job of a group job) runs in its own job
step, and with ``ProctrackType=proctrack/cgroup`` (what GPU sites use) slurmstepd SIGKILLs every
process of a step when the step ends, `setsid` or not. A supervisor started as a plain child of
the first cell would die with that cell, and every later cell of the model would load the model
again. Started as a job step of its own, it is not in the cell's cgroup: the `srun` client that
launched it lives in the cell's step and is SIGKILLed with it, but the step it created runs on
until the supervisor exits (idle timeout) or the allocation ends (measured on Slurm 22.05 with
proctrack/cgroup + task/cgroup; README, "Run on a SLURM GPU cluster").

The step's flags, and why:

* ``--overlap``: shares the allocation's CPUs, memory and GPUs with the cell steps, so the server
  step neither waits for the running cell nor blocks the next one.
* No ``--gpus``/``--mem``/``--cpus-per-task``, and the cell step's SLURM_*/SRUN_*/SBATCH_* input
  variables removed: a step then gets all GPUs (GRES) of the job, all its memory, and the CPUs of
  the node (srun's defaults), not the single cell's share.
* ``--nodes=1 --ntasks=1 --nodelist=<this node>``: one supervisor, on the node whose state
  directory and 127.0.0.1 port the cells use.
* ``--input/--output/--error=none`` and the supervisor's stderr appended to the server log by the
  step itself: with a file name, srun writes the step's output through the srun client, and that
  client dies with the cell; output would stop there.

Outside an allocation (or with SLMBENCH_SLURM_STEP=0) the command is returned unchanged.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping

# Variables that name the allocation; every other SLURM_* variable in a cell describes the
# cell's own step and would be read by srun as a default for the new step.
_KEEP = {"SLURM_JOB_ID", "SLURM_JOBID", "SLURM_CLUSTER_NAME", "SLURM_CONF", "SLURM_SUBMIT_DIR", "SLURM_SUBMIT_HOST"}
STEP_NAME = "slmbench-server"


def in_allocation(env: Mapping[str, str] | None = None) -> bool:
    """True inside a SLURM job (SLURM_JOB_ID set) with `srun` on PATH, unless SLMBENCH_SLURM_STEP=0."""
    env = os.environ if env is None else env
    if env.get("SLMBENCH_SLURM_STEP", "1") == "0":
        return False
    return bool(env.get("SLURM_JOB_ID")) and shutil.which("srun", path=env.get("PATH")) is not None


def step_variables_to_drop(env: Mapping[str, str]) -> list[str]:
    """The cell step's variables that srun would otherwise take as the new step's options."""
    return sorted(k for k in env if (k.startswith("SLURM_") and k not in _KEEP) or k.startswith(("SRUN_", "SBATCH_")))


def as_job_step(command: list[str], log: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """The command that starts `command` (the supervisor) so that it survives the calling cell.

    Outside SLURM: `command` itself. Inside an allocation: `env -u ... srun ... sh -c ... command`;
    the supervisor's pid is the pid of that `sh` (it execs), so the supervisor records its own pid.
    """
    env = os.environ if env is None else env
    if not in_allocation(env):
        return list(command)
    unset = [arg for var in step_variables_to_drop(env) for arg in ("-u", var)]
    srun = [
        "srun", f"--jobid={env['SLURM_JOB_ID']}", "--overlap", "--nodes=1", "--ntasks=1",
        f"--job-name={STEP_NAME}", "--input=none", "--output=none", "--error=none",
    ]
    node = env.get("SLURMD_NODENAME")
    if node:
        srun.append(f"--nodelist={node}")
    # stdout to /dev/null and stderr to the log, as the supervisor gets them outside SLURM.
    redirect = ["/bin/sh", "-c", 'exec "$@" >/dev/null 2>>"$0"', str(log)]
    return ["env", *unset, *srun, *redirect, *command]
