"""Snakemake entry point: the study's analysis (Table 2, NRQ, composite z, leading advantage,
paired comparisons, Pareto frontier, failures, costs) as CSV, Parquet and HTML, and summary.json."""

import json
import time
from pathlib import Path

import pandas as pd

from slmbench.analysis import composite_z
from slmbench.constrained_view import constrained_page, constrained_table
from slmbench.data import read_dataset, read_jsonl
from slmbench.summary import (
    base_paradigm,
    cell_answers,
    comparisons_table,
    cost_table,
    failures_table,
    headline,
    leading_table,
    nrq_table,
    paradigm_table,
    pareto_table,
    scorers,
)
from slmbench.tables import analysis_pages

settings = snakemake.params.settings
options = snakemake.params.options  # defaults: schemas/config.schema.yaml, analysis
out = snakemake.output

with open(snakemake.log[0], "w") as log:
    t0 = time.perf_counter()
    cells = pd.read_parquet(snakemake.input.cells)
    base = base_paradigm(settings["paradigms"])
    datasets = {Path(p).name.removesuffix(".jsonl"): read_dataset(p) for p in snakemake.input.datasets}
    answers = cell_answers([r for p in snakemake.input.samples for r in read_jsonl(p)], datasets)
    fns, sizes = scorers(answers)

    tables = {
        "paradigms": paradigm_table(cells, base, n_boot=options["n_boot"], seed=options["seed"], order=list(settings["paradigms"])),
        "nrq": nrq_table(cells, fns, sizes, base, n_boot=options["n_boot"], seed=options["seed"]),
        "composite_z": composite_z(cells),
        "leading_advantage": leading_table(cells),
        "comparisons": comparisons_table(answers, list(settings["paradigms"]), n_resamples=options["n_permutations"], seed=options["seed"], fns=fns),
        "pareto": pareto_table(cells, base),
        "failures": failures_table(cells),
        "costs": cost_table(cells),
    }
    constrained = constrained_table(cells, settings["paradigms"])
    Path(out.constrained_html).write_text(constrained_page(constrained))
    for name, table in {**tables, "constrained": constrained}.items():
        if name in ("failures", "costs"):
            continue  # HTML only: these are views of cells.csv
        table.to_csv(out[f"{name}_csv"], index=False)
        table.to_parquet(out[f"{name}_parquet"], index=False)
        print(f"[analyze] {name}: {len(table)} rows", file=log)
    for name, page in analysis_pages(**tables).items():
        Path(out[f"{name}_html"]).write_text(page)
    summary = headline(cells, tables["paradigms"], tables["nrq"], tables["pareto"], tables["comparisons"], {**settings, "analysis": options}, base)
    Path(out.summary).write_text(json.dumps(summary, indent=2))
    print(f"[analyze] done in {time.perf_counter() - t0:.1f} s; energy measured: {summary['energy']['measured']}", file=log)
