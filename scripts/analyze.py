"""Snakemake entry point: every analysis table of the catalog (slmbench/results/catalog.py) in each
of its formats, and summary.json."""

import json
import time
from pathlib import Path

import pandas as pd

from slmbench.data import read_dataset, read_jsonl
from slmbench.results.catalog import TABLES
from slmbench.results.headline import headline
from slmbench.results.html import table_page
from slmbench.results.tables import Study, build_tables, cell_answers

design = snakemake.params.design
options = snakemake.params.options  # defaults: schemas/config.schema.yaml, analysis
out = snakemake.output

with open(snakemake.log[0], "w") as log:
    t0 = time.perf_counter()
    cells = pd.read_parquet(snakemake.input.cells)
    datasets = {Path(p).name.removesuffix(".jsonl"): read_dataset(p) for p in snakemake.input.datasets}
    answers = cell_answers([r for p in snakemake.input.samples for r in read_jsonl(p)], datasets)
    study = Study(cells, answers, design, options)
    tables = build_tables(study, TABLES)
    for table in TABLES:
        frame = tables[table.name]
        if "csv" in table.formats:
            frame.to_csv(out[f"{table.name}_csv"], index=False)
        if "parquet" in table.formats:
            frame.to_parquet(out[f"{table.name}_parquet"], index=False)
        if "html" in table.formats:
            Path(out[f"{table.name}_html"]).write_text(table_page(table, frame, design))
        print(f"[analyze] {table.name}: {len(frame)} rows", file=log)
    summary = headline(cells, tables["paradigms"], tables["nrq"], tables["pareto"], tables["comparisons"], {**design, "analysis": options}, study.base)
    Path(out.summary).write_text(json.dumps(summary, indent=2))
    print(f"[analyze] done in {time.perf_counter() - t0:.1f} s; energy measured: {summary['energy']['measured']}", file=log)
