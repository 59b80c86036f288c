"""Scores one cell: FinBen's metric on its samples, plus completion, cost and failure counts."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import registry
from .answers import extract_answer
from .metrics import sample_scores, score_dataset
from .trace import FAILURE_KINDS


def score_cell(generations: list[dict[str, Any]], dataset: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The cell's summary row and its per-sample rows.

    Answers are extracted again from the stored outputs, so a fix to extraction
    rescores without regenerating.
    """
    first = generations[0]
    spec = registry.get(first["dataset"])
    by_id = {str(r["id"]): r for r in dataset}
    missing = [g["id"] for g in generations if str(g["id"]) not in by_id]
    if missing:
        raise ValueError(f"{spec.name}: generated samples {missing[:5]} are not in the dataset file; rerun its download and generation")
    samples = [by_id[str(g["id"])] for g in generations]
    answers = [None if g["failure"] else extract_answer(spec, g["output"], s) for g, s in zip(generations, samples)]
    metrics = score_dataset(spec, samples, answers)
    per_sample = sample_scores(spec, samples, answers)

    n = len(generations)
    latency = np.array([g["latency_s"] for g in generations], dtype=float)
    tokens = np.array([g["usage"]["total_tokens"] for g in generations], dtype=float)
    failures = {kind: sum(g["failure"] == kind for g in generations) for kind in FAILURE_KINDS}
    completed = sum(not g["failure"] for g in generations)
    summary = {
        "model": first["model"],
        "paradigm": first["paradigm"],
        "dataset": spec.name,
        "category": spec.category,
        "metric": spec.metric,
        "higher_is_better": spec.higher_is_better,
        "score": metrics[spec.metric],
        "metrics": metrics,
        "n": n,
        "n_missing_answer": sum(a is None for a in answers),
        "completion_rate": completed / n,
        "latency_mean_s": float(latency.mean()),
        "latency_median_s": float(np.median(latency)),
        "latency_p95_s": float(np.percentile(latency, 95)),
        "prompt_tokens_per_sample": float(np.mean([g["usage"]["prompt_tokens"] for g in generations])),
        "completion_tokens_per_sample": float(np.mean([g["usage"]["completion_tokens"] for g in generations])),
        "tokens_per_sample": float(tokens.mean()),
        "llm_calls_per_sample": float(np.mean([g["llm_calls"] for g in generations])),
        # The paper's throughput: tokens per sample over latency per sample.
        "tokens_per_s": float(tokens.sum() / latency.sum()) if latency.sum() > 0 else float("nan"),
        "failures": failures,
    }
    rows = [
        {
            "model": first["model"], "paradigm": first["paradigm"], "dataset": spec.name, "id": g["id"],
            "answer": a, "gold": s["gold"], "sample_score": sc, "failure": g["failure"],
            "latency_s": g["latency_s"], "total_tokens": g["usage"]["total_tokens"], "llm_calls": g["llm_calls"],
        }
        for g, s, a, sc in zip(generations, samples, answers, per_sample)
    ]
    return summary, rows
