"""Snakemake entry point: build the BM25 index the local search tools read."""

from slmbench.quick_exit import skip_exit_collection
from slmbench.tools.local_search import build_index

with open(snakemake.log[0], "w") as log:
    build_index(snakemake.input[0], snakemake.output[0])
    print(f"[search_index] indexed {snakemake.input[0]} into {snakemake.output[0]}", file=log)
skip_exit_collection()  # everything above is written and closed
