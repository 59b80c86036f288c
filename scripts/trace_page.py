"""Snakemake entry point: the readable trace page of one cell."""

from pathlib import Path

from slmbench.data import read_jsonl
from slmbench.results.trace_page import render_trace_page

with open(snakemake.log[0], "w") as log:
    page = render_trace_page(read_jsonl(snakemake.input.generations), read_jsonl(snakemake.input.scored))
    Path(snakemake.output[0]).write_text(page)
    print(f"[trace_page] wrote {snakemake.output[0]}", file=log)
