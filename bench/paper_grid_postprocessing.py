"""Times everything after generation for the paper's whole grid, on synthetic generations.

Writes the paper grid (configs/paper.yaml: 24 models x 3 paradigms x 20 datasets = 1,440 cells) of
50 samples each into a work folder, as if every GPU cell had finished: real FinBen rows (the offline
subsets; the five datasets it lacks are stood in for by rows of a dataset of the same task type),
answers that are right about half the time, and for the agent paradigms traces of 2-6 model calls
with growing histories and some tool calls, about the size of the demo's. Then it times the
workflow's run over them (score with its trace pages, then the results job's tables and figures:
`snakemake --cores N`, which finds every generation up to date) and `snakemake --report`, in the
environment `make install` gives (bench/environments.py), and prints the total next to the target
(< 5 minutes on 2 cores).

    .venv/bin/python bench/paper_grid_postprocessing.py [--cores 2] [--workdir DIR] [--finben DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

from environments import install_python
from timing import timed_run

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slmbench import registry  # noqa: E402
from slmbench.config import grid, validate_config  # noqa: E402
from slmbench.data import read_dataset, sample_records, write_jsonl  # noqa: E402
from slmbench.engines.hub import fetch, hub_id, record_path, weights_slice  # noqa: E402

FINBEN = Path("/work/shared/data/finben")
# Datasets of the paper without an offline subset: rows of one with the same task type and labels.
STAND_INS = {"convfinqa": "finqa", "acl18": "bigdata22", "polish": "travelinsurance", "taiwan": "travelinsurance", "edtsum": "ectsum"}
TARGET_S = 300


def mirror(folder: Path, finben: Path, datasets: list[str]) -> None:
    """One `<dataset>.jsonl` per dataset of the grid: the offline subset, or its stand-in's rows."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in datasets:
        source = finben / f"{STAND_INS.get(name, name)}.jsonl"
        rows = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
        spec = registry.get(name)
        for row in rows:
            if spec.choices:  # the stand-in's labels, in this dataset's order
                row["choices"] = list(spec.choices)
                row["gold_index"] = [c.lower() for c in spec.choices].index(str(row["gold"]).lower())
                row["gold"] = spec.choices[row["gold_index"]]
            if spec.task_type == "abstractive_summarization":
                row.pop("label", None)
                row["gold"] = row.get("reference_summary") or row["text"][:400]
        write_jsonl(folder / f"{name}.jsonl", rows)


def answer(spec, sample: dict, rng: random.Random) -> str:
    """Model output that is right about half the time, in the shape the task's extraction reads."""
    right = rng.random() < 0.5
    task, gold = spec.task_type, sample["gold"]
    if task == "classification":
        return gold if right else rng.choice(spec.choices)
    if task == "regression":
        return f"{float(gold) if right else rng.uniform(-1, 1):.3f}"
    if task == "ner":
        pairs = gold if right else gold[: len(gold) // 2]
        return "\n".join(f"{e}, {t}" for e, t in pairs) or "none"
    if task == "qa":
        return str(gold) if right else f"{rng.uniform(0, 100):.2f}"
    if task == "extractive_summarization":
        labels = str(gold).split("\n")
        return "\n".join(x if right or rng.random() < 0.8 else str(1 - int(x)) for x in labels)
    return str(gold)[:300] if right else sample["text"][:300]


def record(model: str, paradigm: str, kind: str, spec, sample: dict, rng: random.Random) -> dict:
    """One generation record, with a trace like the workflow's (see slmbench/trace.py)."""
    query = sample["query"]
    output = answer(spec, sample, rng)
    failed = kind != "base" and rng.random() < 0.3
    history = [{"role": "system", "content": "You are a financial analyst agent. " * 20}, {"role": "user", "content": query}]
    trace = []
    turns = 1 if kind == "base" else rng.randint(2, 6)
    agents = ["base"] if kind == "base" else (["agent"] if kind == "single_agent" else ["supervisor", "nlp", "quant", "knowledge"])
    for turn in range(turns):
        agent = agents[turn % len(agents)]
        reply = f"<think>{'Let me reason about the figures. ' * rng.randint(3, 12)}</think>" + (
            f"<final_answer>{output}</final_answer>" if turn == turns - 1 else '<action>{"tool": "calculator", "input": "1+1"}</action>')
        prompt_tokens = sum(len(m["content"]) for m in history) // 4
        trace.append({"type": "llm", "agent": agent, "messages": [dict(m) for m in history], "output": reply,
                      "prompt_tokens": prompt_tokens, "completion_tokens": len(reply) // 4, "latency_s": rng.uniform(0.2, 3),
                      "cache_hit": False, "finish_reason": "stop"})
        history.append({"role": "assistant", "content": reply})
        if turn < turns - 1:
            observation = "2" if rng.random() < 0.5 else "Search results: " + "A passage about finance. " * 20
            trace.append({"type": "tool", "agent": agent, "tool": "calculator", "input": "1+1", "output": observation,
                          "error": "", "duration_s": rng.uniform(0.001, 0.5)})
            history.append({"role": "user", "content": f"<observation>{observation}</observation>"})
    llm = [c for c in trace if c["type"] == "llm"]
    usage = {"prompt_tokens": sum(c["prompt_tokens"] for c in llm), "completion_tokens": sum(c["completion_tokens"] for c in llm)}
    return {
        "id": sample["id"], "model": model, "paradigm": paradigm, "dataset": spec.name, "messages": history[:2],
        "output": "" if failed else output, "answer": None, "gold": sample["gold"],
        "failure": "turn_limit" if failed else "", "error": "used every turn" if failed else "",
        "usage": {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]},
        "llm_calls": len(llm), "cache_hits": 0, "latency_s": sum(c["latency_s"] for c in llm), "trace": trace,
    }


META = {"energy_j": 1234.5, "energy_source": "nvml", "energy_note": "", "duration_s": 60.0,
        "hardware": {"host": "gpu-node", "cpu": "x86", "cpu_cores": 32, "cpu_cores_usable": 32, "gpus": ["NVIDIA H100"], "gpu_count": 1},
        "samples": 50, "requests_sent": 50, "cache_hits": 0, "server_metrics": None, "requests_resent": 0, "server_restarts": 0}


def snakemake(python: Path, workdir: Path, *args: str) -> float:
    cmd = [str(python), "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), *args]
    return timed_run(cmd, " ".join(cmd), env={**os.environ, "PYTHONPATH": str(ROOT)})[0]


def fetched_weights(workdir: Path, config: dict) -> None:
    """Each model's weights record, as if the weights job had fetched it (offline, from a stand-in hub
    cache holding only a config.json), written before the generations so that these stay up to date."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # read when huggingface_hub is imported, below
    for name, model in config["models"].items():
        repo = hub_id(model)
        snapshot = workdir / "hub" / ("models--" + repo.replace("/", "--")) / "snapshots" / ("0" * 40)
        snapshot.mkdir(parents=True, exist_ok=True)
        (snapshot / "config.json").write_text("{}")
        (snapshot / "model.safetensors").write_text("")
        (snapshot.parent.parent / "refs").mkdir(exist_ok=True)
        (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
        with open(os.devnull, "w") as log:
            fetch(name, weights_slice(model), config["hub_cache"], record_path(workdir / config["models_dir"], name), log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="default: a temporary folder, removed afterwards")
    parser.add_argument("--finben", type=Path, default=FINBEN, help="the offline FinBen subsets (<dataset>.jsonl)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="slmbench-paper-grid-"))
    environment = tempfile.TemporaryDirectory()
    python = install_python(Path(environment.name) / "venv")
    try:
        config = yaml.safe_load((ROOT / "configs/paper.yaml").read_text())
        config.update(data_mirror=str(workdir / "mirror"), cache_dir=str(workdir / "cache"), hub_cache=str(workdir / "hub"))
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        config = validate_config(config)
        mirror(workdir / "mirror", args.finben, list(config["datasets"]))
        setup = snakemake(python, workdir, "--cores", str(args.cores), *(f"resources/datasets/{d}.jsonl" for d in config["datasets"]), "resources/search_index")
        fetched_weights(workdir, config)
        print(f"set-up (downloads from the mirror, search index; not timed below): {setup:.1f} s")
        start = time.perf_counter()
        rng = random.Random(0)
        datasets = {d: sample_records(read_dataset(workdir / f"resources/datasets/{d}.jsonl"), config["n_samples"], config["seed"]) for d in config["datasets"]}
        for model, paradigm, dataset in grid(config):
            cell = workdir / "results/generations" / model / paradigm / dataset
            cell.parent.mkdir(parents=True, exist_ok=True)
            spec, kind = registry.get(dataset), config["paradigms"][paradigm]["kind"]
            write_jsonl(f"{cell}.jsonl", [record(model, paradigm, kind, spec, s, rng) for s in datasets[dataset]])
            Path(f"{cell}.meta.json").write_text(json.dumps(META))
        size = sum(p.stat().st_size for p in (workdir / "results/generations").rglob("*.jsonl"))
        print(f"wrote 1 x {len(datasets)} datasets, {sum(1 for _ in grid(config))} cells x {config['n_samples']} samples "
              f"({size / 1e6:.0f} MB of generations) in {time.perf_counter() - start:.1f} s (not timed below)")
        run = snakemake(python, workdir, "--cores", str(args.cores))
        report = snakemake(python, workdir, "--report", "results/report.html")
        total = run + report
        results_job = (workdir / "logs/results.log").read_text().rsplit("done in ", 1)[-1].split(";")[0]
        print(f"score + trace pages + results (snakemake --cores {args.cores}): {run:.1f} s, of which the results job {results_job}")
        print(f"report (snakemake --report): {report:.1f} s")
        print(f"paper-grid post-processing: {total:.1f} s = {total / 60:.1f} min (target: < {TARGET_S / 60:.0f} min on 2 cores) "
              f"{'OK' if total < TARGET_S else 'OVER'}")
    finally:
        environment.cleanup()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
