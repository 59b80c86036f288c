"""Scoring one cell: metric, cost, and energy per token over the calls actually sent."""

import json
import math

import pytest

from conftest import MIRROR
from slmbench.score import energy_summary, fresh_tokens, score_cell

FPB = [json.loads(line) for line in (MIRROR / "fpb.jsonl").read_text().splitlines()]


def record(sample, output, model="m1", paradigm="base", calls=((10, 2, False),), failure="", latency=1.0):
    """A generation record; calls: (prompt_tokens, completion_tokens, cache_hit) per LLM call."""
    trace = [
        {"type": "llm", "agent": "base", "prompt_tokens": p, "completion_tokens": c, "cache_hit": hit, "latency_s": latency / len(calls)}
        for p, c, hit in calls
    ]
    prompt, completion = sum(c[0] for c in calls), sum(c[1] for c in calls)
    return {
        "id": sample["id"], "model": model, "paradigm": paradigm, "dataset": "fpb", "output": output, "failure": failure,
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        "llm_calls": len(calls), "cache_hits": sum(c[2] for c in calls), "latency_s": latency, "trace": trace,
    }  # fmt: skip


def test_fresh_tokens_leave_out_cache_hits_and_tool_calls():
    r = record(FPB[0], "positive", calls=((10, 2, False), (30, 5, True)))
    r["trace"].append({"type": "tool", "agent": "base", "tool": "calculator", "duration_s": 0.1})
    assert fresh_tokens(r) == (12, 1)


def test_score_cell_costs_and_energy_per_token():
    gens = [record(FPB[0], FPB[0]["gold"], latency=2.0), record(FPB[1], "nonsense", failure="no_final_answer", calls=((20, 4, False),), latency=4.0)]
    summary, rows = score_cell(gens, FPB, {"energy_j": 0.36, "energy_source": "rapl", "energy_note": "RAPL zones", "hardware": {"cpu": "C", "cpu_cores": 2, "gpus": []}})
    assert summary["completion_rate"] == 0.5 and summary["failure_rate"] == 0.5
    assert summary["failures"]["no_final_answer"] == 1
    assert summary["latency_mean_s"] == 3.0 and summary["tokens_per_sample"] == (12 + 24) / 2
    assert summary["tokens_per_s"] == pytest.approx(36 / 6.0)
    # 0.36 J over 36 fresh tokens = 10 mJ/token; per sample: 10 mJ x 18 tokens
    assert summary["energy_mj_per_token"] == pytest.approx(10.0)
    assert summary["energy_j_per_sample"] == pytest.approx(0.18)
    assert summary["energy_measured"] and summary["energy_source"] == "rapl"
    assert summary["hardware_label"] == "C (2 cores)"
    assert [r["answer"] for r in rows] == [FPB[0]["gold"], None] and rows[0]["sample_score"] == 1.0


def test_energy_only_over_calls_sent_and_nan_when_all_cached_or_unmeasured():
    half = [record(FPB[0], "x", calls=((10, 0, False),)), record(FPB[1], "x", calls=((30, 0, True),))]
    assert energy_summary(half, {"energy_j": 0.1})["energy_mj_per_token"] == pytest.approx(10.0)  # 100 mJ / 10 fresh tokens
    assert energy_summary(half, {"energy_j": 0.1})["cached_call_share"] == 0.5
    cached = [record(FPB[0], "x", calls=((10, 2, True),))]
    result = energy_summary(cached, {"energy_j": 0.05, "energy_source": "nvml"})
    assert math.isnan(result["energy_mj_per_token"]) and result["energy_source"] is None and "cache" in result["energy_note"]
    unmeasured = energy_summary(half, {"energy_j": None, "energy_note": "not measured: no counter"})
    assert math.isnan(unmeasured["energy_mj_per_token"]) and unmeasured["energy_note"] == "not measured: no counter"
    assert math.isnan(energy_summary(half, None)["energy_mj_per_token"])


def test_score_cell_bootstrap_interval_of_the_score():
    from slmbench.metrics import subset_scorer
    from slmbench.registry import DATASETS
    from slmbench.resampled import bootstrap_ci

    gens = [record(s, s["gold"] if i % 3 else "nonsense") for i, s in enumerate(FPB)]
    summary, rows = score_cell(gens, FPB, None, n_boot=200, seed=5)
    answers = [r["answer"] for r in rows]
    # the same seeded bootstrap as the analysis's per-cell interval, over the cell's own samples
    assert (summary["score"], summary["score_ci_low"], summary["score_ci_high"]) == pytest.approx(
        bootstrap_ci(subset_scorer(DATASETS["fpb"], FPB, answers), len(FPB), n_boot=200, seed=5)
    )
    assert summary["score_ci_low"] < summary["score"] < summary["score_ci_high"]  # some right, some wrong: the interval is wide
    again, _ = score_cell(gens, FPB, None, n_boot=200, seed=5)
    assert (again["score_ci_low"], again["score_ci_high"]) == (summary["score_ci_low"], summary["score_ci_high"])
    perfect, _ = score_cell([record(s, s["gold"]) for s in FPB], FPB, None, n_boot=50, seed=0)
    assert perfect["score_ci_low"] == perfect["score_ci_high"] == perfect["score"] == 1.0


def test_score_cell_carries_the_finben_exact_score_beside_the_primary_one():
    """Outputs on which the rules disagree: FinBen takes the first label of the choice list found as a
    substring, slmbench the label named earliest; a failed sample is an empty output for FinBen."""
    from sklearn.metrics import f1_score

    samples = FPB[:3]
    outputs = [f"not {w}; it is {samples[0]['gold']}" for w in ("negative",)] + ["positive", "neutral, not negative"]
    gens = [record(s, o) for s, o in zip(samples, outputs)]
    gens[1]["failure"] = "no_final_answer"
    summary, _ = score_cell(gens, FPB)
    golds = [s["gold"] for s in samples]
    # FinBen, by hand: the choice list is positive, negative, neutral
    finben = []
    for output in ("" if g["failure"] else g["output"] for g in gens):
        finben.append(next((c for c in samples[0]["choices"] if c in output.lower()), "missing"))
    assert summary["score_finben"] == pytest.approx(f1_score(golds, finben, average="weighted", labels=list(set(golds))))
    assert "score" in summary and summary["metric"] == "f1_weighted"
