"""The SGLang engine without a GPU: its command line, its fingerprint, readiness against real
local processes that stand in for the server, and the parsing of SGLang's /metrics."""

import copy
import hashlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest
import yaml

from slmbench.config import ROOT, ConfigError, grid, schema_defaults, validate_config
from slmbench.engines import EngineError, make_engine
from slmbench.engines import server_metrics
from slmbench.engines.server_files import ServerFiles, pid_alive
from slmbench.engines.sglang import SGLangEngine
from slmbench.engines.hub import fetch, hub_id, record_path, weights_slice
from slmbench.registry import DATASETS

from hub_cache import lay_out, offline

FIXTURE = Path(__file__).parent / "fixtures" / "sglang_metrics.txt"

QWEN = {
    "engine": "sglang",
    "context_length": 32768,
    "sampling": {**schema_defaults("sampling"), "max_tokens": 1024},
    "sglang": {"model_path": "Qwen/Qwen2.5-7B-Instruct", "tp_size": 1, "mem_fraction_static": 0.85},
}


def model_cfg(**sglang) -> dict:
    """A model entry as validate_config leaves it (schema defaults filled in)."""
    raw = copy.deepcopy(QWEN)
    raw["sglang"].update(sglang)
    config = {"models": {"qwen": raw}, "paradigms": {"base": {"kind": "base"}}, "datasets": {"fpb": {}}}
    return validate_config(config)["models"]["qwen"]


def commit_of(cfg) -> str:
    """A made-up commit per hub id and revision, as the hub would resolve them."""
    return hashlib.sha1(repr(sorted(weights_slice(cfg).items())).encode()).hexdigest()


def engine(tmp_path, cfg=None, name="qwen", cls=SGLangEngine, **kwargs) -> SGLangEngine:
    """The engine; a hub model's weights fetched first (the weights job, from a laid-out hub cache)."""
    cfg = cfg or model_cfg()
    models_dir = tmp_path / "models"
    if hub_id(cfg):
        lay_out(tmp_path / "hub", hub_id(cfg), commit_of(cfg), ref=cfg["sglang"]["revision"] or "main")
        with pytest.MonkeyPatch.context() as patch, open(os.devnull, "w") as log:
            offline(patch)
            fetch(name, weights_slice(cfg), str(tmp_path / "hub"), record_path(models_dir, name), log)
    kwargs = {"ready_timeout_s": 30, "idle_timeout_s": 0, "state_dir": tmp_path / "servers", "log": sys.stderr,
              "models_dir": models_dir, **kwargs}
    return cls(name, cfg, **kwargs)


def snapshot(tmp_path, cfg) -> str:
    return str(tmp_path / "hub" / ("models--" + hub_id(cfg).replace("/", "--")) / "snapshots" / commit_of(cfg))


def flag_value(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


# --- the command line -------------------------------------------------------------------

def test_the_launch_command_carries_every_setting(tmp_path):
    command = engine(tmp_path).launch_command(4321, "qwen")
    assert command[:3] == [sys.executable, "-m", "sglang.launch_server"]
    assert all(isinstance(part, str) for part in command)
    expected = {"--model-path": snapshot(tmp_path, model_cfg()), "--host": "127.0.0.1", "--port": "4321", "--tp-size": "1",
                "--mem-fraction-static": "0.85", "--context-length": "32768", "--random-seed": "0", "--served-model-name": "qwen"}
    assert {flag: flag_value(command, flag) for flag in expected} == expected
    assert "--enable-metrics" in command  # on by default: the per-cell server statistics need it
    # Nothing a request leaves unset comes from the model's generation_config.json (README, "Fidelity").
    assert flag_value(command, "--sampling-defaults") == "openai"
    for absent in ("--revision", "--reasoning-parser", "--tool-call-parser", "--dtype",
                   "--trust-remote-code", "--enable-deterministic-inference"):
        assert absent not in command


def test_optional_flags_appear_when_set(tmp_path):
    cfg = model_cfg(revision="abc123", reasoning_parser="qwen3", tool_call_parser="qwen25", dtype="bfloat16",
                    trust_remote_code=True, deterministic=True, enable_metrics=False,
                    served_model_name="Qwen2.5-7B", tp_size=2, random_seed=7, extra_args=["--chunked-prefill-size", "4096"])
    made = engine(tmp_path, cfg)
    command = made.launch_command(1, made.served_model())
    assert "--revision" not in command and flag_value(command, "--model-path") == snapshot(tmp_path, cfg)
    assert flag_value(command, "--reasoning-parser") == "qwen3"
    assert flag_value(command, "--tool-call-parser") == "qwen25"
    assert flag_value(command, "--dtype") == "bfloat16"
    assert flag_value(command, "--served-model-name") == "Qwen2.5-7B"
    assert flag_value(command, "--tp-size") == "2" and flag_value(command, "--random-seed") == "7"
    assert "--trust-remote-code" in command and "--enable-deterministic-inference" in command
    assert "--enable-metrics" not in command
    assert command[-2:] == ["--chunked-prefill-size", "4096"]
    assert engine(tmp_path, cfg).served_model() == "Qwen2.5-7B"


def test_a_local_folder_is_served_by_its_path(tmp_path):
    folder = tmp_path / "qwen-local"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    command = engine(tmp_path, model_cfg(model_path=str(folder), revision="ignored-for-local")).launch_command(1, "qwen")
    assert flag_value(command, "--model-path") == str(folder.resolve())
    assert "--revision" not in command


def test_make_engine_builds_the_sglang_engine(tmp_path):
    server = {"ready_timeout_s": 12, "idle_timeout_s": 3, "state_dir": str(tmp_path / "s"), "max_restarts": 1}
    made = make_engine("qwen", model_cfg(), models_dir=tmp_path / "models", server=server)
    assert isinstance(made, SGLangEngine) and made.ready_timeout_s == 12 and made.state_dir == tmp_path / "s"
    assert made.health_path == "/health_generate"


# --- the schema -------------------------------------------------------------------------

def test_the_schema_fills_sglang_defaults_and_names_mistakes():
    settings = model_cfg()["sglang"]
    assert settings["tp_size"] == 1 and settings["enable_metrics"] is True and settings["extra_args"] == []
    with pytest.raises(ConfigError, match=r"models\.qwen\.sglang.*'tp' was unexpected"):
        model_cfg(tp=2)
    config = {"models": {"qwen": {"engine": "sglang"}}, "paradigms": {"base": {"kind": "base"}}, "datasets": {"fpb": {}}}
    with pytest.raises(ConfigError, match=r"models\.qwen: 'sglang' is a required property"):
        validate_config(config)


def test_a_llamacpp_model_gets_no_sglang_settings():
    """No default for the sglang object itself: existing cells' params must not change."""
    demo = validate_config(yaml.safe_load((ROOT / "config.yaml").read_text()))
    assert all("sglang" not in m for m in demo["models"].values())


def test_the_paper_config_is_the_full_grid():
    # The 20 datasets of the paper's grid (ccfraud and travelinsurance are extra FinBen sets), less
    # ConvFinQA, whose dialogues FinBen fills turn by turn (README, "Fidelity").
    PAPER_DATASETS = tuple(n for n in DATASETS if n not in ("ccfraud", "travelinsurance") and not DATASETS[n].unsupported)
    config = validate_config(yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text()))
    # The paper's datasets, exactly, and every model under every paradigm on each of them.
    assert set(config["datasets"]) == set(PAPER_DATASETS)
    assert len(list(grid(config))) == len(config["models"]) * len(config["paradigms"]) * len(PAPER_DATASETS)
    assert {p["kind"] for p in config["paradigms"].values()} == {"base", "single_agent", "multi_agent"}
    assert {m["engine"] for m in config["models"].values()} == {"sglang"}
    assert len({m["family"] for m in config["models"].values()}) == 7
    assert config["models"]["qwen3-8b"]["sglang"]["reasoning_parser"] == "qwen3"


# --- the fingerprint --------------------------------------------------------------------

def fingerprint(tmp_path, **sglang):
    return engine(tmp_path, model_cfg(**sglang)).fingerprint()


def test_the_fingerprint_names_model_revision_engine_and_answer_flags(tmp_path):
    fp = fingerprint(tmp_path)
    assert fp["engine"] == "sglang" and fp["hub_id"] == "Qwen/Qwen2.5-7B-Instruct" and fp["commit"] == commit_of(model_cfg())
    assert "sglang" in fp  # the installed version, or "not installed"
    assert "--context-length" in fp["flags"]


@pytest.mark.parametrize("change", [
    {"revision": "0123abc"}, {"model_path": "Qwen/Qwen2.5-3B-Instruct"}, {"reasoning_parser": "qwen3"},
    {"tool_call_parser": "qwen25"}, {"deterministic": True}, {"tp_size": 2}, {"random_seed": 1},
    {"dtype": "float16"}, {"extra_args": ["--disable-radix-cache"]},
    {"trust_remote_code": True},
])
def test_what_can_change_answers_changes_the_fingerprint(tmp_path, change):
    assert fingerprint(tmp_path, **change) != fingerprint(tmp_path)


def test_the_models_own_generation_defaults_only_when_asked(tmp_path):
    raw = copy.deepcopy(QWEN)
    raw["sampling"]["model_defaults"] = True
    asked = validate_config({"models": {"qwen": raw}, "paradigms": {"base": {"kind": "base"}}, "datasets": {"fpb": {}}})
    made = engine(tmp_path, asked["models"]["qwen"])
    assert flag_value(made.launch_command(1, "qwen"), "--sampling-defaults") == "model"
    assert made.fingerprint() != fingerprint(tmp_path)
    # The request then states only what the paper states; the server fills the rest from the model.
    args, extra = made.sampling_fields.request(asked["models"]["qwen"]["sampling"])
    assert set(args) == {"temperature", "top_p", "max_tokens", "seed"} and extra == {}


@pytest.mark.parametrize("key, value", [("dtype", "bf16"), ("reasoning_parser", "qwen-3"), ("tool_call_parser", "qwen2.5")])
def test_a_misspelt_sglang_choice_fails_at_validation_naming_the_key(key, value):
    raw = copy.deepcopy(QWEN)
    raw["sglang"][key] = value
    with pytest.raises(ConfigError, match=rf"models\.qwen\.sglang\.{key}"):
        validate_config({"models": {"qwen": raw}, "paradigms": {"base": {"kind": "base"}}, "datasets": {"fpb": {}}})


def test_the_schemas_sglang_choices_are_sglangs_own():
    """Where SGLang's wheel is installed (make test installs it without its dependencies), its own lists decide."""
    from sglang_wheel import sglang_module

    names = sglang_module("sglang.srt.parser.reasoning_parser_names")
    tools = sglang_module("sglang.srt.function_call.parser_names")
    props = load_schema_props()
    assert set(props["reasoning_parser"]["enum"]) - {None} == {"auto", *names.REASONING_PARSER_NAMES}
    assert set(props["tool_call_parser"]["enum"]) - {None} == {"auto", *tools.TOOL_CALL_PARSER_NAMES}


def load_schema_props() -> dict:
    from slmbench.config import load_schema

    return load_schema()["$defs"]["model"]["properties"]["sglang"]["properties"]


@pytest.mark.parametrize("change", [
    {"mem_fraction_static": 0.5}, {"enable_metrics": False}, {"served_model_name": "other"},
])
def test_what_cannot_change_answers_keeps_the_fingerprint(tmp_path, change):
    assert fingerprint(tmp_path, **change) == fingerprint(tmp_path)


def test_the_port_and_context_length(tmp_path):
    base = engine(tmp_path)
    assert base.launch_command(1, "qwen")[1:] != base.launch_command(2, "qwen")[1:]  # the port is in the command...
    longer = model_cfg()
    longer["context_length"] = 8192
    assert engine(tmp_path, longer).fingerprint() != base.fingerprint()  # ...the context length in the fingerprint


def test_a_local_folder_is_named_by_content_not_place(tmp_path):
    def folder(where, weights=b"w" * 100):
        where.mkdir(parents=True)
        (where / "config.json").write_text("{}")
        (where / "model.safetensors").write_bytes(weights)
        (where / ".cache").mkdir()
        (where / ".cache" / "lock").write_text("ignored")
        return str(where)

    here, there, changed = folder(tmp_path / "a"), folder(tmp_path / "b"), folder(tmp_path / "c", b"x" * 100)
    fp = fingerprint(tmp_path, model_path=here)
    assert set(fp["weights_sha256"]) == {"config.json", "model.safetensors"} and "hub_id" not in fp
    assert fingerprint(tmp_path, model_path=there) == fp
    assert fingerprint(tmp_path, model_path=changed) != fp


# --- readiness, against real local processes --------------------------------------------

# A stand-in for launch_server: /v1/models answers at once (as SGLang's does during warm-up),
# /health_generate only after DELAY seconds, /metrics serves the recorded SGLang metrics.
FAKE_SERVER = r"""
import http.server, sys, time
port, delay, metrics = int(sys.argv[1]), float(sys.argv[2]), open(sys.argv[3], "rb").read()
models = ('{"object": "list", "data": [{"id": "%s"}]}' % sys.argv[4]).encode()
start = time.monotonic()
print("loading weights", flush=True)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ready = time.monotonic() - start >= delay
        code, body = {"/v1/models": (200, models), "/metrics": (200, metrics),
                      "/health_generate": (200 if ready else 503, b"")}.get(self.path, (404, b""))
        self.send_response(code)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


class FakeSGLang(SGLangEngine):
    """The real engine with only the server's command swapped for a local stand-in."""

    server_module = "http.server"
    script = FAKE_SERVER
    delay_s = 0.0

    def launch_command(self, port, served_model):
        return [sys.executable, "-c", self.script, str(port), str(self.delay_s), str(FIXTURE), served_model]


def wait_gone(pid, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
    return not pid_alive(pid)


def test_open_waits_for_health_generate_not_v1_models(tmp_path):
    class SlowWarmUp(FakeSGLang):
        delay_s = 2.0

    fake = engine(tmp_path, cls=SlowWarmUp)
    start = time.monotonic()
    endpoint = fake.open()
    try:
        assert time.monotonic() - start >= 2.0, "open() returned before /health_generate answered"
        assert endpoint.base_url.endswith("/v1") and endpoint.model.startswith("qwen-")
        supervisor = ServerFiles(fake.state_dir, fake.server_key()).read_state()["supervisor_pid"]
    finally:
        fake.close()
    assert wait_gone(supervisor), "the stand-in server outlived its only job"


def test_a_server_that_never_gets_ready_times_out_with_its_log(tmp_path):
    class NeverWarm(FakeSGLang):
        delay_s = 1e9

    fake = engine(tmp_path, cls=NeverWarm, ready_timeout_s=2)
    start = time.monotonic()
    with pytest.raises(EngineError, match=r"not ready within 2 s(.|\n)*loading weights"):
        fake.open()
    assert time.monotonic() - start < 15


def test_a_server_that_crashes_reports_its_log(tmp_path):
    class Crashes(FakeSGLang):
        script = "import sys; print('RuntimeError: CUDA error: no CUDA-capable device is detected', file=sys.stderr); sys.exit(1)"

    with pytest.raises(EngineError, match=r"exited before it was ready(.|\n)*no CUDA-capable device"):
        engine(tmp_path, cls=Crashes).open()


def test_without_sglang_installed_open_says_where_to_get_it(tmp_path):
    class Elsewhere(SGLangEngine):
        server_module = "sglang_not_installed_here.launch_server"  # the tests' environment may hold sglang's wheel

    with pytest.raises(EngineError, match=r"needs the 'sglang_not_installed_here' package(.|\n)*envs/sglang.yaml"):
        engine(tmp_path, cls=Elsewhere).open()


# --- /metrics ---------------------------------------------------------------------------

def test_metrics_parse_the_recorded_sglang_text():
    values = server_metrics.parse(FIXTURE.read_text())
    assert values["sglang:prompt_tokens_total"] == 128400.0
    assert values["sglang:generation_tokens_total"] == 23456.0
    assert values["sglang:cache_hit_rate"] == pytest.approx(0.6183, abs=1e-4)
    assert values["sglang:e2e_request_latency_seconds_count"] == 150.0
    assert values["python_gc_objects_collected_total"] == 12345.0 + 678.0  # summed over label sets
    assert not any(name.endswith("_bucket") for name in values)


def test_parse_skips_what_it_cannot_read():
    text = 'garbage line\nx_total{a="b c}",d="e"} 2\nx_total{a="f"} 3 1700000000000\ny NaN\nz +Inf\n'
    assert server_metrics.parse(text) == {"x_total": 5.0}


def test_a_cell_delta_gives_its_own_tokens_cache_hits_and_throughput():
    after = server_metrics.parse(FIXTURE.read_text())
    before = {**after, "sglang:prompt_tokens_total": 100000.0, "sglang:generation_tokens_total": 20000.0,
              "sglang:cached_tokens_total": 60000.0, "sglang:num_requests_total": 100.0,
              "sglang:e2e_request_latency_seconds_sum": 110.0, "sglang:e2e_request_latency_seconds_count": 100.0}
    delta = server_metrics.cell_delta(before, after, wall_s=10.0)
    assert delta["prompt_tokens"] == 28400 and delta["generation_tokens"] == 3456 and delta["requests"] == 50
    assert delta["prefix_cache_hit_rate"] == pytest.approx(21000 / 28400, abs=1e-4)
    assert delta["generation_tokens_per_s"] == pytest.approx(345.6)
    assert delta["mean_request_latency_s"] == pytest.approx(2.0)
    assert delta["server_gen_throughput"] == pytest.approx(412.736, abs=1e-3)
    assert delta["server_restarted"] is False


def test_a_restarted_server_counts_from_zero():
    after = server_metrics.parse(FIXTURE.read_text())
    before = {**after, "sglang:prompt_tokens_total": 1e9}
    delta = server_metrics.cell_delta(before, after)
    assert delta["prompt_tokens"] == 128400 and delta["server_restarted"] is True and delta["wall_s"] is None


def test_without_a_cached_token_counter_the_hit_rate_is_the_servers_gauge():
    after = server_metrics.parse(FIXTURE.read_text())
    del after["sglang:cached_tokens_total"]
    assert server_metrics.cell_delta({}, after)["prefix_cache_hit_rate"] == pytest.approx(0.6183, abs=1e-4)


def test_a_window_scrapes_a_live_server_around_a_cell(tmp_path):
    fake = engine(tmp_path, cls=FakeSGLang)
    window = server_metrics.Window(fake.open)
    try:
        window.open()
        stats = window.finish()
    finally:
        fake.close()
    assert stats["prompt_tokens"] == 0 and stats["requests"] == 0 and stats["wall_s"] >= 0  # nothing sent in between
    assert server_metrics.scrape("http://127.0.0.1:9/v1") is None  # nothing listens there


def test_a_window_that_never_opened_reports_nothing():
    assert server_metrics.Window(lambda: None).finish() is None


def test_each_engine_names_the_request_field_its_server_reads_a_grammar_from(tmp_path):
    """SGLang's OpenAI-compatible endpoint reads an EBNF grammar (xgrammar, GBNF syntax) from `ebnf`;
    llama.cpp's server from `grammar`; an openai endpoint only from the field its config names."""
    from slmbench.engines.llamacpp import LlamaCppEngine

    assert engine(tmp_path).grammar_field == "ebnf"
    assert LlamaCppEngine.grammar_field == "grammar"
    server = {"ready_timeout_s": 1, "idle_timeout_s": 0, "state_dir": None, "max_restarts": 0}
    hosted = {"engine": "openai", "endpoint": {"base_url": "http://localhost:9/v1", "model": "m", "server": "vllm"}}
    assert make_engine("hosted", hosted, models_dir=tmp_path, server=server).grammar_field is None
    hosted["endpoint"]["grammar_field"] = "guided_grammar"
    assert make_engine("hosted", hosted, models_dir=tmp_path, server=server).grammar_field == "guided_grammar"


def test_the_grammar_wait_is_sized_for_the_vocabulary(tmp_path):
    """SGLang gives up on a grammar after SGLANG_GRAMMAR_MAX_POLL_ITERATIONS polls of 5 ms (50 s by default),
    while xgrammar took up to 113 s for a 262k vocabulary on 2 busy cores."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"vocab_size": 49152}))
    small = engine(tmp_path, model_cfg(model_path=str(folder))).server_env()
    hub = engine(tmp_path).server_env()  # not known before the server starts: the grid's largest
    gemma = folder.parent / "gemma"
    gemma.mkdir()
    (gemma / "config.json").write_text(json.dumps({"text_config": {"vocab_size": 262144}}))
    polls = {name: int(env["SGLANG_GRAMMAR_MAX_POLL_ITERATIONS"]) * 0.005 for name, env in
             [("small", small), ("hub", hub), ("gemma", engine(tmp_path, model_cfg(model_path=str(gemma))).server_env())]}
    assert 30 <= polls["small"] < polls["hub"] == polls["gemma"] and polls["gemma"] >= 3 * 113
    # The config's own variables win, and count as changing answers; the computed wait does not.
    custom = model_cfg(env={"SGLANG_GRAMMAR_MAX_POLL_ITERATIONS": "7", "SGLANG_ENABLE_TORCH_COMPILE": "1"})
    assert engine(tmp_path, custom).server_env()["SGLANG_GRAMMAR_MAX_POLL_ITERATIONS"] == "7"
    assert fingerprint(tmp_path, env={"X": "1"}) != fingerprint(tmp_path)


def test_constrained_requests_turn_thinking_off_with_a_reasoning_parser(tmp_path):
    """Else SGLang would apply our grammar (which bounds its own <think>) only after the model's </think>."""
    assert engine(tmp_path, model_cfg(reasoning_parser="qwen3")).constrained_extras() == {
        "chat_template_kwargs": {"enable_thinking": False}}
    assert engine(tmp_path).constrained_extras() == {}


def test_a_model_that_always_thinks_is_refused_for_constrained_paradigms():
    raw = copy.deepcopy(QWEN)
    raw["sglang"]["reasoning_parser"] = "deepseek-r1"
    config = {"models": {"r1": raw}, "paradigms": {"grammar": {"kind": "base", "constrain": "answer"}}, "datasets": {"fpb": {}}}
    with pytest.raises(ConfigError, match=r"models\.r1\.sglang\.reasoning_parser: .*only after the model's own thinking"):
        validate_config(config)
    validate_config({**config, "paradigms": {"base": {"kind": "base"}}})  # unconstrained: fine
