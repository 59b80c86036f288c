"""Snakemake entry point: run one cell (model x paradigm x dataset)."""

import sys

from slmbench.config import run_settings
from slmbench.data import TooFewRecords
from slmbench.generate import generate_cell
from slmbench.quick_exit import skip_exit_collection

with open(snakemake.log[0], "w") as log:
    index = list(snakemake.input.index)
    try:
        generate_cell(
            snakemake.params.cell, snakemake.input.dataset, snakemake.output[0],
            settings=run_settings(snakemake.config), search_index=index[0] if index else None, log=log,
        )
    except TooFewRecords as e:  # a config error, said once, without a traceback
        print(f"[generate] {e}", file=log)
        sys.exit(f"[generate] {e}")
skip_exit_collection()  # everything above is written and closed
