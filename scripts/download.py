"""Snakemake entry point: store one dataset as normalized JSONL (mirror first, then the hub)."""

from slmbench import registry
from slmbench.data import fetch_dataset, write_jsonl

with open(snakemake.log[0], "w") as log:
    ds = snakemake.params.dataset
    records, source = fetch_dataset(registry.get(ds["name"]), snakemake.config["data_mirror"], ds["hub_id"], ds["split"])
    print(f"[download] {ds['name']}: {len(records)} records from {source}", file=log)
    write_jsonl(snakemake.output[0], records)
