"""Snakemake entry point: score every dataset of one model x paradigm, and write each one's trace page."""

import json
from pathlib import Path

from slmbench.data import read_dataset, read_jsonl, write_jsonl
from slmbench.quick_exit import skip_exit_collection
from slmbench.results.trace_page import render_trace_page
from slmbench.score import score_cell
from slmbench.sidecar import read_meta

inputs, out = snakemake.input, snakemake.output
n_boot, seed = snakemake.params.n_boot, snakemake.params.seed  # defaults: schemas/config.schema.yaml, analysis
datasets = {Path(p).name.removesuffix(".jsonl"): p for p in inputs.datasets}
with open(snakemake.log[0], "w") as log:
    for i, (generations_path, meta_path) in enumerate(zip(inputs.generations, inputs.meta)):
        meta = read_meta(meta_path)  # the generation job's energy and hardware
        generations = read_jsonl(generations_path)
        dataset = Path(generations_path).name.removesuffix(".jsonl")
        rows_read = read_dataset(datasets[dataset], ids={str(g["id"]) for g in generations})  # only the cell's rows
        summary, rows = score_cell(generations, rows_read, meta, n_boot=n_boot, seed=seed)
        print(f"[score] {summary['model']}/{summary['paradigm']}/{summary['dataset']}: {summary['metric']} = {summary['score']:.4f}", file=log)
        print(f"[score] 95% bootstrap interval ({n_boot} resamples): [{summary['score_ci_low']:.4f}, {summary['score_ci_high']:.4f}]", file=log)
        print(f"[score] energy: {summary['energy_note']}", file=log)
        with open(out.summaries[i], "w") as f:
            json.dump(summary, f, indent=2)
        write_jsonl(out.samples[i], rows)
        Path(out.traces[i]).write_text(render_trace_page(generations, read_jsonl(out.samples[i])))
        print(f"[score] wrote {out.traces[i]}", file=log)
skip_exit_collection()  # everything above is written and closed
