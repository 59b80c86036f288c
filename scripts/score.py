"""Snakemake entry point: score one cell."""

import json

from slmbench.data import read_jsonl, write_jsonl
from slmbench.score import score_cell

with open(snakemake.log[0], "w") as log:
    summary, rows = score_cell(read_jsonl(snakemake.input.generations), read_jsonl(snakemake.input.dataset))
    print(f"[score] {summary['model']}/{summary['paradigm']}/{summary['dataset']}: {summary['metric']} = {summary['score']:.4f}", file=log)
    with open(snakemake.output.summary, "w") as f:
        json.dump(summary, f, indent=2)
    write_jsonl(snakemake.output.samples, rows)
