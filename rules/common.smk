"""Config loading and the input functions that turn it into the grid of cells."""

from pathlib import Path

from slmbench.config import (
    WILDCARD_NAME,
    cell_slice,
    dataset_slice,
    grid,
    load_workflow_config,
    search_corpus,
)
from slmbench.summary import model_labels, run_design

# The analysis tables, each written as CSV, Parquet and (for the report) HTML.
ANALYSIS_TABLES = [
    "paradigms",
    "nrq",
    "composite_z",
    "leading_advantage",
    "comparisons",
    "pareto",
    "constrained",  # beyond the paper: paradigms with and without a grammar (slmbench.constrained_view)
]

# In place: rules and scripts see the same (validated, defaults filled) dict.
config.update(load_workflow_config(config, workflow))


# The names the config accepts (schemas/config.schema.yaml, $defs.name), so no wildcard spans a '/'.
wildcard_constraints:
    model=WILDCARD_NAME,
    paradigm=WILDCARD_NAME,
    dataset=WILDCARD_NAME,


def generation_params(wildcards):
    """Only this cell's config slice, so that a change elsewhere does not rerun it."""
    return cell_slice(config, wildcards.model, wildcards.paradigm, wildcards.dataset)


def search_index_input(wildcards):
    """Agent paradigms search a local BM25 index; the base paradigm needs none."""
    kind = config["paradigms"][wildcards.paradigm]["kind"]
    return [] if kind == "base" else ["resources/search_index"]


def generation_env(wildcards):
    """SGLang models generate in the GPU environment; the others need only the light one."""
    engine = config["models"][wildcards.model]["engine"]
    return "../envs/sglang.yaml" if engine == "sglang" else "../envs/slmbench.yaml"


def download_params(wildcards):
    return dataset_slice(config, wildcards.dataset)


def score_inputs(suffix):
    return [f"results/scores/{m}/{p}/{d}.{suffix}" for m, p, d in grid(config)]


def trace_pages():
    return [f"results/traces/{m}/{p}/{d}.html" for m, p, d in grid(config)]


def print_outcomes(cells_csv):
    """The end of a run says how every cell's samples ended (the cell table, when this run made it)."""
    if Path(cells_csv).exists():
        from slmbench.outcomes import outcome_lines

        print("\n".join(outcome_lines(cells_csv)))
