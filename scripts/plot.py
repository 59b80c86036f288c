"""Snakemake entry point: draw the figures from the per-cell table."""

import pandas as pd

from slmbench.plots import score_by_model

with open(snakemake.log[0], "w") as log:
    score_by_model(pd.read_csv(snakemake.input[0]), snakemake.output[0])
    print(f"[plot] wrote {snakemake.output[0]}", file=log)
