"""Snakemake entry point: score one cell."""

import json

from slmbench.data import read_dataset, read_jsonl, write_jsonl
from slmbench.energy import read_meta
from slmbench.score import score_cell

with open(snakemake.log[0], "w") as log:
    meta = read_meta(snakemake.input.meta)  # the generation job's energy and hardware
    analysis = snakemake.params.analysis  # n_boot, seed (defaults: schemas/config.schema.yaml, analysis)
    summary, rows = score_cell(
        read_jsonl(snakemake.input.generations), read_dataset(snakemake.input.dataset), meta, n_boot=analysis["n_boot"], seed=analysis["seed"]
    )
    print(f"[score] {summary['model']}/{summary['paradigm']}/{summary['dataset']}: {summary['metric']} = {summary['score']:.4f}", file=log)
    print(f"[score] 95% bootstrap interval ({analysis['n_boot']} resamples): [{summary['score_ci_low']:.4f}, {summary['score_ci_high']:.4f}]", file=log)
    print(f"[score] energy: {summary['energy_note']}", file=log)
    with open(snakemake.output.summary, "w") as f:
        json.dump(summary, f, indent=2)
    write_jsonl(snakemake.output.samples, rows)
