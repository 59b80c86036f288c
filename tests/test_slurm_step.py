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
    assert cmd[1:5] == ["-m", "slmbench.engines.slurm_step", "--", "env"]  # srun runs under the shepherd-stopping wrapper
    srun = cmd.index("srun")
    # The cell step's own settings are not passed on as the new step's defaults; the job's id is.
    unset = {cmd[i + 1] for i in range(4, srun) if cmd[i] == "-u"}
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


def test_partition_limits_that_sbatch_accepts_but_a_job_pends_on_forever():
    from slmbench.engines.slurm_step import limit_violations, partition_limits, slurm_minutes

    assert slurm_minutes("UNLIMITED") is None
    assert slurm_minutes("01:00:00") == 60
    assert slurm_minutes("2-00:00:00") == 2880
    assert slurm_minutes("1-12") == 1440 + 12 * 60
    assert slurm_minutes("1-12:30") == 1440 + 12 * 60 + 30
    assert slurm_minutes("30") == 30
    assert slurm_minutes("30:30") == 30.5
    limits = partition_limits("PartitionName=gpu MaxTime=08:00:00 MaxMemPerNode=16000 MaxCPUsPerNode=8 State=UP")
    assert limit_violations(limits, runtime=960, mem_mb=32000, cpus=4) == [
        "runtime 960 min > the partition's MaxTime=08:00:00 (480 min)",
        "mem_mb 32000 > the partition's MaxMemPerNode=16000",
    ]
    assert limit_violations(limits, runtime=480, mem_mb=16000, cpus=8) == []
    unlimited = partition_limits("MaxTime=UNLIMITED MaxMemPerNode=UNLIMITED MaxCPUsPerNode=UNLIMITED State=UP")
    assert limit_violations(unlimited, runtime=10**6, mem_mb=10**7, cpus=512) == []


def test_the_wrapper_stops_sruns_shepherd_while_srun_runs_and_resumes_it_after(tmp_path):
    """srun forks a shepherd that kills the step when srun dies; stopped, it cannot (module docstring)."""
    import sys

    from slmbench.engines.slurm_step import run_detached_step

    fake = tmp_path / "srun"  # forks like srun; the "shepherd" records the states it sees itself in
    fake.write_text(f"""#!{sys.executable}
import os, sys, time
if os.fork() == 0:  # the shepherd: exits when srun is done
    time.sleep(3)
    os._exit(0)
time.sleep(1.0)
sys.exit(3)
""")
    fake.chmod(0o755)
    seen = []

    import threading

    def watch():
        from slmbench.engines.slurm_step import _forks
        for _ in range(40):
            for pid in _forks(srun_pid[0]) if srun_pid else []:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                seen.append(state)
            time.sleep(0.02)

    import time
    srun_pid = []
    real_popen = subprocess.Popen

    def popen(cmd, *a, **kw):
        p = real_popen(cmd, *a, **kw)
        srun_pid.append(p.pid)
        return p

    subprocess.Popen = popen
    try:
        t = threading.Thread(target=watch)
        t.start()
        assert run_detached_step([str(fake)]) == 3  # srun's exit code
        t.join()
    finally:
        subprocess.Popen = real_popen
    assert "T" in seen  # stopped while srun ran
