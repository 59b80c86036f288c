"""The workflow's own `sglang` engine on a real SGLang server, on this CPU (no GPU).

The environment comes from .ci/sglang-cpu.sh (SGLang 0.5.23 + slmbench without the demo extra,
the no-op libcuda of tests/sglang_cpu/, SmolLM2-135M-Instruct as safetensors). It is found at
$SLMBENCH_SGLANG_ENV, else .venv-sglang in the repository; with SLMBENCH_START_SGLANG=1 the
script is run first (about 5 min). Otherwise the tests are skipped, with the reason.
"""

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import MIRROR, REPO

pytestmark = pytest.mark.slow

ENV = Path(os.environ.get("SLMBENCH_SGLANG_ENV") or REPO / ".venv-sglang")
MODEL = ENV / "models" / "smollm2-135m-instruct"
# What runs SGLang on a CPU (issue 17): no GPU driver, torch's own attention, a small memory pool.
CPU_ARGS = ["--device", "cpu", "--attention-backend", "torch_native", "--disable-overlap-schedule",
            "--max-total-tokens", "16384"]
PARADIGMS = {
    "base": {"kind": "base", "max_tokens": 12},
    "base_answer": {"kind": "base", "constrain": "answer", "max_tokens": 12},
    "single_agent": {"kind": "single_agent", "max_turns": 2, "max_tokens": 48},
    "multi_agent": {"kind": "multi_agent", "max_turns": 1, "max_delegations": 1, "max_tokens": 48},
    "agent_constrained": {"kind": "single_agent", "constrain": "answer", "max_turns": 2, "max_tokens": 192},
}


@pytest.fixture(scope="module")
def sglang_env():
    if os.environ.get("SLMBENCH_START_SGLANG") == "1" and not (MODEL / ".converted").exists():
        subprocess.run(["bash", str(REPO / ".ci/sglang-cpu.sh"), str(ENV)], check=True, timeout=3600)
    if not (ENV / ".installed").exists() or not (MODEL / ".converted").exists():
        pytest.skip(f"no SGLang CPU environment at {ENV} (build it with `bash .ci/sglang-cpu.sh {ENV}`, "
                    "or set SLMBENCH_START_SGLANG=1 or SLMBENCH_SGLANG_ENV)")
    return {**os.environ, "PYTHONPATH": str(REPO), "SGLANG_USE_CPU_ENGINE": "1",
            "LD_LIBRARY_PATH": f"{ENV / 'cuda-stub'}:{os.environ.get('LD_LIBRARY_PATH', '')}".rstrip(":"),
            "PATH": f"{ENV / 'bin'}:{os.environ['PATH']}"}


def smol(model_path: Path) -> dict:
    return {"engine": "sglang", "context_length": 2048, "sampling": {"temperature": 0.0, "max_tokens": 12},
            "sglang": {"model_path": str(model_path), "mem_fraction_static": 0.2, "extra_args": CPU_ARGS}}


def run_workflow(workdir: Path, env: dict, models: dict, paradigms: dict, n_samples=2, idle_timeout_s=30) -> str:
    config = {"n_samples": n_samples, "data_mirror": str(MIRROR), "cache_dir": str(workdir / "cache"),
              "server": {"idle_timeout_s": idle_timeout_s, "state_dir": str(workdir / "servers"), "ready_timeout_s": 600},
              "analysis": {"n_boot": 100, "n_permutations": 100},
              "models": models, "paradigms": paradigms, "datasets": {"fpb": {}}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [str(ENV / "bin/snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=1500)
    out = result.stdout + result.stderr
    if result.returncode:
        pytest.fail(f"the workflow failed:\n{out[-6000:]}")
    return out


def records(workdir: Path, model: str, paradigm: str) -> list[dict]:
    path = workdir / f"results/generations/{model}/{paradigm}/fpb.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def in_env(env: dict, code: str) -> str:
    """Run Python code in the SGLang environment (slmbench from this repository)."""
    return subprocess.run([str(ENV / "bin/python"), "-c", code], capture_output=True, text=True, env=env,
                          check=True, timeout=120).stdout


def test_the_sglang_environment_holds_together(sglang_env):
    """envs/sglang.yaml's environment: pip check clean, SGLang's own openai, no demo engine."""
    check = subprocess.run([str(ENV / "bin/python"), "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    found = json.loads(in_env(sglang_env, "import importlib.util, importlib.metadata as m, json; print(json.dumps("
                                          "[m.version('openai'), importlib.util.find_spec('llama_cpp') is None]))"))
    assert found == ["2.8.0", True]
    # ... where the demo's llama.cpp model says what to install instead of failing on an import.
    said = in_env(sglang_env, """
import sys, yaml
from pathlib import Path
from slmbench.config import DEFAULT_CONFIG, validate_config
from slmbench.engines import EngineError
from slmbench.engines.llamacpp import LlamaCppEngine
config = validate_config(yaml.safe_load(DEFAULT_CONFIG.read_text()))
name, model = next((n, m) for n, m in config["models"].items() if m["engine"] == "llamacpp")
engine = LlamaCppEngine(name, model, models_dir=Path("unused"), ready_timeout_s=1, idle_timeout_s=0, state_dir=Path("unused"), log=sys.stderr)
for step in (engine.open, engine.fingerprint):
    try:
        step()
    except EngineError as e:
        print(e)
""")
    assert said.count(".[demo]") == 2, said


def test_every_paradigm_free_and_constrained_runs_on_a_real_sglang_server(sglang_env, tmp_path):
    out = run_workflow(tmp_path, sglang_env, {"smol": smol(MODEL)}, PARADIGMS)
    for paradigm in PARADIGMS:
        cell = records(tmp_path, "smol", paradigm)
        assert len(cell) == 2
        for r in cell:  # the model answered every call (what it answered, or failed to, is its behaviour)
            assert r["usage"]["completion_tokens"] > 0 and r["trace"], (paradigm, r)
    assert all(r["output"].strip() for r in records(tmp_path, "smol", "base")), records(tmp_path, "smol", "base")
    for r in records(tmp_path, "smol", "base_answer"):  # the grammar held: one label of FPB's set
        assert r["output"].strip().lower() in {"positive", "negative", "neutral"}, r["output"]
    # Per-cell server statistics were read from /metrics.
    for paradigm in PARADIGMS:
        meta = json.loads((tmp_path / f"results/generations/smol/{paradigm}/fpb.meta.json").read_text())
        assert meta["server_metrics"] and meta["server_restarts"] == 0, meta
    assert "[engine] starting the smol server" in out or any(
        "[engine] starting the smol server" in p.read_text() for p in (tmp_path / "logs").rglob("*.log"))
    assert (tmp_path / "results/tables/cells.csv").exists()
    # Every base reply is in the cache under the sglang fingerprint (engine, weights, sglang version, flags).
    cached = json.loads(in_env(sglang_env, f"""
import json, yaml
from pathlib import Path
from slmbench.cache import RequestCache, request_key
from slmbench.config import cell_slice, validate_config
from slmbench.engines import make_engine
from slmbench.generate import cell_sampling
config = validate_config(yaml.safe_load(Path({str(tmp_path / 'config.yaml')!r}).read_text()))
engine = make_engine("smol", config["models"]["smol"], models_dir=Path(config["models_dir"]), server=config["server"])
fp = engine.fingerprint()
sampling = cell_sampling(cell_slice(config, "smol", "base", "fpb"))
cache = RequestCache(config["cache_dir"])
rows = [json.loads(l) for l in Path({str(tmp_path / 'results/generations/smol/base/fpb.jsonl')!r}).read_text().splitlines()]
hits = [(cache.get(request_key(fp, r["messages"], sampling)) or {{}}).get("output") == r["output"] for r in rows]
print(json.dumps({{"fingerprint": fp, "hits": hits}}))
"""))
    assert cached["fingerprint"]["engine"] == "sglang" and cached["fingerprint"]["sglang"] == "0.5.23"
    assert cached["hits"] == [True, True]


def chat(port: int, body: dict) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as reply:
        return json.load(reply)["choices"][0]["message"]["content"]


def test_a_base_cell_is_plain_greedy_even_where_generation_config_sets_a_repetition_penalty(sglang_env, tmp_path):
    """A copy of the model whose generation_config.json asks for a repetition penalty and truncation:
    the workflow's base cell must still give exactly the plain greedy outputs (temperature 0, nothing added)."""
    copy = tmp_path / "smol-penalised"
    copy.mkdir()
    for f in MODEL.iterdir():
        if f.is_file() and not f.name.startswith("."):
            try:
                os.link(f, copy / f.name)
            except OSError:
                (copy / f.name).write_bytes(f.read_bytes())
    generation = json.loads((MODEL / "generation_config.json").read_text())
    (copy / "generation_config.json").unlink()
    (copy / "generation_config.json").write_text(json.dumps(
        {**generation, "repetition_penalty": 1.3, "top_k": 5, "min_p": 0.2, "top_p": 0.8}))
    model = smol(copy)
    model["sampling"]["max_tokens"] = 32
    work = tmp_path / "run"
    work.mkdir()
    try:
        run_workflow(work, sglang_env, {"smol": model}, {"base": {"kind": "base"}}, n_samples=4, idle_timeout_s=900)
        # The same server (idle_timeout_s keeps it), asked directly with every parameter stated.
        state = json.loads(next((work / "servers").glob("*.json")).read_text())
        port = state["port"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=30) as reply:
            served = json.load(reply)["data"][0]["id"]
        cell = records(work, "smol", "base")

        def direct(r, penalty):
            return chat(port, {"model": served, "messages": r["messages"], "temperature": 0.0, "top_p": 1.0,
                               "max_tokens": 32, "seed": 0, "repetition_penalty": penalty, "top_k": -1,
                               "min_p": 0.0, "frequency_penalty": 0.0, "presence_penalty": 0.0})

        greedy = [direct(r, 1.0) for r in cell]
        penalised = [direct(r, 1.3) for r in cell]
    finally:
        for path in (work / "servers").glob("*.json"):  # the supervisor this test's workflow started
            try:
                os.kill(json.loads(path.read_text())["supervisor_pid"], 15)
            except (OSError, ValueError, KeyError):
                pass
    if greedy == penalised:
        pytest.fail("a repetition penalty of 1.3 changes nothing on these samples: the test would prove nothing")
    outputs = [r["output"] for r in cell]
    assert outputs == greedy, f"the workflow's base cell {outputs}\nplain greedy {greedy}\npenalised {penalised}"
