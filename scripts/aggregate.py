"""Snakemake entry point: collect every cell's scores into tidy tables."""

from pathlib import Path

from slmbench.results.cells import cells_table, samples_table
from slmbench.results.html import cells_page

with open(snakemake.log[0], "w") as log:
    cells = cells_table(snakemake.input.summaries, labels=snakemake.params.labels)
    cells.to_csv(snakemake.output.csv, index=False)
    cells.to_parquet(snakemake.output.parquet, index=False)
    samples_table(snakemake.input.samples).to_parquet(snakemake.output.samples, index=False)
    Path(snakemake.output.html).write_text(cells_page(cells, snakemake.params.design))
    print(f"[aggregate] {len(cells)} cells", file=log)
