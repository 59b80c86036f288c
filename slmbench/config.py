"""The workflow's configuration: defaults from the schema, validation, and per-cell slices.

Defaults live in schemas/config.schema.yaml; a wrong key or value stops the run with a
message naming the key. A cell's slice holds only what decides that cell's results, so
Snakemake's params trigger reruns exactly the cells whose settings changed.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

import jsonschema
import yaml

from . import registry
from .paradigms import BASE_KIND, KINDS
from .yamlfile import YamlError, load_yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = ROOT / "config.yaml"


# Model settings that only label results (plots, tables) or say how to run the server
# (threads, GPU memory, metrics): changing them reruns no generation.
LABEL_KEYS = ("family", "size_b", "checkpoint")
RUN_ONLY_KEYS = {"server": ("threads",), "sglang": ("mem_fraction_static", "enable_metrics", "served_model_name", "gated")}


class ConfigError(ValueError):
    """A config value the workflow cannot use; the message names the key."""


def load_schema() -> dict[str, Any]:
    """The schema, with the paradigm kinds of `slmbench.paradigms.KINDS` as the enum of `kind` (a copy:
    the caller may change it)."""
    return copy.deepcopy(_schema())


@functools.cache
def _schema() -> dict[str, Any]:
    # Parsed once per process (every Snakemake start reads it several times), with libyaml when present.
    schema = yaml.load(SCHEMA_PATH.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schema["$defs"]["paradigm"]["properties"]["kind"]["enum"] = list(KINDS)
    return schema


@functools.cache
def schema_defaults(name: str) -> dict[str, Any]:
    """The defaults of a top-level section (`client`) or a definition (`paradigm`, `search_tool`) of the
    schema, by key: code that needs a default reads it here, so every default is written once."""
    schema = load_schema()
    node = schema["properties"].get(name) or schema["$defs"][name]
    return {key: sub["default"] for key, sub in node["properties"].items() if "default" in sub}


# Names of models, paradigms and datasets become folders and Snakemake wildcards: the schema's
# pattern is the one rule for both (rules/common.smk constrains the wildcards with WILDCARD_NAME).
NAME_PATTERN = load_schema()["$defs"]["name"]["pattern"]
WILDCARD_NAME = NAME_PATTERN.removeprefix("^").removesuffix("$")


def _resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        return schema["$defs"][ref.rsplit("/", 1)[-1]]
    return node


def fill_defaults(value: Any, node: dict[str, Any], schema: dict[str, Any]) -> Any:
    """Set the schema's defaults into `value`, in mapping entries (models, datasets...) too."""
    node = _resolve(node, schema)
    if not isinstance(value, dict):
        return value
    for key, sub in node.get("properties", {}).items():
        sub = _resolve(sub, schema)
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            value[key] = fill_defaults(value[key], sub, schema)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for key in value:
            if key not in node.get("properties", {}):
                if value[key] is None and "default" in _resolve(extra, schema):
                    value[key] = {}
                value[key] = fill_defaults(value[key], extra, schema)
    return value


def validate_config(config: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Defaults filled in, schema checked, numbers finite, dataset names checked; raises ConfigError."""
    schema = load_schema()
    config = fill_defaults(copy.deepcopy(config), schema, schema)
    problems = dict(_non_finite_numbers(config, ()))  # NaN passes the schema's `type: number` and its bounds
    for e in jsonschema.Draft202012Validator(schema).iter_errors(config):
        if "propertyNames" in e.absolute_schema_path:
            problems[(*e.absolute_path, e.instance)] = _bad_name(e.absolute_path, e.instance)
        else:
            problems.setdefault(tuple(e.absolute_path), e.message)
    if problems:
        ordered = sorted(problems.items(), key=lambda item: list(map(str, item[0])))
        lines = [f"config key {config_key(path)}: {message}" for path, message in ordered]
        raise ConfigError(f"{source} is not valid (schema: {SCHEMA_PATH.name}):\n  " + "\n  ".join(lines))
    for name in config["datasets"]:
        if name not in registry.DATASETS:
            raise ConfigError(f"config key datasets.{name}: unknown dataset; known: {', '.join(sorted(registry.DATASETS))}")
        if reason := registry.DATASETS[name].unsupported:
            raise ConfigError(f"config key datasets.{name}: not supported yet: {reason}")
    for name, model in config["models"].items():
        needs = {"llamacpp": "weights", "openai": "endpoint"}.get(model["engine"])
        if needs and needs not in model:
            raise ConfigError(f"config key models.{name}.{needs}: required for engine {model['engine']!r}")
        if model["engine"] == "llamacpp" and model["sampling"]["model_defaults"]:
            raise ConfigError(
                f"config key models.{name}.sampling.model_defaults: a GGUF served by llama.cpp has no generation "
                "config, so its server would fill the parameters with its own defaults (repeat_penalty 1.1, top_k 40, "
                "min_p 0.05), not the model's; set the parameters in models.<name>.sampling instead"
            )
    _check_constrained(config)
    return config


def _check_constrained(config: dict[str, Any]) -> None:
    """Constrained paradigms need an engine that takes a grammar, and room for the grammar's reply."""
    from .agents.grammar import GrammarError

    constrained = [p for p, entry in config["paradigms"].items() if entry.get("constrain", "none") != "none"]
    if not constrained:
        return
    from .engines.sglang import THINKING_OFF

    for name, model in config["models"].items():
        parser = model.get("sglang", {}).get("reasoning_parser")
        if parser and parser not in THINKING_OFF:
            raise ConfigError(
                f"config key models.{name}.sglang.reasoning_parser: the paradigm {constrained[0]!r} is constrained, and "
                f"with the {parser!r} parser SGLang applies a grammar only after the model's own thinking, which no "
                f"bound limits; constrained paradigms need thinking that a request can turn off ({', '.join(THINKING_OFF)})"
            )
        if model["engine"] == "openai" and not model["endpoint"].get("grammar_field"):
            raise ConfigError(
                f"config key models.{name}.endpoint.grammar_field: the paradigm {constrained[0]!r} is constrained "
                "(constrain: " + config["paradigms"][constrained[0]]["constrain"] + "), and an openai endpoint gets a "
                "grammar only in the request field this key names (grammar for a llama.cpp server, ebnf for SGLang)"
            )
    from .agents.grammar_engines import refusal_checker

    for model, paradigm, dataset in grid(config):
        if paradigm in constrained:
            where = f"config key paradigms.{paradigm}.constrain (model {model}, dataset {dataset})"
            try:
                grammars = cell_grammars(config, model, paradigm, dataset)
            except GrammarError as e:
                raise ConfigError(f"{where}: {e}") from None
            entry = config["models"][model]
            refusal = refusal_checker(entry["engine"], entry.get("endpoint", {}).get("grammar_field"))
            for agent, text in grammars.items() if refusal else ():
                if reason := refusal(text):
                    raise ConfigError(f"{where}: the engine's grammar parser refuses the grammar of {agent} ({reason}); "
                                      "change the paradigm's max_tokens or constrain, or report it as a bug of slmbench")


def config_key(path: Iterable) -> str:
    """A key path as the user reads it: `models.gemma3-270m.sampling`, `models['..']`, `extra_args[0]`."""
    shown = "".join(f".{part}" if isinstance(part, str) and re.fullmatch(WILDCARD_NAME, part) else f"[{part!r}]" for part in path)
    return shown.removeprefix(".") or "(top level)"


def _non_finite_numbers(value: Any, path: tuple) -> Iterator[tuple[tuple, str]]:
    """(path, message) for every NaN or infinity: no setting of this config can use one."""
    if isinstance(value, float) and not math.isfinite(value):
        shown = "NaN" if math.isnan(value) else ("-" if value < 0 else "") + "infinity"
        yield path, f"{shown} is not allowed; every number in the config must be finite"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite_numbers(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite_numbers(item, (*path, index))


# Where a hub id belongs instead of a name (`Qwen/Qwen2.5-0.5B` is an easy mistake for a name).
HUB_ID_KEYS = {"models": "sglang.model_path (or the weights)", "datasets": "datasets.<name>.hub_id"}


def _bad_name(section: Iterable, name: Any) -> str:
    """Why a key under models/paradigms/datasets is not a usable name (it becomes a folder and a wildcard)."""
    message = f"not a valid name; a name must match {NAME_PATTERN} (letters, digits, '.', '_', '-'; no leading dot; at most 64 characters)"
    hub_key = HUB_ID_KEYS.get(config_key(section))
    if hub_key and "/" in str(name):
        label = str(name).rstrip("/").rsplit("/", 1)[-1]
        message += f"; a name is only a label: put the hub id into {hub_key} and name it, say, {label!r}"
    return message


def load_workflow_config(config: dict[str, Any], workflow) -> dict[str, Any]:
    """The Snakefile's config: config.yaml unless --configfile names others (never both merged)."""
    try:
        if not workflow.overwrite_configfiles:
            base = load_yaml(DEFAULT_CONFIG)
            config = merge(base, config)  # --config key=value overrides still apply
        for path in workflow.overwrite_configfiles or ():
            load_yaml(path)  # Snakemake loaded it with its own loader: refuse duplicate keys and alias bombs here
    except YamlError as e:
        raise ConfigError(str(e)) from None
    return validate_config(config)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def grid(config: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Every cell: (model, paradigm, dataset)."""
    for model in config["models"]:
        for paradigm in config["paradigms"]:
            for dataset in config["datasets"]:
                yield model, paradigm, dataset


def canonical(value: Any) -> Any:
    """`value` with every mapping's keys sorted, all the way down (lists keep their order).

    Snakemake compares a job's params with the recorded ones by `repr`, and a dict's repr follows
    its key order: without this, the same config written with its keys in another order
    (`yaml.safe_dump` sorts them) would rerun every cell. Every params value passes through here.
    """
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    return value


def dataset_slice(config: dict[str, Any], dataset: str) -> dict[str, Any]:
    spec = registry.get(dataset)
    entry = config["datasets"][dataset]
    found = {"name": dataset, "hub_id": entry.get("hub_id", spec.hub_id), "split": entry.get("split", spec.split)}
    return found | ({"revision": entry["revision"]} if "revision" in entry else {})


def download_slice(config: dict[str, Any], dataset: str) -> dict[str, Any]:
    """What decides a stored dataset besides the mirror file (an input of `download`): where on the hub,
    which revision, and the registry's definition (task type, labels, metric) that its rows are checked
    and normalized against."""
    return canonical({**dataset_slice(config, dataset), "definition": dataclasses.asdict(registry.get(dataset))})


def mirror_file(config: dict[str, Any], dataset: str) -> list[str]:
    """The mirror's `<dataset>.jsonl` when the config names a mirror that has it (then `download`
    reads it, so it is the rule's input: a changed file reruns the dataset and its cells), else []."""
    mirror = config["data_mirror"]
    path = Path(mirror) / f"{dataset}.jsonl" if mirror else None
    return [str(path)] if path and path.is_file() else []


def model_slice(config: dict[str, Any], model: str) -> dict[str, Any]:
    """The model settings that can change its answers."""
    entry = {k: v for k, v in config["models"][model].items() if k not in LABEL_KEYS}
    for section, keys in RUN_ONLY_KEYS.items():
        if isinstance(entry.get(section), dict):
            entry[section] = {k: v for k, v in entry[section].items() if k not in keys}
    return {"name": model, **entry}


def paradigm_slice(config: dict[str, Any], paradigm: str) -> dict[str, Any]:
    """The paradigm's settings its kind reads, and for agents the version of their prompts.

    `constrain: none` and `prompt_format: chat` (the defaults) stay out, so that the params of such
    cells are what they were before those settings existed.
    """
    entry = config["paradigms"][paradigm]
    kind = KINDS[entry["kind"]]
    defaults = {"constrain": "none", "prompt_format": "chat"}  # left out: the params cells had before these settings
    kept = {k: v for k, v in entry.items() if k in kind.settings and defaults.get(k, object()) != v}
    if kind.agents:
        from .agents.prompts import PROMPT_VERSION

        kept["prompt_version"] = PROMPT_VERSION  # prompts live in code: a new version reruns agent cells
    return {"name": paradigm, **kept}


def cell_slice(config: dict[str, Any], model: str, paradigm: str, dataset: str) -> dict[str, Any]:
    return CellSlices(config)(model, paradigm, dataset)


class CellSlices:
    """`cell_slice` for every cell of one config, each model's, paradigm's and dataset's part made
    canonical once (the paper grid's 1,440 cells share 24 + 3 + 20 of them): the dry run computes a
    slice for each generation and score job."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.model = functools.cache(lambda name: canonical(model_slice(config, name)))
        self.paradigm = functools.cache(lambda name: canonical(paradigm_slice(config, name)))
        self.dataset = functools.cache(lambda name: canonical({**dataset_slice(config, name), **config["datasets"][name]}))

    def __call__(self, model: str, paradigm: str, dataset: str) -> dict[str, Any]:
        """What decides a cell's results; a constrained cell adds the digest of the grammars it sends."""
        cell = {  # keys in sorted order, as `canonical` puts them
            "dataset": self.dataset(dataset),
            "model": self.model(model),
            "n_samples": self.config["n_samples"],
            "paradigm": self.paradigm(paradigm),
            "sample_selection": self.config["sample_selection"],
            "seed": selection_seed(self.config["sample_selection"], self.config["seed"]),  # the draw's seed
        }
        grammars = cell_grammars(self.config, model, paradigm, dataset)
        if grammars:
            digest = hashlib.sha256(json.dumps(grammars, sort_keys=True).encode()).hexdigest()
            cell["paradigm"] = canonical({**cell["paradigm"], "grammar_sha256": digest})
        return cell


# FinBen's harness (PIXIU `src/evaluator.py`) shuffles a task's test rows, in the split's order,
# with `random.Random(42)` and keeps the first `--limit` of them.
FINBEN_SHUFFLE_SEED = 42


def selection_seed(selection: str, seed: int) -> int:
    """The seed of a cell's sample draw: FinBen's 42 (`finben`: FinBen's own `--limit` rows, the
    dataset file being the test split in the hub's order), or the config's `seed` (`seeded`; the
    schema's enum is the one list of selections)."""
    return FINBEN_SHUFFLE_SEED if selection == "finben" else seed


def cell_max_tokens(cell: dict[str, Any]) -> int:
    """A cell's max_tokens: the dataset's, else the paradigm's, else the model's."""
    return next(v for v in (cell["dataset"].get("max_tokens"), cell["paradigm"].get("max_tokens"), cell["model"]["sampling"]["max_tokens"]) if v)


def cell_grammars(config: dict[str, Any], model: str, paradigm: str, dataset: str) -> dict[str, str]:
    """The grammars a cell sends, by agent ({} for an unconstrained paradigm)."""
    from .agents.grammar import paradigm_grammars

    entry = config["paradigms"][paradigm]
    if entry.get("constrain", "none") == "none":
        return {}
    cell = {"model": config["models"][model], "paradigm": entry, "dataset": config["datasets"][dataset]}
    return paradigm_grammars(entry["kind"], registry.get(dataset), entry["constrain"], cell_max_tokens(cell))


def search_corpus(config: dict[str, Any]) -> str:
    """The passages the local search backend indexes: the config's, or the shipped corpus."""
    from .corpus import FINANCE_PASSAGES

    return config["search_corpus"] or str(FINANCE_PASSAGES)


def run_settings(config: dict[str, Any]) -> dict[str, Any]:
    """How to run cells (cache, servers, client, full model entries): settings that do not change results."""
    return {k: config[k] for k in ("cache_dir", "models_dir", "client", "server", "models")}


# --- what the results half reads of the config (labels and design; nothing here reruns generation) ---


# The results half lists models, paradigms and datasets in an order of their own, not the config's
# key order: a config written with its keys in another order has the same design (and reruns nothing).


def model_order(config: dict[str, Any]) -> list[str]:
    """Models by size (unlabelled last), then name."""
    size = lambda name: config["models"][name].get("size_b")
    return sorted(config["models"], key=lambda name: (size(name) is None, size(name) or 0, name))


def paradigm_order(config: dict[str, Any]) -> list[str]:
    """Paradigms by kind (base, single agent, multi-agent: slmbench.paradigms.KINDS), then name."""
    kinds = list(KINDS)
    return sorted(config["paradigms"], key=lambda name: (kinds.index(config["paradigms"][name]["kind"]), name))


def dataset_order(config: dict[str, Any]) -> list[str]:
    """Datasets in the registry's order (the paper's)."""
    known = list(registry.DATASETS)
    return sorted(config["datasets"], key=known.index)


def model_labels(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each model's label settings (size_b, family, checkpoint): table columns that rerun no generation."""
    models = config["models"]
    return {
        name: {"size_b": models[name].get("size_b"), "family": models[name].get("family"), "checkpoint": models[name].get("checkpoint", "instruct")}
        for name in model_order(config)
    }


def run_design(config: dict[str, Any]) -> dict[str, Any]:
    """What summary.json reports about the run's design (in the orders above; built the same whatever
    the config's key order)."""
    labels = model_labels(config)
    return {
        "models": {name: {"engine": config["models"][name]["engine"], **labels[name]} for name in labels},
        "paradigms": {name: canonical(config["paradigms"][name]) for name in paradigm_order(config)},
        "datasets": dataset_order(config),
        "n_samples": config["n_samples"],
        "sample_selection": config["sample_selection"],
        "seed": selection_seed(config["sample_selection"], config["seed"]),
    }


def base_paradigm(paradigms: dict[str, Any] | None) -> str:
    """The name of the configured paradigm of kind `base` (the reference of NRQ); 'base' if none."""
    for name, entry in (paradigms or {}).items():
        if (entry or {}).get("kind") == BASE_KIND:
            return name
    return BASE_KIND
