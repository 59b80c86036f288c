"""Snakemake entry point: fetch one SGLang model's files from the hub into the shared hub cache and
record the commit and snapshot folder its servers start from (offline)."""

import sys

from slmbench.engines import EngineError
from slmbench.engines.hub import fetch
from slmbench.quick_exit import skip_exit_collection

with open(snakemake.log[0], "w") as log:
    try:
        fetch(snakemake.wildcards.model, snakemake.params.weights, snakemake.config["hub_cache"], snakemake.output[0], log)
    except EngineError as e:
        print(f"[weights] {e}", file=log)
        sys.exit(f"[weights] {e}")
skip_exit_collection()  # everything above is written and closed
