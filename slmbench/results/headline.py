"""`results/summary.json`: the run's settings, hardware, energy status and headline numbers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .tables import ALL_CATEGORIES, can_reach


def headline(
    cells: pd.DataFrame,
    paradigms: pd.DataFrame,
    nrq: pd.DataFrame,
    pareto: pd.DataFrame,
    comparisons: pd.DataFrame,
    settings: dict[str, Any],
    base: str = "base",
) -> dict[str, Any]:
    """`results/summary.json`: the run's settings, hardware, energy status and headline numbers."""
    overall = nrq.loc[nrq["category"] == ALL_CATEGORIES]
    measured = cells["energy_measured"].fillna(False).astype(bool) if "energy_measured" in cells else pd.Series(False, index=cells.index)
    hardware = {}
    for hw in cells.get("hardware_label", pd.Series(dtype=object)).dropna():
        if hw:
            hardware[hw] = hardware.get(hw, 0) + 1
    significant = comparisons.loc[comparisons["favours"] != ""] if len(comparisons) else comparisons
    return _clean(
        {
            "settings": {**settings, "base_paradigm": base},
            "grid": {
                "models": int(cells["model"].nunique()), "paradigms": int(cells["paradigm"].nunique()),
                "datasets": int(cells["dataset"].nunique()), "cells": len(cells), "samples": int(cells["n"].sum()),
            },
            "hardware": [{"hardware": k, "cells": v} for k, v in hardware.items()],
            "energy": {
                "measured": bool(measured.any()),
                "cells_measured": int(measured.sum()),
                "sources": sorted(set(cells.loc[measured, "energy_source"].dropna())) if measured.any() else [],
                "notes": sorted(set(cells.get("energy_note", pd.Series(dtype=object)).dropna())),
            },
            "table2": paradigms.set_index("paradigm").to_dict(orient="index"),
            "nrq": {f"{r.model} / {r.paradigm}": {"nrq": r.nrq, "ci_low": r.ci_low, "ci_high": r.ci_high} for r in overall.itertuples()},
            "best_configuration": best_configuration(pareto),
            "pareto_tokens": [f"{r.model} / {r.paradigm}" for r in pareto.loc[pareto["pareto_tokens_per_sample"]].itertuples()],
            "comparisons": {
                "tests": len(comparisons),
                "testable": can_reach(comparisons),
                "significant_holm": len(significant),
                "favouring": significant["favours"].value_counts().to_dict() if len(significant) else {},
            },
        }
    )  # fmt: skip


def best_configuration(configs: pd.DataFrame) -> dict[str, Any] | None:
    """The configuration with the highest composite z, with its `flagged` mark (its score rests on
    echoed, cut or disputed answers) and, beside it, the best one whose scores are not flagged."""
    if not len(configs):
        return None
    ranked = configs.sort_values("composite_z", ascending=False)
    flagged = ranked["flagged"].astype(bool) if "flagged" in ranked else pd.Series(False, index=ranked.index)

    def entry(row) -> dict[str, Any]:
        return {"model": row["model"], "paradigm": row["paradigm"], "composite_z": row["composite_z"], "nrq": row.get("nrq"), "flagged": bool(flagged[row.name])}

    clean = ranked.loc[~flagged]
    return {**entry(ranked.iloc[0]), "unflagged": entry(clean.iloc[0]) if len(clean) else None}


def _clean(value):
    """JSON-safe: NaN -> null, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
