"""Config loading and the input functions that turn it into the grid of cells."""

from slmbench.config import cell_slice, dataset_slice, grid, load_workflow_config

# In place: rules and scripts see the same (validated, defaults filled) dict.
config.update(load_workflow_config(config, workflow))


wildcard_constraints:
    model="[^/]+",
    paradigm="[^/]+",
    dataset="[^/]+",


def generation_params(wildcards):
    """Only this cell's config slice, so that a change elsewhere does not rerun it."""
    return cell_slice(config, wildcards.model, wildcards.paradigm, wildcards.dataset)


def download_params(wildcards):
    return dataset_slice(config, wildcards.dataset)


def score_inputs(suffix):
    return [f"results/scores/{m}/{p}/{d}.{suffix}" for m, p, d in grid(config)]


def final_outputs():
    return [
        "results/tables/cells.csv",
        "results/tables/cells.html",
        "results/tables/samples.parquet",
        "results/plots/score_by_model.png",
    ]
