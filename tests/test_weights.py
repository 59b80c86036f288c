"""SGLang weights fetched before the GPUs wait: the weights job against a hub cache laid out by hand
(offline: nothing here reaches the hub), the plan-time check of gated models, the paper grid's plan, and
the server's command and environment that read only that cache."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from hub_cache import COMMIT, lay_out, offline
from slmbench.config import cell_slice, validate_config
from slmbench.engines import EngineError, make_engine
from slmbench.engines.hub import OFFLINE_ENV, fetch, read_record, record_path, require_tokens, weights_slice

REPO_ID = "org/tiny-instruct"
MODEL = {
    "engine": "sglang",
    "context_length": 2048,
    "sglang": {"model_path": REPO_ID},
}


def config_with(tmp_path, revision=None, gated=False, mem=0.85):
    sglang = {"model_path": REPO_ID, "revision": revision, "gated": gated, "mem_fraction_static": mem}
    return {
        "models_dir": str(tmp_path / "models"),
        "hub_cache": str(tmp_path / "hub"),
        "models": {"tiny": {**MODEL, "sglang": sglang}},
        "paradigms": {"base": {"kind": "base"}},
        "datasets": {"fpb": {}},
    }


def fetched(tmp_path, monkeypatch, revision=None) -> dict:
    """The weights job's work for the model `tiny`, from the laid-out cache."""
    offline(monkeypatch)
    config = validate_config(config_with(tmp_path, revision))
    lay_out(tmp_path / "hub", REPO_ID)
    record = record_path(config["models_dir"], "tiny")
    with open(os.devnull, "w") as log:
        fetch("tiny", weights_slice(config["models"]["tiny"]), config["hub_cache"], record, log)
    return config


# --- the job ----------------------------------------------------------------------------

@pytest.mark.parametrize("revision", [None, "main", COMMIT])
def test_the_job_records_the_commit_and_snapshot_a_revision_resolves_to(tmp_path, monkeypatch, revision):
    config = fetched(tmp_path, monkeypatch, revision)
    record = json.loads(Path(record_path(config["models_dir"], "tiny")).read_text())
    snapshot = tmp_path / "hub" / "models--org--tiny-instruct" / "snapshots" / COMMIT
    assert record == {"hub_id": REPO_ID, "revision": revision, "commit": COMMIT, "snapshot": str(snapshot)}
    assert read_record("tiny", config["models"]["tiny"], config["models_dir"]) == record


def test_a_revision_missing_from_the_cache_offline_fails_naming_the_model(tmp_path, monkeypatch):
    offline(monkeypatch)
    lay_out(tmp_path / "hub", REPO_ID)
    with pytest.raises(EngineError, match=r"models\.tiny: org/tiny-instruct at v2 is not in .* where the internet is"):
        fetch("tiny", {"hub_id": REPO_ID, "revision": "v2"}, str(tmp_path / "hub"), str(tmp_path / "r.json"), sys.stderr)
    assert not (tmp_path / "r.json").exists()


def test_a_repository_without_safetensors_is_refused(tmp_path, monkeypatch):
    offline(monkeypatch)
    lay_out(tmp_path / "hub", REPO_ID, files={"config.json": b"{}", "pytorch_model.bin": b"w"})
    with pytest.raises(EngineError, match=r"models\.tiny: .* no \*\.safetensors"):
        fetch("tiny", {"hub_id": REPO_ID, "revision": None}, str(tmp_path / "hub"), str(tmp_path / "r.json"), sys.stderr)


# --- the engine: offline, from the snapshot ---------------------------------------------

def sglang_engine(tmp_path, config):
    server = {"ready_timeout_s": 5, "idle_timeout_s": 0, "state_dir": str(tmp_path / "servers"), "max_restarts": 0}
    return make_engine("tiny", config["models"]["tiny"], models_dir=Path(config["models_dir"]), server=server)


def test_the_server_starts_offline_from_the_cached_snapshot(tmp_path, monkeypatch):
    config = fetched(tmp_path, monkeypatch)
    made = sglang_engine(tmp_path, config)
    command = made.launch_command(1234, "tiny")
    model_path = Path(command[command.index("--model-path") + 1])
    assert model_path == tmp_path / "hub" / "models--org--tiny-instruct" / "snapshots" / COMMIT
    assert (model_path / "config.json").is_file() and "--revision" not in command
    assert made.server_env()["HF_HUB_OFFLINE"] == "1" and OFFLINE_ENV.items() <= made.server_env().items()
    fingerprint = made.fingerprint()
    assert (fingerprint["hub_id"], fingerprint["commit"]) == (REPO_ID, COMMIT)


def test_the_server_process_gets_the_offline_environment(tmp_path, monkeypatch):
    """Through the real supervisor: the started process sees HF_HUB_OFFLINE=1 (then exits, as a
    server that cannot load would)."""
    config = fetched(tmp_path, monkeypatch)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    seen = tmp_path / "env.json"
    made = sglang_engine(tmp_path, config)
    made.server_module = "json"  # installed everywhere: open() checks only that the module exists
    script = f"import json, os; open({str(seen)!r}, 'w').write(json.dumps(dict(os.environ)))"
    made.launch_command = lambda port, served: [sys.executable, "-c", script]
    with pytest.raises(EngineError, match="exited before it was ready"):
        made.open()
    env = json.loads(seen.read_text())
    assert {key: env.get(key) for key in OFFLINE_ENV} == OFFLINE_ENV


def test_a_missing_or_stale_record_fails_saying_what_to_run(tmp_path, monkeypatch):
    config = validate_config(config_with(tmp_path))
    with pytest.raises(EngineError, match=r"models\.tiny: no readable weights record .*tiny\.hub\.json.*forcerun weights"):
        sglang_engine(tmp_path, config).launch_command(1, "tiny")
    fetched(tmp_path, monkeypatch)
    moved = validate_config(config_with(tmp_path, revision="v2"))
    with pytest.raises(EngineError, match=r"record .* is for org/tiny-instruct at None, the config asks for .* at v2.*forcerun weights"):
        sglang_engine(tmp_path, moved).fingerprint()


# --- plan time: gated repositories --------------------------------------------------------

def no_token(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_TOKEN_PATH", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no saved login there
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))


def test_a_gated_model_without_a_token_is_refused_unless_already_fetched(tmp_path, monkeypatch):
    no_token(monkeypatch, tmp_path)
    gated = validate_config(config_with(tmp_path, gated=True))
    with pytest.raises(EngineError, match=r"gated .*: tiny \(org/tiny-instruct\); set HF_TOKEN \(or run `huggingface-cli login`\)"):
        require_tokens(gated)
    require_tokens(validate_config(config_with(tmp_path)))  # not gated: no token needed
    fetched(tmp_path, monkeypatch)
    require_tokens(gated)  # complete in the cache: nothing to fetch
    monkeypatch.setenv("HF_TOKEN", "hf_placeholder")
    require_tokens(validate_config(config_with(tmp_path / "elsewhere", gated=True)))


# --- the workflow -------------------------------------------------------------------------

def snakemake(workdir: Path, config: dict | None, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    extra = []
    if config is not None:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        extra = ["--configfile", str(workdir / "config.yaml")]
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "1", *args, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def planned_jobs(result) -> list[str]:
    return [line.split("rule ", 1)[1].rstrip(":") for line in result.stdout.splitlines() if line.startswith("rule ")]


def test_the_weights_job_runs_once_and_reruns_only_for_its_model_settings(tmp_path):
    lay_out(tmp_path / "hub", REPO_ID)
    config = config_with(tmp_path)
    record = record_path(config["models_dir"], "tiny")
    done = snakemake(tmp_path, config, record)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(Path(record).read_text())["commit"] == COMMIT
    assert planned_jobs(snakemake(tmp_path, config, "-n", record)) == []  # a second run asks nothing
    assert planned_jobs(snakemake(tmp_path, config_with(tmp_path, mem=0.5), "-n", record)) == []
    assert planned_jobs(snakemake(tmp_path, config_with(tmp_path, revision=COMMIT), "-n", record)) == ["weights"]


def test_a_gated_model_without_a_token_stops_the_plan_naming_it(tmp_path):
    lay_out(tmp_path / "hub", REPO_ID)
    config = config_with(tmp_path, gated=True)
    home = {"HF_HOME": str(tmp_path / "hf-home"), "HF_TOKEN": ""}
    refused = snakemake(tmp_path, config, "-n", env=home)
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert "without a token: tiny (org/tiny-instruct); set HF_TOKEN" in said and "huggingface-cli login" in said
    planned = snakemake(tmp_path, config, "-n", env={**home, "HF_TOKEN": "hf_placeholder"})
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert "weights" in planned_jobs(planned)


def test_the_paper_grid_plans_one_weights_job_per_model_before_its_generation(tmp_path):
    result = snakemake(tmp_path, None, "-n", "--configfile", str(REPO / "configs" / "paper.yaml"), env={"HF_TOKEN": "hf_placeholder"})
    assert result.returncode == 0, result.stderr[-3000:]
    paper = yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())
    jobs = planned_jobs(result)
    assert jobs.count("weights") == len(paper["models"]) == 24
    generate_jobs = result.stdout.split("rule generate:")[1:]
    assert len(generate_jobs) == len(paper["models"]) * len(paper["paradigms"]) * len(paper["datasets"])
    for job in generate_jobs:
        inputs = {p.strip() for p in job.split("input:", 1)[1].split("\n", 1)[0].split(",")}
        model = job.split("wildcards: model=", 1)[1].split(",", 1)[0]
        assert record_path("resources/models", model) in inputs, job


def test_marking_a_model_gated_reruns_none_of_its_cells(tmp_path):
    plain, gated = (validate_config(config_with(tmp_path, gated=g)) for g in (False, True))
    assert cell_slice(plain, "tiny", "base", "fpb") == cell_slice(gated, "tiny", "base", "fpb")
    assert cell_slice(validate_config(config_with(tmp_path, revision=COMMIT)), "tiny", "base", "fpb") != cell_slice(plain, "tiny", "base", "fpb")
