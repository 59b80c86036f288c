"""Snakemake entry point: every table and figure of the catalog (slmbench/results/catalog.py)."""

from slmbench.quick_exit import skip_exit_collection
from slmbench.results.build import build_results

with open(snakemake.log[0], "w") as log:
    build_results(
        snakemake.input.summaries, snakemake.input.samples, snakemake.input.datasets, snakemake.output,
        labels=snakemake.params.labels, design=snakemake.params.design, options=snakemake.params.options, log=log,
        settings=snakemake.config,
    )  # fmt: skip
skip_exit_collection()  # everything above is written and closed
