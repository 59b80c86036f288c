import copy

import pytest
import yaml

from slmbench.config import DEFAULT_CONFIG, ConfigError, cell_slice, grid, validate_config


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
    changed["models"]["gemma3-270m"]["sampling"]["max_tokens"] = 7
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
        assert (cell == cell_slice(search, model, paradigm, dataset)) == (paradigm == "base")
        assert (cell == cell_slice(delegation, model, paradigm, dataset)) == (paradigm != "multi_agent")


def test_agent_cells_carry_the_prompt_version():
    from slmbench.agents.prompts import PROMPT_VERSION

    config = validate_config(yaml.safe_load(DEFAULT_CONFIG.read_text()))
    assert cell_slice(config, "smollm2-135m", "single_agent", "fpb")["paradigm"]["prompt_version"] == PROMPT_VERSION
    assert "prompt_version" not in cell_slice(config, "smollm2-135m", "base", "fpb")["paradigm"]
