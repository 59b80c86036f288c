"""The end of a run: how the samples of each cell ended, read from the cell table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .trace import FAILURE_KINDS, describe_outcomes

MAX_CELL_LINES = 100  # beyond this, one line per model and paradigm (the table has every cell)


def outcome_lines(cells_csv: Path | str) -> list[str]:
    """One line per cell (or per model x paradigm on a large grid) with its samples' outcomes."""
    cells = pd.read_csv(cells_csv)
    kinds = [k for k in FAILURE_KINDS if f"failures_{k}" in cells]
    keys = ["model", "paradigm", "dataset"] if len(cells) <= MAX_CELL_LINES else ["model", "paradigm"]
    grouped = cells.groupby(keys, sort=False)[["n", *(f"failures_{k}" for k in kinds)]].sum()
    lines = [f"How the samples ended ({cells_csv}, per {' x '.join(keys)}):"]
    for key, row in grouped.iterrows():
        failures = {k: int(row[f"failures_{k}"]) for k in kinds}
        lines.append(f"  {'/'.join(key)}: {describe_outcomes(int(row['n']), failures)}")
    return lines
