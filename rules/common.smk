"""Config loading, the input functions that turn it into the grid of cells, and the report's items
(slmbench/results/catalog.py) expanded into outputs."""

import sys
from pathlib import Path

from slmbench.config import (
    WILDCARD_NAME,
    CellSlices,
    canonical,
    download_slice,
    grid,
    load_workflow_config,
    mirror_file,
    model_labels,
    run_design,
    search_corpus,
)
from slmbench.engines.hub import hub_id, record_path, require_tokens, weights_slice
from slmbench.paradigms import KINDS
from slmbench.results import catalog

# In place: rules and scripts see the same (validated, defaults filled) dict.
config.update(load_workflow_config(config, workflow))
# Before any job: a gated model whose weights are not fetched yet needs a token (slmbench/engines/hub.py).
require_tokens(config)


# The names the config accepts (schemas/config.schema.yaml, $defs.name), so no wildcard spans a '/'.
wildcard_constraints:
    model=WILDCARD_NAME,
    paradigm=WILDCARD_NAME,
    dataset=WILDCARD_NAME,


# Every params value is canonical (slmbench.config.canonical: keys sorted), so that the same config
# with its keys in another order plans nothing.
cell_slice = CellSlices(config)


def generation_params(wildcards):
    """Only this cell's config slice, so that a change elsewhere does not rerun it."""
    return cell_slice(wildcards.model, wildcards.paradigm, wildcards.dataset)


def announce_offline_tools():
    """At the start of a run: name every agent search tool that cannot reach its online backend from
    this machine and will search the local corpus instead (offline_fallback: local), so that a
    paper-grid run without internet says it substitutes the corpus instead of doing it silently.
    Each generate log repeats the line for its own node."""
    from slmbench.tools.toolbox import offline_notices

    for line in offline_notices(config["paradigms"]):
        print(f"NOTICE {line}", file=sys.stderr, flush=True)


def search_index_input(wildcards):
    """Agent paradigms search a local BM25 index; the base paradigm needs none."""
    kind = KINDS[config["paradigms"][wildcards.paradigm]["kind"]]
    return ["resources/search_index"] if kind.agents else []


def weights_params(wildcards):
    return canonical(weights_slice(config["models"][wildcards.model]))


def weights_input(wildcards):
    """An SGLang model from the hub starts from the weights job's record; the others need none."""
    if hub_id(config["models"][wildcards.model]):
        return [record_path(config["models_dir"], wildcards.model)]
    return []


def generation_env(wildcards):
    """SGLang models generate in the GPU environment; the others need only the light one."""
    engine = config["models"][wildcards.model]["engine"]
    return "../envs/sglang.yaml" if engine == "sglang" else "../envs/slmbench.yaml"


def generation_conda():
    """`generation_env` as one path when every model takes the same environment (the paper grid, the
    demo): Snakemake then has no function to call for each of the generation jobs."""
    engines = {model["engine"] == "sglang" for model in config["models"].values()}
    if len(engines) > 1:
        return generation_env
    return "../envs/sglang.yaml" if engines == {True} else "../envs/slmbench.yaml"


def download_params(wildcards):
    return download_slice(config, wildcards.dataset)


def download_input(wildcards):
    return mirror_file(config, wildcards.dataset)


def score_inputs(suffix):
    return [f"results/scores/{m}/{p}/{d}.{suffix}" for m, p, d in grid(config)]


def cell_files(folder, suffix):
    """One file per dataset of a model x paradigm (the wildcards of a score job), in config order."""
    return [f"{folder}/{{model}}/{{paradigm}}/{d}.{suffix}" for d in config["datasets"]]


def score_params(wildcards):
    """Every dataset's cell slice of this model x paradigm (canonical), by dataset."""
    model, paradigm = wildcards.model, wildcards.paradigm
    return {d: cell_slice(model, paradigm, d) for d in sorted(config["datasets"])}


def trace_page_outputs():
    """The trace page of each dataset of a model x paradigm, each an item of the report."""
    labels = {"model": "{model}", "paradigm": "{paradigm}"}
    return [
        trace_page_report(
            f"results/traces/{{model}}/{{paradigm}}/{d}.html", {**labels, "dataset": d}
        )
        for d in config["datasets"]
    ]


def trace_page_report(path, labels):
    return report(
        path,
        caption=caption(catalog.TRACES),
        category=catalog.report_category(catalog.TRACES.category),
        subcategory="{model}",
        labels=trace_labels(labels),
    )


def trace_labels(labels):
    """The page's labels and, read when the report is made, how its samples ended (the menu shows it)."""

    def expand(wildcards):
        from slmbench.data import read_jsonl
        from slmbench.results.trace_page import outcome_counts

        named = {k: v.format(**dict(wildcards.items())) for k, v in labels.items()}
        cell = f"results/scores/{named['model']}/{named['paradigm']}/{named['dataset']}"
        return {**named, "samples": outcome_counts(read_jsonl(f"{cell}.samples.jsonl"))}

    return expand


def caption(item):
    """A catalog item's caption file, relative to the rules (where report() resolves it)."""
    return f"../report/{item.caption}.rst"


def reported(path, item):
    return report(
        path,
        caption=caption(item),
        category=catalog.report_category(item.category),
        labels={"item": item.label},
    )


def table_outputs():
    """Every analysis table of the catalog in each of its formats; the HTML pages go into the report."""
    outputs = {}
    for table in catalog.TABLES:
        for ext in table.formats:
            path = table.path(ext)
            outputs[f"{table.name}_{ext}"] = (
                reported(path, table) if ext == "html" else path
            )
    return outputs


def figure_outputs():
    return {f.name: reported(f.path(), f) for f in catalog.FIGURES}


def print_outcomes(cells_csv):
    """The end of a run says how every cell's samples ended (the cell table, when this run made it)."""
    if Path(cells_csv).exists():
        from slmbench.results.outcomes import outcome_lines

        print("\n".join(outcome_lines(cells_csv)))
