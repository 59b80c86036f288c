"""Scores one cell: FinBen's metric on its samples, plus completion, cost, energy and failure counts."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import registry
from .answers import extract_answer
from .energy import hardware_label
from .resampled import ANALYSIS, bootstrap_ci
from .metrics import finben_score, sample_scores, score_dataset, subset_scorer
from .trace import FAILURE_KINDS
from .validity import cell_validity, sample_validity


def fresh_tokens(record: dict[str, Any]) -> tuple[int, int]:
    """(tokens, calls) of a sample's LLM calls that reached the server in this job (not cache hits).

    Tokens are prompt + completion, the same tokens as `tokens_per_sample`.
    """
    fresh = [c for c in record["trace"] if c["type"] == "llm" and not c["cache_hit"]]
    return sum(c["prompt_tokens"] + c["completion_tokens"] for c in fresh), len(fresh)


def energy_summary(generations: list[dict[str, Any]], meta: dict[str, Any] | None) -> dict[str, Any]:
    """Energy per token and per sample of a cell, from the generation job's measured energy.

    A replay from the request cache spends no energy on cached calls, so the job's energy is
    divided only by the tokens of the calls actually sent: energy_mj_per_token is NaN when nothing
    was measured or every call came from the cache. energy_j_per_sample is that rate times the
    tokens per sample (equal to energy / samples when nothing was cached).
    """
    tokens = [fresh_tokens(g) for g in generations]
    n_fresh_tokens = sum(t for t, _ in tokens)
    n_calls = sum(g.get("llm_calls", 0) for g in generations)
    n_fresh_calls = sum(c for _, c in tokens)
    meta = meta or {}
    energy_j = meta.get("energy_j")
    measured = energy_j is not None and n_fresh_tokens > 0
    per_token_mj = energy_j * 1e3 / n_fresh_tokens if measured else float("nan")
    mean_tokens = float(np.mean([g["usage"]["total_tokens"] for g in generations]))
    if not meta:
        note = "not measured: the generation job left no energy record (.meta.json)"
    elif energy_j is None:
        note = meta.get("energy_note") or "not measured"
    elif n_fresh_tokens == 0:
        note = "not measured for this cell: every call was answered from the request cache"
    else:
        note = meta.get("energy_note") or ""
    return {
        "energy_j": energy_j if energy_j is not None else float("nan"),
        "energy_source": meta.get("energy_source") if measured else None,
        "energy_note": note,
        "energy_measured": measured,
        "fresh_tokens": n_fresh_tokens,
        "cached_call_share": 1 - n_fresh_calls / n_calls if n_calls else float("nan"),
        "energy_mj_per_token": per_token_mj,
        "energy_j_per_sample": per_token_mj * mean_tokens / 1e3 if measured else float("nan"),
        "generation_s": meta.get("duration_s", float("nan")) if meta else float("nan"),
        "hardware": meta.get("hardware") or {},
        "hardware_label": hardware_label(meta.get("hardware")),
    }


def check_outcomes(generations: list[dict[str, Any]]) -> None:
    """Every sample must have ended as the model made it end; anything else is not a result."""
    foreign = [(g["id"], g["failure"]) for g in generations if g["failure"] and g["failure"] not in FAILURE_KINDS]
    if foreign:
        first = generations[0]
        cell = f"results/generations/{first['model']}/{first['paradigm']}/{first['dataset']}.jsonl"
        raise ValueError(
            f"{cell}: {len(foreign)} sample(s) ended with an outcome that is not the model's ({foreign[0][1]!r} for "
            f"sample {foreign[0][0]!r}): an infrastructure failure recorded by an older slmbench. Delete that file and "
            f"run the workflow again: the answered samples replay from the request cache."
        )


def score_cell(
    generations: list[dict[str, Any]],
    dataset: list[dict[str, Any]],
    meta: dict[str, Any] | None = None,
    n_boot: int = ANALYSIS["n_boot"],
    seed: int = ANALYSIS["seed"],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The cell's summary row and its per-sample rows.

    Answers are extracted here, and only here, from the stored outputs (a fix to extraction
    rescores without regenerating); the per-sample rows carry them to the tables and trace pages. `meta` is the generation job's sidecar (energy, hardware).
    `score_ci_low`/`score_ci_high` are a seeded percentile bootstrap 95% interval of the primary
    metric over the cell's samples (`n_boot` resamples, rescored exactly by `subset_scorer`).
    """
    first = generations[0]
    spec = registry.get(first["dataset"])
    check_outcomes(generations)
    by_id = {str(r["id"]): r for r in dataset}
    missing = [g["id"] for g in generations if str(g["id"]) not in by_id]
    if missing:
        raise ValueError(f"{spec.name}: generated samples {missing[:5]} are not in the dataset file; rerun its download and generation")
    samples = [by_id[str(g["id"])] for g in generations]
    answers = [None if g["failure"] else extract_answer(spec, g["output"], s) for g, s in zip(generations, samples)]
    metrics = score_dataset(spec, samples, answers)
    outputs = [None if g["failure"] else g["output"] for g in generations]
    per_sample = sample_scores(spec, samples, answers)
    _, ci_low, ci_high = bootstrap_ci(subset_scorer(spec, samples, answers), len(samples), n_boot=n_boot, seed=seed)

    n = len(generations)
    latency = np.array([g["latency_s"] for g in generations], dtype=float)
    tokens = np.array([g["usage"]["total_tokens"] for g in generations], dtype=float)
    failures = {kind: sum(g["failure"] == kind for g in generations) for kind in FAILURE_KINDS}
    completed = sum(not g["failure"] for g in generations)
    validity = [sample_validity(spec, g, s, a, sc) for g, s, a, sc in zip(generations, samples, answers, per_sample)]
    summary = {
        "model": first["model"],
        "paradigm": first["paradigm"],
        "dataset": spec.name,
        "category": spec.category,
        "metric": spec.metric,
        "higher_is_better": spec.higher_is_better,
        "score": metrics[spec.metric],
        "score_finben": finben_score(spec, samples, outputs),  # the same metric, outputs read by FinBen's code
        "score_ci_low": ci_low,
        "score_ci_high": ci_high,
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
        "failure_rate": (n - completed) / n,
        **energy_summary(generations, meta),
        **cell_validity(validity),
        "failures": failures,
    }
    rows = [
        {
            "model": first["model"], "paradigm": first["paradigm"], "dataset": spec.name, "id": g["id"],
            "answer": a, "gold": s["gold"], "sample_score": sc, "failure": g["failure"],
            "latency_s": g["latency_s"], "prompt_tokens": g["usage"]["prompt_tokens"],
            "completion_tokens": g["usage"]["completion_tokens"], "total_tokens": g["usage"]["total_tokens"],
            "llm_calls": g["llm_calls"], "fresh_tokens": fresh_tokens(g)[0], **v,
        }
        for g, s, a, sc, v in zip(generations, samples, answers, per_sample, validity)
    ]
    return summary, rows
