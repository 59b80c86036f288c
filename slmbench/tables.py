"""Tidy tables of a run: one row per cell, one row per sample, and a readable HTML page."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from .data import read_jsonl

SUMMARY_COLUMNS = {
    "score": "score",
    "completion_rate": "completion rate",
    "tokens_per_sample": "tokens / sample",
    "latency_mean_s": "latency / sample (s)",
    "tokens_per_s": "tokens / s",
}


# Per-cell columns that are numbers even when every cell has NaN/None there (e.g. energy not measured).
NUMERIC_COLUMNS = (
    "score", "score_ci_low", "score_ci_high", "completion_rate", "failure_rate", "latency_mean_s", "latency_median_s", "latency_p95_s",
    "prompt_tokens_per_sample", "completion_tokens_per_sample", "tokens_per_sample", "llm_calls_per_sample",
    "tokens_per_s", "energy_j", "energy_mj_per_token", "energy_j_per_sample", "cached_call_share", "generation_s",
)  # fmt: skip


def cells_table(summary_paths: list[str], labels: dict[str, dict[str, Any]] | None = None) -> pd.DataFrame:
    """One row per cell; nested metrics, failure counts and hardware become flat columns.

    `labels` maps a model to its label columns from the config (`size_b`, `family`)."""
    rows = []
    for path in summary_paths:
        summary: dict[str, Any] = json.loads(Path(path).read_text())
        metrics, failures = summary.pop("metrics"), summary.pop("failures")
        hardware = summary.pop("hardware", None) or {}
        summary.update({f"metric_{k}": v for k, v in metrics.items() if k not in ("n",)})
        summary.update({f"failures_{k}": v for k, v in failures.items()})
        summary["hardware_cpu"] = hardware.get("cpu")
        summary["hardware_gpus"] = ", ".join(hardware.get("gpus") or [])
        rows.append(summary)
    frame = pd.DataFrame(rows)
    for column in NUMERIC_COLUMNS:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in ("energy_source", "energy_note", "hardware_label", "hardware_cpu"):
        if column in frame:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None).astype("string")
    if labels is not None:
        frame["size_b"] = pd.to_numeric(frame["model"].map(lambda m: (labels.get(m) or {}).get("size_b")), errors="coerce").astype(float)
        frame["family"] = frame["model"].map(lambda m: (labels.get(m) or {}).get("family")).astype("string")
    return frame.sort_values(["model", "paradigm", "dataset"], ignore_index=True)


def samples_table(sample_paths: list[str]) -> pd.DataFrame:
    """One row per sample; answers and golds (labels, numbers or entity lists) as JSON text."""
    rows = [r for p in sample_paths for r in read_jsonl(p)]
    frame = pd.DataFrame(rows)
    for column in ("answer", "gold"):
        frame[column] = frame[column].map(lambda v: json.dumps(v, ensure_ascii=False))
    return frame


def scores_wide(cells: pd.DataFrame) -> pd.DataFrame:
    """Score per dataset (columns) for each model and paradigm (rows)."""
    labels = cells.assign(column=cells["dataset"] + " (" + cells["metric"] + ")")
    return labels.pivot_table(index=["model", "paradigm"], columns="column", values="score").reset_index()


def cells_html(cells: pd.DataFrame, title: str = "slmbench: results per cell") -> str:
    from .summary import config_costs

    per_config = config_costs(cells).rename(columns={**SUMMARY_COLUMNS, "failed": "failed samples"})
    every = cells.drop(columns=[c for c in ("energy_note",) if c in cells.columns])
    sections = [
        ("Score per dataset", "FinBen's primary metric of each dataset (in brackets); higher is better except RMSE.", scores_wide(cells)),
        ("Cost and completion per model and paradigm", "Means over datasets; failed samples is the sum over datasets.", per_config),
        ("Every cell", "One row per model x paradigm x dataset, with all metrics and failure counts.", every),
    ]
    return html_page(title, sections)


STYLE = (
    "body{font-family:sans-serif;margin:1em;color:#222}h2{font-size:1.1em;margin-top:1.5em}p{max-width:60em}"
    "table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}"
    "th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}"
)


def _format(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "&ndash;"
    if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
        return "yes" if value else ""
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        magnitude = abs(value)
        if magnitude != 0 and (magnitude < 1e-3 or magnitude >= 1e5):
            return f"{value:.3g}"
        return f"{value:,.3f}" if magnitude < 1000 else f"{value:,.0f}"
    return html.escape(str(value))


def html_table(frame: pd.DataFrame, headers: dict[str, str] | None = None, raw: tuple[str, ...] = ()) -> str:
    """A readable HTML table: renamed headers, numbers with 3 decimals, missing values as a dash.

    Columns named in `raw` hold ready HTML (e.g. 'estimate [low, high]')."""
    headers = {**HEADERS, **(headers or {})}
    if frame.empty:
        return "<p><em>No rows.</em></p>"
    head = "".join(f"<th>{html.escape(headers.get(c, str(c).replace('_', ' ')))}</th>" for c in frame.columns)
    raw_at = {i for i, c in enumerate(frame.columns) if c in raw}
    body = "".join(
        "<tr>" + "".join(f"<td>{v if i in raw_at else _format(v)}</td>" for i, v in enumerate(row)) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_page(title: str, sections: list[tuple[str, str, pd.DataFrame]], intro: str = "", raw: tuple[str, ...] = ()) -> str:
    """A page of (heading, explanation, table) sections."""
    body = f"<p>{html.escape(intro)}</p>" if intro else ""
    body += "".join(f"<h2>{html.escape(h)}</h2><p>{html.escape(p)}</p>{html_table(t, raw=raw)}" for h, p, t in sections)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


HEADERS = {
    "nrq": "NRQ", "ci_low": "CI low", "ci_high": "CI high",
    "completion_rate": "completion rate", "latency_mean_s": "latency / sample (s)", "latency_median_s": "latency median (s)",
    "latency_p95_s": "latency p95 (s)", "tokens_per_sample": "tokens / sample", "tokens_per_s": "tokens / s",
    "energy_mj_per_token": "energy (mJ / token)", "energy_j_per_sample": "energy (J / sample)",
    "prompt_tokens_per_sample": "prompt tokens / sample", "completion_tokens_per_sample": "completion tokens / sample",
    "llm_calls_per_sample": "LLM calls / sample", "cached_call_share": "share of calls from cache",
    "composite_z": "composite z", "leading_advantage_pct": "leading advantage (%)", "p_value": "p", "p_holm": "p (Holm)",
    "p_bh": "p (BH)", "diff": "A - B", "hardware_label": "hardware", "n_models": "models", "n_cells": "cells",
    "failure_rate": "failure rate", "n_datasets_zero_base": "datasets with base score 0",
    "score_ci_low": "score CI low", "score_ci_high": "score CI high", "paradigm_a": "paradigm A", "paradigm_b": "paradigm B", "score_a": "score A", "score_b": "score B",
}  # fmt: skip


def with_ci(frame: pd.DataFrame, column: str, low: str | None = None, high: str | None = None) -> pd.DataFrame:
    """Replace `column` (and its CI columns) by one HTML text column 'estimate [low, high]'."""
    out = frame.copy()
    lows, highs = out.pop(low or f"{column}_ci_low"), out.pop(high or f"{column}_ci_high")
    out[column] = [
        "&ndash;" if e != e else f"{_format(e)} <small>[{_format(lo)}, {_format(hi)}]</small>" for e, lo, hi in zip(out[column], lows, highs)
    ]
    return out


def nrq_zero_base_note(overall: pd.DataFrame) -> str:
    """The NRQ page's one-sentence warning, with how many model x dataset base scores are 0 in this run."""
    n = 0
    if "n_datasets_zero_base" in overall and len(overall):
        n = int(overall.groupby("model")["n_datasets_zero_base"].max().sum())
    return (
        "NRQ is unstable when a base score is near 0 (the gain divides by |base| + 1e-8, so one such dataset swamps "
        f"the mean); this run has {n} model x dataset base score(s) of 0, counted per row in 'datasets with base score 0'."
    )


def analysis_pages(
    paradigms: pd.DataFrame,
    nrq: pd.DataFrame,
    composite_z: pd.DataFrame,
    leading_advantage: pd.DataFrame,
    comparisons: pd.DataFrame,
    pareto: pd.DataFrame,
    failures: pd.DataFrame,
    costs: pd.DataFrame,
) -> dict[str, str]:
    """The report's HTML tables, by name (paradigms, nrq, composite_z, leading_advantage, comparisons,
    pareto, failures, costs)."""
    from .analysis import COST_COLUMNS
    from .summary import ALL_CATEGORIES

    table2 = paradigms
    for column in ["nrq", *COST_COLUMNS]:
        table2 = with_ci(table2, column)
    overall = nrq.loc[nrq["category"] == ALL_CATEGORIES].drop(columns=["category"])
    zero_base_note = nrq_zero_base_note(overall)
    per_category = nrq.loc[nrq["category"] != ALL_CATEGORIES].pivot_table(index=["model", "paradigm"], columns="category", values="nrq", sort=False).reset_index()
    per_category.columns.name = None
    tested = comparisons.sort_values(["p_value", "model", "dataset"]) if len(comparisons) else comparisons
    return {
        "paradigms": html_page("Table 2: the paradigms compared", [(
            "Per paradigm",
            "As the paper's Table 2: NRQ is the mean over models of each model's NRQ (base = 0 by definition); the costs are "
            "means over all cells of the paradigm. In brackets: a 95% bootstrap interval that resamples models (with one "
            "model it collapses to the estimate). A dash: not measured (energy) or not defined.",
            table2,
        )], raw=("nrq", *COST_COLUMNS)),
        "nrq": html_page("Normalized response quality (NRQ)", [
            ("Per model and paradigm", "NRQ: the relative gain of the paradigm's score over the same model's base, averaged within each task "
             "category and then over categories (lower-is-better metrics flipped). CI: 95% paired bootstrap over samples. "
             + zero_base_note,
             with_ci(overall, "nrq", "ci_low", "ci_high")),
            ("Per task category", "The mean relative gain over base within each category (CIs in nrq.csv).", per_category),
        ], raw=("nrq",)),
        "composite_z": html_page("Composite effectiveness (z-score)", [(
            "Per model and paradigm",
            "The mean over datasets of the configuration's z-score among all configurations on that dataset (higher is better; "
            "0 is the average configuration). It compares models as well as paradigms.",
            composite_z.sort_values("composite_z", ascending=False),
        )]),
        "leading_advantage": html_page("Leading advantage of the best paradigm", [
            (f"Per {level}", "The paradigm with the highest mean (oriented) score and its lead over the runner-up, in % of the runner-up's score; "
             "undefined with one paradigm.", leading_advantage.loc[leading_advantage["level"] == level].drop(columns=["level"]))
            for level in dict.fromkeys(leading_advantage["level"])
        ]),
        "comparisons": html_page("Paired comparisons of paradigms", [(
            "Every pair of paradigms, per model and dataset",
            "A - B is the difference of the dataset's primary metric on the same samples (for RMSE negative favours A), with its paired "
            "bootstrap 95% CI; p is a paired permutation test, adjusted over all rows by Holm (family-wise) and Benjamini-Hochberg (false "
            "discovery rate). 'favours' names the better paradigm where Holm's p < 0.05. Empty when only one paradigm ran.",
            tested,
        )]),
        "pareto": html_page("Quality against cost: the Pareto frontier", [(
            "Per model and paradigm",
            "Composite z (quality) against the mean costs; a 'yes' in a pareto column: no other configuration is at least as good "
            "and at most as costly on that cost, and better on one of the two.",
            pareto,
        )]),
        "failures": html_page("Failures", [(
            "Per model and paradigm",
            "Samples that ended without a valid answer, by failure kind (counts summed over datasets) and the failure rate.",
            failures,
        )]),
        "costs": html_page("Cost of every cell", [(
            "Per model, paradigm and dataset",
            "Means per sample: latency (sum of LLM and tool calls), tokens (prompt + completion over all calls), LLM calls; tokens/s is "
            "total tokens over total latency. Energy per token divides the job's measured energy by the tokens of calls actually sent "
            "(calls answered from the cache spent none); a dash: not measured.",
            costs,
        )]),
    }  # fmt: skip
