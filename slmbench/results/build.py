"""Every table and figure of the catalog from the cells' scores, in one process: the per-cell tables,
the analysis tables with summary.json, then the figures drawn from the tables as written.

One job instead of three (aggregate, analyze, plot) saves two Python starts with pandas and two
of Snakemake's job hand-overs on every run (bench/README.md, "One cell, whole run").
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from ..data import read_dataset, read_jsonl
from . import figures
from . import catalog
from .catalog import FIGURES, TABLES
from .front import front_page
from .page import caption_html, page
from .cells import cells_table, samples_table
from .headline import headline
from .html import cells_page, table_page
from .tables import Study, build_tables, cell_answers

CSV_FLOAT = "%.10g"  # ten significant digits: no binary noise (45.620599999999996) in the CSVs people read


def build_results(summaries: Sequence[str], samples: Sequence[str], datasets: Sequence[str], out: Mapping[str, str], *,
                  labels: dict[str, Any], design: dict[str, Any], options: dict[str, Any], log: TextIO,
                  settings: dict[str, Any] | None = None) -> None:
    """`out`: the rule's outputs by name (rules/results.smk): cells_{csv,parquet,html}, samples,
    <table>_<format> for each catalog table, summary, front (the answer page's fragment), method
    (the method and departures page, its text rendered against `settings`, the run's whole config),
    and <figure> for each catalog figure."""
    start = time.perf_counter()
    cells = cells_table(summaries, labels=labels)
    cells.to_csv(out["cells_csv"], index=False, float_format=CSV_FLOAT)
    cells.to_parquet(out["cells_parquet"], index=False)
    sample_rows = [r for p in samples for r in read_jsonl(p)]  # read once: the samples table and the scored answers
    samples_table(sample_rows).to_parquet(out["samples"], index=False)
    Path(out["cells_html"]).write_text(cells_page(cells, design))
    print(f"[results] cells: {len(cells)} rows", file=log, flush=True)

    records = {Path(p).name.removesuffix(".jsonl"): read_dataset(p) for p in datasets}
    study = Study(cells, cell_answers(sample_rows, records), design, options)
    tables = build_tables(study, TABLES)
    for table in TABLES:
        frame = tables[table.name]
        if "csv" in table.formats:
            frame.to_csv(out[f"{table.name}_csv"], index=False, float_format=CSV_FLOAT)
        if "parquet" in table.formats:
            frame.to_parquet(out[f"{table.name}_parquet"], index=False)
        if "html" in table.formats:
            Path(out[f"{table.name}_html"]).write_text(table_page(table, frame, design))
        print(f"[results] {table.name}: {len(frame)} rows", file=log, flush=True)
    summary = headline(cells, tables["paradigms"], tables["nrq"], tables["pareto"], tables["comparisons"], {**design, "analysis": options}, study.base)
    Path(out["summary"]).write_text(json.dumps(summary, indent=2))
    Path(out["front"]).write_text(front_page(tables["paradigms"], cells, tables["comparisons"], design))
    Path(out["method"]).write_text(page(catalog.METHOD.title, caption_html(catalog.METHOD.caption, settings or design)))

    written = {"cells": out["cells_parquet"], **{t.name: out[f"{t.name}_parquet"] for t in TABLES if "parquet" in t.formats}}
    frames = {name: pd.read_parquet(written[name]) for name in dict.fromkeys(n for f in FIGURES for n in f.inputs)}
    for figure in FIGURES:
        getattr(figures, figure.draw)(*(frames[name] for name in figure.inputs), out[figure.name])
        print(f"[results] wrote {out[figure.name]}", file=log, flush=True)
    print(f"[results] done in {time.perf_counter() - start:.1f} s; energy measured: {summary['energy']['measured']}", file=log, flush=True)
