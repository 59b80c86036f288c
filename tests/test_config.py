import copy
import re

import pytest
import yaml

from conftest import REPO
from slmbench import registry
from slmbench.config import DEFAULT_CONFIG, NAME_PATTERN, WILDCARD_NAME, ConfigError, cell_slice, grid, merge, validate_config


@pytest.fixture
def raw():
    return yaml.safe_load(DEFAULT_CONFIG.read_text())


def test_defaults_come_from_the_schema(raw):
    raw["models"]["smollm2-135m"].pop("sampling")
    config = validate_config(raw)
    model = config["models"]["smollm2-135m"]
    assert model["sampling"]["temperature"] == 0.0 and model["sampling"]["max_tokens"] >= 1
    assert config["client"]["retries"] >= 0 and config["server"]["ready_timeout_s"] > 0


def test_a_misspelt_key_is_named(raw):
    raw["models"]["gemma3-270m"]["sampling"]["temprature"] = 0.5
    with pytest.raises(ConfigError, match=r"models\.gemma3-270m\.sampling.*temprature"):
        validate_config(raw)


def test_a_wrong_value_is_named(raw):
    raw["client"]["concurrency"] = 0
    with pytest.raises(ConfigError, match=r"client\.concurrency"):
        validate_config(raw)


def test_an_unknown_dataset_is_named(raw):
    raw["datasets"]["fbp"] = {}
    with pytest.raises(ConfigError, match=r"datasets\.fbp.*known: .*fpb"):
        validate_config(raw)


def test_a_dataset_without_settings_is_accepted(raw):
    raw["datasets"]["tsa"] = None
    assert validate_config(raw)["datasets"]["tsa"] == {}


def test_a_cell_slice_holds_only_its_own_model(raw):
    config = validate_config(raw)
    changed = copy.deepcopy(config)
    changed["models"]["gemma3-270m"]["sampling"]["max_tokens"] = 9
    changed["models"]["smollm2-135m"]["size_b"] = 99  # a label, not a setting
    changed["models"]["smollm2-135m"]["server"]["threads"] = 7  # how to run, not what comes out
    for model, paradigm, dataset in grid(config):
        same = cell_slice(config, model, paradigm, dataset) == cell_slice(changed, model, paradigm, dataset)
        assert same == (model != "gemma3-270m")


def test_a_paradigm_slice_holds_only_what_its_kind_reads(raw):
    config = validate_config(raw)
    search = copy.deepcopy(config)
    for paradigm in search["paradigms"].values():
        paradigm["tools"]["web_search"]["top_k"] = 9  # only agents search
    delegation = copy.deepcopy(config)
    for paradigm in delegation["paradigms"].values():
        paradigm["max_delegations"] = 5  # only the multi-agent system delegates
    for model, paradigm, dataset in grid(config):
        cell = cell_slice(config, model, paradigm, dataset)
        kind = config["paradigms"][paradigm]["kind"]
        assert (cell == cell_slice(search, model, paradigm, dataset)) == (kind == "base")
        assert (cell == cell_slice(delegation, model, paradigm, dataset)) == (kind != "multi_agent")


def test_agent_cells_carry_the_prompt_version():
    from slmbench.agents.prompts import PROMPT_VERSION

    config = validate_config(yaml.safe_load(DEFAULT_CONFIG.read_text()))
    assert cell_slice(config, "smollm2-135m", "single_agent", "fpb")["paradigm"]["prompt_version"] == PROMPT_VERSION
    assert "prompt_version" not in cell_slice(config, "smollm2-135m", "base", "fpb")["paradigm"]


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "a/b", "a b", "x" * 65, "fpb\n", ""])
@pytest.mark.parametrize("section", ["models", "paradigms", "datasets"])
def test_a_name_that_is_not_a_safe_label_is_refused(raw, section, name):
    raw[section][name] = next(iter(raw[section].values()))
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert f"config key {section}[{name!r}]: not a valid name; a name must match {NAME_PATTERN}" in str(err.value)


def test_a_hub_id_as_model_name_says_where_the_hub_id_goes(raw):
    raw["models"]["Qwen/Qwen2.5-0.5B"] = {"engine": "sglang", "sglang": {"model_path": "Qwen/Qwen2.5-0.5B"}}
    with pytest.raises(ConfigError, match=r"put the hub id into sglang\.model_path .* say, 'Qwen2\.5-0\.5B'"):
        validate_config(raw)


def test_the_longest_name_is_accepted(raw):
    raw["paradigms"]["b" * 64] = {"kind": "base"}
    assert "b" * 64 in validate_config(raw)["paradigms"]


def test_the_workflow_wildcards_take_the_schemas_names():
    text = (REPO / "rules" / "common.smk").read_text()
    assert re.search(r"model=WILDCARD_NAME,\s+paradigm=WILDCARD_NAME,\s+dataset=WILDCARD_NAME", text)
    assert all(re.fullmatch(WILDCARD_NAME, name) for name in registry.DATASETS)
    assert not any(re.fullmatch(WILDCARD_NAME, name) for name in ("..", "a/b", ".x"))


@pytest.mark.parametrize(
    "overlay, key, shown",
    [
        ("paradigms: {single_agent: {kind: single_agent, tool_timeout_s: .nan}}", "paradigms.single_agent.tool_timeout_s", "NaN"),
        ("client: {timeout_s: .inf}", "client.timeout_s", "infinity"),
        ("models: {gemma3-270m: {sampling: {temperature: .NaN}}}", "models.gemma3-270m.sampling.temperature", "NaN"),
        ("models: {gemma3-270m: {sampling: {top_p: -.inf}}}", "models.gemma3-270m.sampling.top_p", "-infinity"),
        ("server: {idle_timeout_s: .inf}", "server.idle_timeout_s", "infinity"),
        ("models: {smollm2-135m: {size_b: .nan}}", "models.smollm2-135m.size_b", "NaN"),
        ("n_samples: .inf", "n_samples", "infinity"),
    ],
)
def test_nan_and_infinities_are_refused_naming_the_key(raw, overlay, key, shown):
    config = merge(raw, yaml.safe_load(overlay))
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert f"config key {key}: {shown} is not allowed; every number in the config must be finite" in str(err.value)
    assert str(err.value).count("config key") == 1  # not also "nan is not of type 'integer'"


# --- constrained decoding ------------------------------------------------------------------------


def with_paradigm(raw, **entry):
    raw["paradigms"]["grammar"] = entry
    return raw


def test_an_unconstrained_cell_keeps_the_params_it_had_before_grammars(raw):
    """`constrain: none` stays out of the slice: a warm cache and up-to-date cells stay valid."""
    config = validate_config(raw)
    for paradigm in ("base", "single_agent", "multi_agent"):
        cell = cell_slice(config, "smollm2-135m", paradigm, "fpb")
        assert "constrain" not in cell["paradigm"] and "grammar_sha256" not in cell["paradigm"]


def test_a_constrained_cell_is_a_different_cell_that_names_its_grammars(raw):
    config = validate_config(with_paradigm(raw, kind="single_agent", max_tokens=192, max_turns=3, constrain="protocol"))
    free = cell_slice(config, "smollm2-135m", "single_agent", "fpb")["paradigm"]
    cell = cell_slice(config, "smollm2-135m", "grammar", "fpb")["paradigm"]
    assert cell["constrain"] == "protocol" and len(cell["grammar_sha256"]) == 64
    same = {k: v for k, v in free.items() if k != "name"} | {"max_tokens": 192}  # a grammar's reply needs more tokens
    assert {k: v for k, v in cell.items() if k not in ("name", "constrain", "grammar_sha256")} == same
    # The grammar depends on the dataset's answer type (in `answer` mode) and on max_tokens (the bound of <think>).
    answer = validate_config(with_paradigm(copy.deepcopy(raw), kind="single_agent", max_tokens=192, max_turns=3, constrain="answer"))
    assert cell_slice(answer, "smollm2-135m", "grammar", "fpb")["paradigm"]["grammar_sha256"] != cell["grammar_sha256"]
    assert cell_slice(answer, "smollm2-135m", "grammar", "fpb") != cell_slice(answer, "smollm2-135m", "grammar", "fomc")
    longer = validate_config(with_paradigm(copy.deepcopy(raw), kind="single_agent", max_tokens=400, max_turns=3, constrain="protocol"))
    assert cell_slice(longer, "smollm2-135m", "grammar", "fpb")["paradigm"]["grammar_sha256"] != cell["grammar_sha256"]


def test_the_base_paradigm_takes_only_the_answer_constraint(raw):
    validate_config(with_paradigm(copy.deepcopy(raw), kind="base", constrain="answer"))
    with pytest.raises(ConfigError, match=r"paradigms.grammar.constrain: 'protocol' is not one of \['none', 'answer'\]"):
        validate_config(with_paradigm(raw, kind="base", constrain="protocol"))


def test_a_grammar_without_room_within_max_tokens_is_refused_before_the_run(raw):
    with pytest.raises(ConfigError, match=r"paradigms.grammar.constrain .*max_tokens 40 leaves no room.*at least \d+"):
        validate_config(with_paradigm(raw, kind="single_agent", max_tokens=40, constrain="protocol"))


def test_an_openai_endpoint_without_a_grammar_field_is_refused_for_constrained_paradigms(raw):
    raw["models"]["hosted"] = {"engine": "openai", "endpoint": {"base_url": "http://localhost:9/v1", "model": "m"}}
    raw["paradigms"] = {name: p for name, p in raw["paradigms"].items() if p.get("constrain", "none") == "none"}
    validate_config(copy.deepcopy(raw))  # unconstrained: fine
    with pytest.raises(ConfigError, match=r"models.hosted.endpoint.grammar_field: the paradigm 'grammar' is constrained"):
        validate_config(with_paradigm(copy.deepcopy(raw), kind="single_agent", max_tokens=192, constrain="protocol"))
    raw["models"]["hosted"]["endpoint"]["grammar_field"] = "grammar"
    validate_config(with_paradigm(raw, kind="single_agent", max_tokens=192, constrain="protocol"))


def test_a_raw_completion_base_is_its_own_cell_and_only_base_takes_it(raw):
    """`prompt_format: completion` enters the cell's params; `chat` (the default) leaves them as they were."""
    chat = cell_slice(validate_config(with_paradigm(copy.deepcopy(raw), kind="base", prompt_format="chat")), "smollm2-135m", "grammar", "fpb")
    plain = cell_slice(validate_config(raw), "smollm2-135m", "base", "fpb")
    assert chat["paradigm"] == {**plain["paradigm"], "name": "grammar"}
    raw_cell = cell_slice(validate_config(with_paradigm(copy.deepcopy(raw), kind="base", prompt_format="completion")), "smollm2-135m", "grammar", "fpb")
    assert raw_cell["paradigm"]["prompt_format"] == "completion"
    with pytest.raises(ConfigError, match="prompt_format"):
        validate_config(with_paradigm(copy.deepcopy(raw), kind="single_agent", prompt_format="completion"))


def test_cells_draw_finbens_own_rows_unless_told_otherwise(raw):
    finben = cell_slice(validate_config(raw), "smollm2-135m", "base", "fpb")
    seeded = cell_slice(validate_config({**raw, "sample_selection": "seeded", "seed": 7}), "smollm2-135m", "base", "fpb")
    assert (finben["sample_selection"], finben["seed"]) == ("finben", 42)
    assert (seeded["sample_selection"], seeded["seed"]) == ("seeded", 7)


def test_convfinqa_is_refused_naming_why(raw):
    """Its dialogues' placeholders would reach the model as written (README, "Fidelity")."""
    with pytest.raises(ConfigError, match=r"datasets\.convfinqa: not supported yet: .*placeholders"):
        validate_config({**raw, "datasets": {"convfinqa": {}}})
