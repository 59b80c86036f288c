"""The report's answer page (`results/front.html`, included by report/workflow.rst): the verdict in
three generated lines and Table 2 in the paper's layout with the paper's numbers beside ours.

Short on purpose: Snakemake's report centres its landing page vertically in a box of the window's
height, so a page taller than the window is clipped at the top with no scroll position reaching
it. Everything longer (method, departures) is its own report item.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from . import paper
from .html import percent
from .tables import can_reach

COLUMNS = {  # Table 2's columns as the paper prints them
    "nrq": "NRQ", "completion_rate": "completed (read)", "latency_mean_s": "latency s",
    "tokens_per_sample": "tokens", "tokens_per_s": "tok/s", "energy_mj_per_token": "mJ/tok",
}  # fmt: skip


def _number(value: Any, column: str) -> str:
    if value is None or value != value:
        return "undefined" if column == "nrq" else "&ndash;"
    if column == "completion_rate":
        return percent(value)
    if column in ("tokens_per_sample", "tokens_per_s"):
        return f"{value:,.0f}"
    return f"{value:.2f}"


def verdict(table2: pd.DataFrame, cells: pd.DataFrame, comparisons: pd.DataFrame) -> list[str]:
    """Three lines: the best paradigm on quality (NRQ, with its mark when it rests on flagged
    answers), the cheapest on cost (tokens per sample), and whether the difference is testable."""
    flagged = cells.groupby("paradigm", sort=False)["flagged"].sum() if "flagged" in cells else pd.Series(dtype=int)
    rows = table2.set_index("paradigm")
    lines = []
    quality = rows["nrq"].dropna()
    if len(quality):
        best = quality.idxmax()
        mark = int(flagged.get(best, 0))
        lines.append(f"Quality: {best} has the highest NRQ ({quality[best]:.2f})"
                     + (f", but {mark} of its cells rest on echoed, cut or disputed answers (flagged)." if mark else "."))
    else:
        lines.append("Quality: NRQ is undefined for every paradigm (the base scored 0 wherever it was measured).")
    cost = rows["tokens_per_sample"].dropna()
    if len(cost):
        cheap = cost.idxmin()
        lines.append(f"Cost: {cheap} is cheapest ({cost[cheap]:,.0f} tokens and {rows.loc[cheap, 'latency_mean_s']:.1f} s per sample).")
    n = int(cells["n"].max()) if len(cells) else 0
    if not len(comparisons):
        lines.append("Testable: no pair of paradigms was compared.")
    elif can_reach(comparisons):
        significant = int((comparisons["favours"] != "").sum())
        lines.append(f"Testable: {significant} of {len(comparisons)} paired tests show a difference after Holm's adjustment.")
    else:
        lines.append(f"Not testable: with {n} samples per cell no paired test can reach p < 0.05 after adjusting {len(comparisons)} tests.")
    return lines


def front_page(table2: pd.DataFrame, cells: pd.DataFrame, comparisons: pd.DataFrame, design: dict[str, Any]) -> str:
    """The HTML fragment: verdict, then Table 2 with the paper's row under each paradigm of its kinds."""
    kinds = {name: p.get("kind") for name, p in design.get("paradigms", {}).items()}
    constrained = {name for name, p in design.get("paradigms", {}).items() if p.get("constrain") not in (None, "none")}
    marks = cells.groupby("paradigm", sort=False)["flagged"].any() if "flagged" in cells else pd.Series(dtype=bool)
    head = "".join(f"<th>{label}</th>" for label in ["paradigm", *COLUMNS.values()])
    body = []
    for row in table2.to_dict(orient="records"):
        name = row["paradigm"]
        values = []
        for column in COLUMNS:
            text = _number(row.get(column), column)
            if column == "completion_rate" and "answer_read_rate" in row:
                text += f" ({percent(row['answer_read_rate'])})"
            values.append(text)
        label = html.escape(name) + (" &#8224;" if marks.get(name, False) else "")
        body.append("<tr><td>" + label + "</td>" + "".join(f"<td>{v}</td>" for v in values) + "</tr>")
        theirs = paper.TABLE2.get(kinds.get(name)) if name not in constrained else None
        if theirs:
            body.append("<tr style='color:#777'><td>&nbsp;paper</td>" + "".join(f"<td>{_number(theirs[c], c)}</td>" for c in COLUMNS) + "</tr>")
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in verdict(table2, cells, comparisons))
    n_models = int(table2["n_models"].max()) if "n_models" in table2 and len(table2) else 0
    notes = (f"&#8224; rests on flagged answers. Grey rows: the paper ({paper.SOURCE}; 24 models, 50 samples). "
             f"Ours: {n_models} model(s); completed (read): samples that ended with an answer (with one the scorer could read). "
             "NRQ leaves out datasets whose base scored 0.")
    # Snakemake's landing box is 32rem wide (max-w-lg): Table 2 needs one line per row to fit the window's height
    return (f"<style>.prose.max-w-lg{{max-width:54rem}}.prose.max-w-lg td,.prose.max-w-lg th{{padding-top:2px;padding-bottom:2px}}</style><ul>{lines}</ul><table style='font-size:12px'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<p style='font-size:11px'>{notes}</p>")
