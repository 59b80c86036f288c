"""The report's view of constrained decoding (beyond the paper): each paradigm with and without a grammar.

A constrained paradigm (`constrain: protocol` or `answer`) is paired with the unconstrained paradigm
of the same kind whose other settings are the same (else the first unconstrained one of that kind),
and each model's completion rate, score and failure kinds are put side by side, per dataset and
averaged over datasets. The grammar rules out the failures of form (no final answer, malformed
actions, unknown tools, no delegation, an unknown specialist), so what it adds to completion is the
share of samples that failed only on the protocol; what remains is the model's handling of the task.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

COLUMNS = [
    "model", "paradigm", "constrained", "constrain", "dataset", "n",
    "completion_free", "completion_grammar", "read_free", "read_grammar", "score_free", "score_grammar", "score_gain",
    "failures_free", "failures_grammar",
]  # fmt: skip
ALL_DATASETS = "mean over datasets"


def pairs(paradigms: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Each constrained paradigm's unconstrained counterpart: same kind, the same other settings where one has them."""
    free = {name: entry for name, entry in paradigms.items() if (entry or {}).get("constrain", "none") == "none"}
    out = {}
    for name, entry in paradigms.items():
        if (entry or {}).get("constrain", "none") == "none":
            continue
        same_kind = [n for n, e in free.items() if e.get("kind") == entry.get("kind")]
        rest = {k: v for k, v in entry.items() if k != "constrain"}
        twin = [n for n in same_kind if {k: v for k, v in free[n].items() if k != "constrain"} == rest]
        if twin or same_kind:
            out[name] = (twin or same_kind)[0]
    return out


def _failures(row: pd.Series) -> str:
    """'3 no_final_answer, 1 malformed_action': the failure kinds of a cell, most frequent first."""
    counts = {k.removeprefix("failures_"): int(v) for k, v in row.items() if k.startswith("failures_") and v and v == v}
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"


def constrained_table(cells: pd.DataFrame, paradigms: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Per model, constrained paradigm and dataset (and a mean over datasets): completion and score
    without the grammar (`_free`) and with it (`_grammar`). The mean score uses only datasets whose
    metric is higher-is-better, so that scores of opposite directions are not averaged."""
    rows = []
    for constrained, free in pairs(paradigms).items():
        mode = paradigms[constrained]["constrain"]
        a = cells.loc[cells["paradigm"] == free].set_index(["model", "dataset"])
        b = cells.loc[cells["paradigm"] == constrained].set_index(["model", "dataset"])
        for model, dataset in b.index.intersection(a.index):
            x, y = a.loc[(model, dataset)], b.loc[(model, dataset)]
            rows.append({
                "model": model, "paradigm": free, "constrained": constrained, "constrain": mode, "dataset": dataset,
                "n": int(y["n"]), "completion_free": x["completion_rate"], "completion_grammar": y["completion_rate"],
                "read_free": 1 - x["n_missing_answer"] / x["n"], "read_grammar": 1 - y["n_missing_answer"] / y["n"],
                "score_free": x["score"], "score_grammar": y["score"], "score_gain": y["score"] - x["score"],
                "failures_free": _failures(x), "failures_grammar": _failures(y),
                "_higher": bool(y.get("higher_is_better", True)),
            })  # fmt: skip
    table = pd.DataFrame(rows, columns=[*COLUMNS, "_higher"])
    if table.empty:
        return table.drop(columns="_higher")
    means = []
    for (model, constrained), group in table.groupby(["model", "constrained"], sort=False):
        higher = group.loc[group["_higher"]]
        means.append({
            **group.iloc[0][["model", "paradigm", "constrained", "constrain"]].to_dict(), "dataset": ALL_DATASETS,
            "n": int(group["n"].sum()), "completion_free": group["completion_free"].mean(),
            "completion_grammar": group["completion_grammar"].mean(), "read_free": group["read_free"].mean(),
            "read_grammar": group["read_grammar"].mean(), "score_free": higher["score_free"].mean(),
            "score_grammar": higher["score_grammar"].mean(), "score_gain": higher["score_gain"].mean(),
            "failures_free": "", "failures_grammar": "",
        })  # fmt: skip
    out = pd.concat([pd.DataFrame(means), table.drop(columns="_higher")], ignore_index=True)
    return out.sort_values(["model", "constrained", "dataset"], key=lambda s: s.map(lambda v: (v != ALL_DATASETS, v)), kind="stable").reset_index(drop=True)
