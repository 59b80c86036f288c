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


def cells_table(summary_paths: list[str]) -> pd.DataFrame:
    """One row per cell; nested metrics and failure counts become flat columns."""
    rows = []
    for path in summary_paths:
        summary: dict[str, Any] = json.loads(Path(path).read_text())
        metrics, failures = summary.pop("metrics"), summary.pop("failures")
        summary.update({f"metric_{k}": v for k, v in metrics.items() if k not in ("n",)})
        summary.update({f"failures_{k}": v for k, v in failures.items()})
        rows.append(summary)
    return pd.DataFrame(rows).sort_values(["model", "paradigm", "dataset"], ignore_index=True)


def samples_table(sample_paths: list[str]) -> pd.DataFrame:
    """One row per sample; answers and golds (labels, numbers or entity lists) as JSON text."""
    rows = [r for p in sample_paths for r in read_jsonl(p)]
    frame = pd.DataFrame(rows)
    for column in ("answer", "gold"):
        frame[column] = frame[column].map(lambda v: json.dumps(v, ensure_ascii=False))
    return frame


def summary_by_paradigm(cells: pd.DataFrame) -> pd.DataFrame:
    """Per model and paradigm: cost and completion averaged over datasets."""
    columns = [c for c in SUMMARY_COLUMNS if c != "score"]
    failures = [c for c in cells.columns if c.startswith("failures_")]
    grouped = cells.groupby(["model", "paradigm"])
    out = grouped[columns].mean()
    out["failed samples"] = grouped[failures].sum().sum(axis=1)
    return out.rename(columns=SUMMARY_COLUMNS).reset_index()


def scores_wide(cells: pd.DataFrame) -> pd.DataFrame:
    """Score per dataset (columns) for each model and paradigm (rows)."""
    labels = cells.assign(column=cells["dataset"] + " (" + cells["metric"] + ")")
    return labels.pivot_table(index=["model", "paradigm"], columns="column", values="score").reset_index()


def cells_html(cells: pd.DataFrame, title: str = "slmbench: results per cell") -> str:
    fmt = {"float_format": lambda v: f"{v:.3f}", "index": False, "border": 0, "classes": "table"}
    sections = [
        ("Score per dataset", "FinBen's primary metric of each dataset (in brackets); higher is better except RMSE.", scores_wide(cells)),
        ("Cost and completion per model and paradigm", "Means over datasets; failed samples is the sum over datasets.", summary_by_paradigm(cells)),
        ("Every cell", "One row per model x paradigm x dataset, with all metrics and failure counts.", cells),
    ]
    body = "".join(f"<h2>{html.escape(h)}</h2><p>{html.escape(p)}</p>{t.to_html(**fmt)}" for h, p, t in sections)
    style = "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}"
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
