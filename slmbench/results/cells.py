"""The per-cell and per-sample tables of a run (`results/tables/cells.*`, `samples.parquet`), read
from every cell's score files, and the views of them that other tables and pages reuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd


# Per-cell columns that are numbers even when every cell has NaN/None there (e.g. energy not measured).
NUMERIC_COLUMNS = (
    "score", "score_finben", "score_ci_low", "score_ci_high", "completion_rate", "failure_rate",
    "latency_mean_s", "latency_median_s", "latency_p95_s",
    "prompt_tokens_per_sample", "completion_tokens_per_sample", "tokens_per_sample", "llm_calls_per_sample",
    "tokens_per_s", "energy_j", "energy_mj_per_token", "energy_j_per_sample", "cached_call_share", "generation_s",
    "echo_share", "cut_share", "disagree_share",
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
    if "flagged" in frame:
        frame["flagged"] = frame["flagged"].fillna(False).astype(bool)
    if labels is not None:
        frame["size_b"] = pd.to_numeric(frame["model"].map(lambda m: (labels.get(m) or {}).get("size_b")), errors="coerce").astype(float)
        frame["family"] = frame["model"].map(lambda m: (labels.get(m) or {}).get("family")).astype("string")
        frame["checkpoint"] = frame["model"].map(lambda m: (labels.get(m) or {}).get("checkpoint") or "instruct").astype("string")
    return frame.sort_values(["model", "paradigm", "dataset"], ignore_index=True)


def samples_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per sample (the score step's per-sample rows); answers and golds (labels, numbers or
    entity lists) as JSON text."""
    frame = pd.DataFrame(rows)
    for column in ("answer", "gold"):
        frame[column] = frame[column].map(lambda v: json.dumps(v, ensure_ascii=False))
    return frame


def scores_wide(cells: pd.DataFrame, value: str = "score") -> pd.DataFrame:
    """Score per dataset (columns) for each model and paradigm (rows); `value="score_finben"`: the FinBen-exact score."""
    labels = cells.assign(column=cells["dataset"] + " (" + cells["metric"] + ")")
    return labels.pivot_table(index=["model", "paradigm"], columns="column", values=value, dropna=False).reset_index()


def failures_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Per model x paradigm: samples, failures of each kind (counts) and the failure rate."""
    kinds = [c for c in cells.columns if c.startswith("failures_")]
    grouped = cells.groupby(["model", "paradigm"], sort=False)
    out = grouped[["n", *kinds]].sum()
    out["failed"] = out[kinds].sum(axis=1)
    out["failure_rate"] = out["failed"] / out["n"]
    return out.reset_index()


def config_costs(cells: pd.DataFrame) -> pd.DataFrame:
    """Per model x paradigm: completion, tokens, latency and throughput averaged over datasets, and
    the failed samples summed over them (from `failures_table`)."""
    columns = ["completion_rate", "tokens_per_sample", "latency_mean_s", "tokens_per_s"]
    means = cells.groupby(["model", "paradigm"])[columns].mean()
    failed = failures_table(cells).set_index(["model", "paradigm"])["failed"]
    return means.assign(failed=failed.reindex(means.index)).reset_index()
