"""The command that starts a shared server's supervisor: unchanged outside SLURM, its own job step inside."""

import subprocess
from pathlib import Path

from slmbench.engines.slurm_step import STEP_NAME, as_job_step, in_allocation

SUPERVISOR = ["/venv/bin/python", "-m", "slmbench.engines.supervisor", "--key-prefix", "/tmp/s/smol-1", "--", "server"]


def fake_srun(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "srun").chmod(0o755)
    return str(bin_dir)


def test_outside_an_allocation_the_command_is_unchanged(tmp_path):
    env = {"PATH": fake_srun(tmp_path)}  # srun installed, but no SLURM_JOB_ID: a login node
    assert as_job_step(SUPERVISOR, tmp_path / "log", env) == SUPERVISOR
    assert not in_allocation({"SLURM_JOB_ID": "7", "PATH": str(tmp_path)})  # no srun on PATH
    assert not in_allocation({"SLURM_JOB_ID": "7", "PATH": fake_srun(tmp_path / "x"), "SLMBENCH_SLURM_STEP": "0"})


def test_inside_an_allocation_the_supervisor_is_its_own_overlapping_step_on_this_node(tmp_path):
    env = {"PATH": fake_srun(tmp_path), "SLURM_JOB_ID": "42", "SLURM_JOBID": "42", "SLURMD_NODENAME": "gpu07",
           "SLURM_STEP_ID": "3", "SLURM_CPUS_PER_TASK": "4", "SLURM_GPUS": "1", "SLURM_MEM_PER_NODE": "32000",
           "SRUN_CPUS_PER_TASK": "4", "SBATCH_PARTITION": "gpu", "CUDA_VISIBLE_DEVICES": "0", "HF_HOME": "/shared/hf"}
    log = tmp_path / "smol-1.log"
    cmd = as_job_step(SUPERVISOR, log, env)
    assert cmd[-len(SUPERVISOR):] == SUPERVISOR
    srun = cmd.index("srun")
    # The cell step's own settings are not passed on as the new step's defaults; the job's id is.
    unset = {cmd[i + 1] for i in range(srun) if cmd[i] == "-u"}
    assert unset == {"SLURM_STEP_ID", "SLURM_CPUS_PER_TASK", "SLURM_GPUS", "SLURM_MEM_PER_NODE",
                     "SRUN_CPUS_PER_TASK", "SBATCH_PARTITION"}
    flags = cmd[srun + 1:cmd.index("/bin/sh")]
    assert flags == ["--jobid=42", "--overlap", "--nodes=1", "--ntasks=1", f"--job-name={STEP_NAME}",
                     "--input=none", "--output=none", "--error=none", "--nodelist=gpu07"]
    assert not any(f.startswith(("--gpus", "--gres", "--mem", "--cpus")) for f in flags)  # the job's defaults


def test_the_step_wrapper_runs_the_supervisor_with_stderr_appended_to_the_log(tmp_path):
    env = {"PATH": fake_srun(tmp_path), "SLURM_JOB_ID": "42"}
    log = tmp_path / "it's a log.log"
    log.write_text("before\n")
    cmd = as_job_step(["sh", "-c", "echo out; echo err >&2"], log, env)
    shell = cmd[cmd.index("/bin/sh"):]  # what srun runs in the new step
    subprocess.run(shell, check=True)
    assert Path(log).read_text() == "before\nerr\n"
