"""Snakemake entry point: store one dataset as normalized JSONL (mirror first, then the hub).

A dataset found nowhere, or with a bad row, fails the job with one message (file, line, id) in
its log and on the console, and nothing is written: no later step can read an unchecked file.
"""

import sys

from slmbench import registry
from slmbench.data import DatasetUnavailable, fetch_dataset, write_jsonl
from slmbench.quick_exit import skip_exit_collection
from slmbench.records import InvalidRecord

with open(snakemake.log[0], "w") as log:
    ds = snakemake.params.dataset
    try:
        records, source = fetch_dataset(registry.get(ds["name"]), snakemake.config["data_mirror"], ds["hub_id"], ds["split"], ds.get("revision"))
    except (DatasetUnavailable, InvalidRecord) as e:
        message = f"[download] {ds['name']}: {e}"
        print(message, file=log)
        sys.exit(message)
    print(f"[download] {ds['name']}: {len(records)} records from {source}", file=log)
    write_jsonl(snakemake.output[0], records)
skip_exit_collection()  # everything above is written and closed
