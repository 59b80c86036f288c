"""Snakemake entry point: the readable trace page of one cell."""

from pathlib import Path

from slmbench.data import read_jsonl
from slmbench.trace_page import render_trace_page

with open(snakemake.log[0], "w") as log:
    Path(snakemake.output[0]).write_text(render_trace_page(read_jsonl(snakemake.input[0])))
    print(f"[trace_page] wrote {snakemake.output[0]}", file=log)
