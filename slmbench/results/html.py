"""The HTML pages of the results' tables: the per-cell page and one page per analysis table (the
trace pages are `trace_page`'s; the frame all pages share is `page`).

A page is its title, its caption (read from `report/<caption>.rst`, the one place captions live,
with the report's Jinja rendered against the run's design) and its sections, each a heading and a
table. How a column is shown is decided here only: its header (`header`) and its kind
(`column_kind`: rates as percentages, counts as integers, other numbers with 3 decimals), missing
values as a dash, estimates with their interval, columns empty in every row left out (and named). How a
table is laid out on its page is its `view` in `slmbench.results.catalog` (a function here).
"""

from __future__ import annotations

import html
from typing import Any, Callable

import pandas as pd

from . import catalog
from .cells import config_costs, scores_wide
from ..text import show_bidi
from .page import caption_html, page
from .stats import COST_COLUMNS, MIN_MODELS_FOR_CI
from .tables import ALL_CATEGORIES, can_reach

HEADERS = {
    "nrq": "NRQ", "ci_low": "CI low", "ci_high": "CI high",
    "completion_rate": "completion rate", "latency_mean_s": "latency / sample (s)", "latency_median_s": "latency median (s)",
    "latency_p95_s": "latency p95 (s)", "tokens_per_sample": "tokens / sample", "tokens_per_s": "tokens / s",
    "energy_mj_per_token": "energy (mJ / token)", "energy_j_per_sample": "energy (J / sample)",
    "prompt_tokens_per_sample": "prompt tokens / sample", "completion_tokens_per_sample": "completion tokens / sample",
    "llm_calls_per_sample": "LLM calls / sample", "cached_call_share": "share of calls from cache",
    "composite_z": "composite z", "leading_advantage_pct": "leading advantage (%)", "p_value": "p", "p_holm": "p (Holm)",
    "p_bh": "p (BH)", "diff": "A - B", "hardware_label": "hardware", "n_models": "models", "n_cells": "cells",
    "failure_rate": "failure rate", "n_datasets_zero_base": "datasets with base score 0", "n_nrq_undefined": "cells left out of NRQ (base 0)", "answer_read_rate": "answers the scorer read", "failed": "failed samples",
    "tokens_per_s_cell_mean": "tokens / s (mean of cells)", "score_finben": "score (FinBen-exact)",
    "score_ci_low": "score CI low", "score_ci_high": "score CI high", "paradigm_a": "paradigm A", "paradigm_b": "paradigm B", "score_a": "score A", "score_b": "score B",
    "n": "samples", "n_missing_answer": "samples without an answer", "n_datasets": "datasets", "energy_j": "energy (J, whole cell)",
    "size_b": "size (billion parameters)", "fresh_tokens": "fresh tokens (not from cache)", "generation_s": "generation time (s)",
    "energy_source": "energy measured by", "energy_measured": "energy measured", "hardware_cpu": "CPU", "hardware_gpus": "GPUs",
    "higher_is_better": "higher is better", "cache_hits": "calls from cache",
}  # fmt: skip

COUNTS = ("n", "failed", "fresh_tokens", "cache_hits")  # besides n_* and failures_*: shown as integers
RATES = ("cached_call_share",)  # besides *_rate and *_share: fractions shown as percentages


def header(column: str) -> str:
    """The column's name for people (the CSV and Parquet files keep the machine name)."""
    if column in HEADERS:
        return HEADERS[column]
    for prefix, words in (("failures_", "failed: "), ("metric_", "metric: "), ("pareto_", "on the frontier of ")):
        if column.startswith(prefix):
            return words + header(column.removeprefix(prefix))
    return str(column).replace("_", " ")


def column_kind(column: str) -> str:
    """rate (a fraction, shown as a percentage), count (an integer) or number."""
    column = str(column)
    if column in RATES or column.endswith(("_rate", "_share")):
        return "rate"
    if column in COUNTS or column.startswith(("n_", "failures_")):
        return "count"
    return "number"

Section = tuple[str, pd.DataFrame]  # (heading, table)


# --- pieces -------------------------------------------------------------------------------------------


def format_value(value, kind: str = "number") -> str:
    """One cell of a table as HTML: a dash when missing, a rate as a percentage, a count as an integer,
    other numbers with 3 decimals (3 significant digits when very small or large: never float noise)."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "&ndash;"
    if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
        return "yes" if value else ""
    numeric = isinstance(value, (int, float)) or type(value).__name__.startswith(("float", "int"))
    if numeric and kind == "rate":
        return f"{value * 100:.1f}%"
    if numeric and kind == "count" and float(value).is_integer():
        return f"{int(value):,}"
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        magnitude = abs(value)
        if magnitude != 0 and (magnitude < 1e-3 or magnitude >= 1e5):
            return f"{value:.3g}"
        return f"{value:,.3f}" if magnitude < 1000 else f"{value:,.0f}"
    return html.escape(show_bidi(str(value)))


def html_table(frame: pd.DataFrame, raw: tuple[str, ...] = ()) -> str:
    """A readable HTML table: renamed headers, numbers with 3 decimals, missing values as a dash.

    Columns named in `raw` hold ready HTML (e.g. 'estimate [low, high]'). Columns empty in every row
    are left out, and named under the table."""
    if frame.empty:
        return "<p><em>No rows.</em></p>"
    empty = [c for c in frame.columns if frame[c].map(lambda v: v is None or v is pd.NA or v == "" or v == "&ndash;" or v != v).all()]
    frame = frame.drop(columns=empty)
    head = "".join(f"<th>{html.escape(header(c))}</th>" for c in frame.columns)
    kinds = [column_kind(c) for c in frame.columns]
    raw_at = {i for i, c in enumerate(frame.columns) if c in raw}
    body = "".join(
        "<tr>" + "".join(f"<td>{v if i in raw_at else format_value(v, kinds[i])}</td>" for i, v in enumerate(row)) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    note = f"<p class='meta'>Empty in every row, so not shown: {html.escape(', '.join(header(c) for c in empty))}.</p>" if empty else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def percent(value) -> str:
    """A rate as the paper prints it: 99.67%."""
    return "&ndash;" if value is None or value != value else f"{100 * value:.2f}%"


def with_ci(frame: pd.DataFrame, column: str, low: str | None = None, high: str | None = None, missing: str = "&ndash;", fmt=None) -> pd.DataFrame:
    """Replace `column` (and its CI columns) by one HTML text column 'estimate [low, high]' (`missing`
    where the estimate is NaN, e.g. "undefined" for an NRQ with no defined gain)."""
    out = frame.copy()
    lows, highs = out.pop(low or f"{column}_ci_low"), out.pop(high or f"{column}_ci_high")
    kind = column_kind(column)
    fmt = fmt or (lambda value: format_value(value, kind))
    out[column] = [
        missing if e != e else f"{fmt(e)} <small>[{fmt(lo)}, {fmt(hi)}]</small>"
        for e, lo, hi in zip(out[column], lows, highs)
    ]
    return out


def sections_page(title: str, caption: str, sections: list[Section], design: dict[str, Any] | None = None, note: str = "", raw: tuple[str, ...] = ()) -> str:
    """A page of (heading, table) sections under the caption (and a note on this run's data)."""
    body = caption_html(caption, design) + (f"<p>{html.escape(note)}</p>" if note else "")
    body += "".join(f"<h2>{html.escape(heading)}</h2>{html_table(frame, raw=raw)}" for heading, frame in sections)
    return page(title, body)


# --- the pages ----------------------------------------------------------------------------------------


CELL_KEYS = ("model", "paradigm", "dataset")
# Every cell's columns in views narrow enough to read beside the report's menu: (heading, columns,
# column prefixes). Columns no view names go to the last one, so none is lost.
CELL_VIEWS = (
    ("quality", ("category", "metric", "higher_is_better", "n", "score", "score_ci_low", "score_ci_high", "score_finben",
                 "n_missing_answer", "echo_share", "cut_share", "disagree_share", "flagged"), ()),
    ("every metric", ("metric",), ("metric_",)),
    ("completion and failures", ("n", "completion_rate", "failure_rate"), ("failures_",)),
    ("latency and tokens", ("latency_mean_s", "latency_median_s", "latency_p95_s", "prompt_tokens_per_sample", "completion_tokens_per_sample",
                            "tokens_per_sample", "llm_calls_per_sample", "tokens_per_s", "fresh_tokens", "cached_call_share", "generation_s"), ()),
    ("energy, hardware and model", (), ()),
)  # fmt: skip


def every_cell(cells: pd.DataFrame) -> list[Section]:
    """Every cell, in the views of CELL_VIEWS (the whole row is 3,000 px wide: clipped beside the menu)."""
    every = cells.drop(columns=[c for c in ("energy_note",) if c in cells.columns])
    keys = [c for c in CELL_KEYS if c in every.columns]
    placed: set[str] = set(keys)
    sections = []
    for heading, names, prefixes in CELL_VIEWS:
        columns = [c for c in every.columns if c in names or c.startswith(prefixes)]
        if heading == CELL_VIEWS[-1][0]:
            columns = [c for c in every.columns if c not in placed]
        placed.update(columns)
        sections.append((f"Every cell: {heading}", every[keys + columns]))
    return sections


def cells_page(cells: pd.DataFrame, design: dict[str, Any] | None = None) -> str:
    """The per-cell page: scores per dataset, cost per model and paradigm, every cell (quality, cost)."""
    sections = [
        ("Score per dataset (slmbench's reading of the answers)", scores_wide(cells)),
        *([("FinBen-exact score per dataset (FinBen's own reading)", scores_wide(cells, "score_finben"))] if "score_finben" in cells else []),
        ("Cost and completion per model and paradigm", config_costs(cells)),
        *every_cell(cells),
    ]
    return sections_page(catalog.CELLS.title, catalog.CELLS.caption, sections, design)


def table_page(table: catalog.Table, frame: pd.DataFrame, design: dict[str, Any] | None = None) -> str:
    """The page of one analysis table, laid out by its view."""
    view: Callable[..., tuple[list[Section], str, tuple[str, ...]]] = VIEWS[table.view]
    sections, note, raw = view(frame)
    return sections_page(table.title, table.caption, sections, design, note=note, raw=raw)


# --- views: how a table is laid out on its page: (sections, note on this run, raw HTML columns) --------


def single(frame: pd.DataFrame):
    return [("Per " + " x ".join(c for c in ("model", "paradigm", "dataset") if c in frame), frame)], "", ()


def paradigms_view(frame: pd.DataFrame):
    n_models = int(frame["n_models"].max()) if len(frame) else 0
    for column in ["nrq", *COST_COLUMNS, "tokens_per_s_cell_mean"]:
        frame = with_ci(frame, column, missing="undefined" if column == "nrq" else "&ndash;", fmt=percent if column == "completion_rate" else None)
    for rate in ("failure_rate", "answer_read_rate"):
        if rate in frame:
            frame[rate] = frame[rate].map(percent)
    note = (f"With {n_models} model(s) the brackets are the range over models (fewer than {MIN_MODELS_FOR_CI} models make no 95% interval)."
            if n_models < MIN_MODELS_FOR_CI else "The brackets are 95% bootstrap intervals over models.")
    undefined = int(frame["n_nrq_undefined"].sum()) if "n_nrq_undefined" in frame else 0
    note += f" NRQ leaves out {undefined} model x dataset cell(s) whose base score is 0 (the gain over 0 is undefined)."
    return [("Per paradigm", frame)], note, ("nrq", *COST_COLUMNS, "tokens_per_s_cell_mean", "failure_rate", "answer_read_rate")


def nrq_view(frame: pd.DataFrame):
    overall = frame.loc[frame["category"] == ALL_CATEGORIES].drop(columns=["category"])
    per_category = (
        frame.loc[frame["category"] != ALL_CATEGORIES]
        .pivot_table(index=["model", "paradigm"], columns="category", values="nrq", sort=False, dropna=False)
    )
    per_category = per_category.astype(object).where(per_category.notna(), "undefined").reset_index()
    per_category.columns.name = None
    sections = [("Per model and paradigm", with_ci(overall, "nrq", "ci_low", "ci_high", missing="undefined")), ("Per task category", per_category)]
    return sections, nrq_zero_base_note(overall), ("nrq",)


def nrq_zero_base_note(overall: pd.DataFrame) -> str:
    """How many model x dataset base scores are 0 in this run (the caption says why that matters)."""
    n = 0
    if "n_datasets_zero_base" in overall and len(overall):
        n = int(overall.groupby("model")["n_datasets_zero_base"].max().sum())
    return (f"This run has {n} model x dataset base score(s) of 0, counted per row in 'datasets with base score 0': "
            "the gain over a score of 0 is undefined, so NRQ leaves those datasets out (undefined where none is left).")


def composite_z_view(frame: pd.DataFrame):
    return [("Per model and paradigm", frame.sort_values("composite_z", ascending=False))], "", ()


def by_level(frame: pd.DataFrame):
    levels = dict.fromkeys(frame["level"])
    return [(f"Per {level}", frame.loc[frame["level"] == level].drop(columns=["level"])) for level in levels], "", ()


def comparisons_view(frame: pd.DataFrame):
    if len(frame) and not can_reach(frame):
        return [], untestable_sentence(frame), ()
    tested = frame.sort_values(["p_value", "model", "dataset"]) if len(frame) else frame
    return [("Every pair of paradigms, per model and dataset", tested)], "", ()


def untestable_sentence(frame: pd.DataFrame) -> str:
    """One sentence in place of a table of p = 1.0: why no test here can reach 0.05."""
    n = int(frame["n"].max())
    return (f"No paired test can show a difference at this sample size: with at most {n} samples per cell the "
            f"smallest p a permutation test can give is {2.0 ** (1 - n):.3g}, and {len(frame)} tests adjusted together "
            f"(Holm) need p below {0.05 / len(frame):.2g}. The tests are in results/tables/comparisons.csv.")


VIEWS = {
    "single": single,
    "paradigms": paradigms_view,
    "nrq": nrq_view,
    "composite_z": composite_z_view,
    "by_level": by_level,
    "comparisons": comparisons_view,
}
