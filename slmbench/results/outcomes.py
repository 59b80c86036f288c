"""The end of a run: how the samples of each cell ended, read from the cell table.

It runs in Snakemake's own process at the end of every run, so it reads the CSV with the standard
library: importing pandas there would add about 0.4 s to each run's exit (bench/README.md).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from ..trace import FAILURE_KINDS, describe_outcomes

MAX_CELL_LINES = 100  # beyond this, one line per model and paradigm (the table has every cell)


def outcome_lines(cells_csv: Path | str) -> list[str]:
    """One line per cell (or per model x paradigm on a large grid) with its samples' outcomes."""
    with open(cells_csv, newline="") as f:
        cells = list(csv.DictReader(f))
    keys = ["model", "paradigm", "dataset"] if len(cells) <= MAX_CELL_LINES else ["model", "paradigm"]
    samples: Counter = Counter()
    failures: dict[tuple, Counter] = {}
    for cell in cells:
        key = tuple(cell[k] for k in keys)
        samples[key] += int(float(cell["n"]))
        counts = failures.setdefault(key, Counter())
        for kind in FAILURE_KINDS:
            counts[kind] += int(float(cell.get(f"failures_{kind}") or 0))
    lines = [f"How the samples ended ({cells_csv}, per {' x '.join(keys)}):"]
    lines += [f"  {'/'.join(key)}: {describe_outcomes(samples[key], failures[key])}" for key in failures]
    return lines
