"""Snakemake entry point: draw the figures from the per-cell table and the analysis tables."""

import pandas as pd

from slmbench.plots import best_paradigm_heatmap, failures_by_paradigm, nrq_vs_size, pareto_plot, quality_vs_cost, score_by_model

with open(snakemake.log[0], "w") as log:
    cells = pd.read_parquet(snakemake.input.cells)
    pareto = pd.read_parquet(snakemake.input.pareto)
    out = snakemake.output
    score_by_model(cells, out.score_by_model)
    quality_vs_cost(pareto, out.quality_vs_cost)
    best_paradigm_heatmap(pd.read_parquet(snakemake.input.leading), out.best_paradigm)
    failures_by_paradigm(cells, out.failures)
    pareto_plot(pareto, out.pareto)
    nrq_vs_size(pd.read_parquet(snakemake.input.nrq), snakemake.params.sizes, out.nrq_vs_size)
    for path in out:
        print(f"[plot] wrote {path}", file=log)
