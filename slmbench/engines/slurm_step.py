"""Run a shared server's supervisor as its own SLURM job step, so that it outlives the cell that started it.

Inside a SLURM allocation every cell (one `generate` job of a group job) runs in its own job
step, and with ``ProctrackType=proctrack/cgroup`` (what GPU sites use) slurmstepd SIGKILLs every
process of a step when the step ends, `setsid` or not. A supervisor started as a plain child of
the first cell dies with that cell, and every later cell of the model loads the model again.
Started as a job step of its own (``srun --overlap``), it is not in the cell's cgroup.

But the `srun` client that launches the step lives in the cell's step, and srun forks a
"shepherd" child whose only job is to kill the step (``slurm_kill_job_step(SIGKILL)``) when srun
dies abnormally. When the cell ends, slurmstepd SIGKILLs srun and then the shepherd, a few
milliseconds apart; when the shepherd reads the EOF in between, the server step dies too
(measured: 2 of 4 workflow runs on Slurm 22.05 with proctrack/cgroup). So the client runs under
a small wrapper (``python -m slmbench.engines.slurm_step -- srun ...``, this module's `main`)
that stops (SIGSTOP) the shepherd as soon as it exists: a stopped shepherd is killed by
slurmstepd without acting, and the server step runs on until its supervisor exits (idle
timeout) or the allocation ends. If srun ends normally, the wrapper resumes the shepherd first;
SIGTERM/SIGINT to the wrapper go to srun, which then cancels the step as usual.

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
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

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

    Outside SLURM: `command` itself. Inside an allocation: `python -m slmbench.engines.slurm_step --
    env -u ... srun ... sh -c ... command` (see the module docstring); the supervisor's pid is the pid
    of that `sh` (it execs), so the supervisor records its own pid.
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
    return [sys.executable, "-m", "slmbench.engines.slurm_step", "--", "env", *unset, *srun, *redirect, *command]


def _forks(pid: int) -> list[int]:
    """The children of `pid` that are forks of it (same command name): srun's shepherd."""
    def stat(p: Path) -> tuple[str, list[str]]:
        text = p.read_text()
        return text[text.index("(") + 1:text.rindex(")")], text.rsplit(")", 1)[1].split()

    try:
        name = stat(Path(f"/proc/{pid}/stat"))[0]
    except (OSError, ValueError):
        return []
    kids = []
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            kid_name, fields = stat(path)
        except (OSError, ValueError, IndexError):
            continue
        if fields[1] == str(pid) and kid_name == name:
            kids.append(int(path.parent.name))
    return kids


def run_detached_step(command: list[str], poll_s: float = 0.01) -> int:
    """Run `command` (env ... srun ...), stop srun's shepherd once it exists, and return srun's exit code."""
    srun = subprocess.Popen(command)  # `env` execs srun: the same pid
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _: srun.send_signal(signum))
    stopped: list[int] = []
    while srun.poll() is None:
        if not stopped:
            for kid in _forks(srun.pid):
                try:
                    os.kill(kid, signal.SIGSTOP)
                    stopped.append(kid)
                except ProcessLookupError:
                    pass
            if stopped:
                print(f"[slurm_step] stopped srun's shepherd (pid {', '.join(map(str, stopped))}): "
                      "the server step outlives this cell", file=sys.stderr, flush=True)
        try:
            srun.wait(timeout=poll_s if not stopped else None)
        except subprocess.TimeoutExpired:
            pass
    for kid in stopped:  # srun ended normally: let its shepherd read srun's "done" and exit
        try:
            os.kill(kid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    return srun.returncode


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m slmbench.engines.slurm_step -- COMMAND...", file=sys.stderr)
        return 2
    return run_detached_step(args)


# --- preflight: fail before the first sbatch instead of pending forever ---------------------------

PROFILE_HINT = (
    "Change the generation job's resources in your profile (profiles/slurm/config.yaml, the values "
    "marked ADAPT): set-resources.generate mem_mb, cpus_per_task (and set-threads.generate with it), "
    "gpu/gpu_model/gres, runtime, or group-components (a group job asks for the sum of its cells' "
    "runtimes), or pick another partition (SLMBENCH_SLURM_GPU_PARTITION)."
)


def slurm_minutes(value: str) -> float | None:
    """A SLURM time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, UNLIMITED) in minutes; None for none."""
    value = value.strip()
    if not value or value.upper() in {"UNLIMITED", "INFINITE", "NONE", "N/A"}:
        return None
    days, _, clock = value.rpartition("-")
    parts = [float(p) for p in clock.split(":")]
    if len(parts) == 1:  # MM, or D-HH
        minutes = parts[0] * 60 if days else parts[0]
    elif len(parts) == 2:  # MM:SS, or D-HH:MM
        minutes = parts[0] * 60 + parts[1] if days else parts[0] + parts[1] / 60
    else:
        minutes = parts[0] * 60 + parts[1] + parts[2] / 60
    return minutes + (float(days) * 1440 if days else 0)


def partition_limits(text: str) -> dict[str, str]:
    """The KEY=VALUE pairs of `scontrol show partition -o NAME`."""
    return dict(field.split("=", 1) for field in text.split() if "=" in field)


def limit_violations(limits: dict[str, str], *, runtime: float | None, mem_mb: float | None, cpus: int | None) -> list[str]:
    """What a job asks for beyond the partition's limits: with EnforcePartLimits=NO (Slurm's default)
    sbatch accepts such a job, and it pends forever (PartitionTimeLimit, MaxMemPerLimit, PartitionConfig)."""
    problems = []
    max_time = slurm_minutes(limits.get("MaxTime", ""))
    if runtime and max_time is not None and runtime > max_time:
        problems.append(f"runtime {runtime:.0f} min > the partition's MaxTime={limits['MaxTime']} ({max_time:.0f} min)")
    max_mem = limits.get("MaxMemPerNode", "UNLIMITED")
    if mem_mb and max_mem.isdigit() and mem_mb > int(max_mem):
        problems.append(f"mem_mb {mem_mb:.0f} > the partition's MaxMemPerNode={max_mem}")
    max_cpus = limits.get("MaxCPUsPerNode", "UNLIMITED")
    if cpus and max_cpus.isdigit() and cpus > int(max_cpus):
        problems.append(f"{cpus} CPUs > the partition's MaxCPUsPerNode={max_cpus}")
    if limits.get("State", "UP") not in {"UP"}:
        problems.append(f"the partition's State={limits['State']}")
    return problems


def _run(cmd: list[str] | str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


def apply_no_account(workflow) -> None:
    """Make `slurm-no-account: true` (profiles/slurm) do what it says on snakemake-executor-plugin-slurm 2.8.0.

    That version defines the setting but never reads it: a job without `slurm_account` makes it guess
    one with `sacct -nu USER -o Account%256 | tail -1`, run without a shell, so sacct fails on every
    cluster ("sacct: invalid option -- '1'") and three warnings are printed each run. With the setting
    on, the executor's cached fallback is set to "no -A" before the first submission, which is what
    the guess ends in anyway; sbatch then uses the user's default account. A job that names
    `slurm_account` is still validated by the plugin.
    """
    settings = getattr(workflow, "executor_settings", None)
    executor = getattr(getattr(workflow, "scheduler", None), "_executor", None)
    if getattr(settings, "no_account", False) and getattr(executor, "_fallback_account_arg", "") is None:
        executor._fallback_account_arg = ""


def preflight(workflow) -> None:
    """Check, before anything is submitted, that SLURM can ever run each distinct job request.

    For the run's SLURM jobs (group jobs as submitted: runtime summed over their cells) it runs the
    plugin's own sbatch command line with `--test-only` (which rejects what no node of the partition
    can hold: CPUs, memory, GPUs, an unknown partition) and compares runtime/memory/CPUs with the
    partition's limits (which `--test-only` accepts and the job then pends on forever). Raises
    WorkflowError naming what to change; does nothing unless the executor is `slurm`.
    """
    plugin = getattr(workflow, "executor_plugin", None)
    if plugin is None or getattr(plugin, "name", None) != "slurm":
        return
    apply_no_account(workflow)
    from shlex import quote

    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string
    from snakemake_interface_common.exceptions import WorkflowError

    dag = workflow.dag
    requests: dict[str, tuple[str, Any, str | None]] = {}
    for job in dag.needrun_jobs():
        if job.is_local:
            continue
        unit = dag.get_job_group(job) or job
        res = unit.resources
        partition = res.get("slurm_partition")
        params = {
            "run_uuid": "slmbench-preflight", "slurm_logfile": "/dev/null", "comment_str": "slmbench-preflight",
            "account": f" -A {quote(str(res.get('slurm_account')))}" if res.get("slurm_account") else "",
            "partition": f" -p {quote(str(partition))}" if partition else "",
            "workdir": str(workflow.workdir_init),
        }
        call = get_submit_command(unit, params, settings=workflow.executor_settings) + set_gres_string(unit)
        requests.setdefault(call, (unit.name if hasattr(unit, "name") else str(unit), res, partition))
    problems = []
    for call, (name, res, partition) in requests.items():
        flags = call.split(" --comment slmbench-preflight", 1)[-1].split(" -D ", 1)[0].strip()
        test = _run(f"{call} --test-only --wrap=true", shell=True)
        found = []
        if test.returncode != 0:
            found.append(f"sbatch --test-only: {(test.stderr or test.stdout).strip()}")
        unset = sorted({m for v in list(res) if isinstance(v, str) for m in re.findall(r"\$\{?(\w+)", v)})
        if unset:
            found.append("unset environment variable(s) in the profile: " + ", ".join(unset)
                         + " (export them before running snakemake)")
        if partition:
            shown = _run(["scontrol", "show", "partition", "-o", str(partition)])
            if shown.returncode == 0:
                cpus = res.get("cpus_per_task") or res.get("_cores")
                found += limit_violations(partition_limits(shown.stdout), runtime=res.get("runtime"),
                                          mem_mb=res.get("mem_mb"), cpus=cpus)
        if found:
            nodes = _run(["sinfo", "-h", "-N", "-o", "%N CPUs=%c RealMemory=%m Gres=%G"]
                         + (["-p", str(partition)] if partition else []))
            problems.append(
                f"the SLURM job {name} would never start: " + "; ".join(found)
                + f"\n  it asks: {flags}"
                + (f"\n  nodes of partition {partition}:\n    " + nodes.stdout.strip().replace("\n", "\n    ")
                   if nodes.returncode == 0 and nodes.stdout.strip() else "")
            )
    if problems:
        raise WorkflowError("SLURM preflight (slmbench): nothing was submitted.\n" + "\n".join(problems)
                            + "\n" + PROFILE_HINT)


if __name__ == "__main__":
    sys.exit(main())
