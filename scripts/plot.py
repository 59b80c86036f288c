"""Snakemake entry point: every figure of the catalog (slmbench/results/catalog.py), drawn from the tables it names."""

import pandas as pd

from slmbench.results import figures
from slmbench.results.catalog import FIGURES

with open(snakemake.log[0], "w") as log:
    tables = {name: pd.read_parquet(path) for name, path in snakemake.input.items()}
    for figure in FIGURES:
        draw = getattr(figures, figure.draw)
        draw(*(tables[name] for name in figure.inputs), snakemake.output[figure.name])
        print(f"[plot] wrote {snakemake.output[figure.name]}", file=log)
