"""The paper's aggregates and the added statistics, on frames small enough to compute by hand."""

import numpy as np
import pandas as pd
import pytest

from slmbench.results.stats import (
    adjust_pvalues,
    bootstrap_nrq,
    compare_paradigms,
    composite_z,
    config_summary,
    dataset_gains,
    dataset_percentile,
    leading_advantage,
    nrq,
    pareto_frontier,
    table2,
    table2_ci,
    table2_replicates,
    zero_base,
)
from slmbench.metrics import subset_scorer
from slmbench.registry import DATASETS
from slmbench.resampled import bootstrap_ci

# dataset -> (category, higher_is_better)
_DATASETS = {"d1": ("A", True), "d2": ("A", True), "d3": ("B", False), "d4": ("B", True)}


def _cells(scores: dict, costs: dict | None = None) -> pd.DataFrame:
    """scores: {(model, paradigm): [d1, d2, d3, d4]}; costs: {(model, paradigm): (completion, latency, tokens, tok/s, energy)}."""
    rows = []
    for (model, paradigm), values in scores.items():
        cost = (costs or {}).get((model, paradigm), (1.0, 1.0, 100.0, 10.0, np.nan))
        for (dataset, (category, hib)), score in zip(_DATASETS.items(), values):
            rows.append(
                {
                    "model": model, "paradigm": paradigm, "dataset": dataset, "category": category,
                    "metric": "rmse" if not hib else "f1", "higher_is_better": hib, "score": score,
                    "completion_rate": cost[0], "latency_mean_s": cost[1], "tokens_per_sample": cost[2],
                    "tokens_per_s": cost[3], "energy_mj_per_token": cost[4],
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


ONE_MODEL = {("m1", "base"): [0.5, 0.8, 0.4, 0.7], ("m1", "single"): [0.6, 0.4, 0.2, 0.7]}


def _value(frame, column, **where):
    mask = np.logical_and.reduce([frame[k] == v for k, v in where.items()])
    return frame.loc[mask, column].item()


def test_nrq_averages_within_then_over_categories_with_lower_is_better_flipped():
    cells = _cells(ONE_MODEL)
    gains = dataset_gains(cells)
    # d1: (0.6-0.5)/0.5 = 0.2; d2: (0.4-0.8)/0.8 = -0.5; d3 RMSE: (0.2-0.4)/0.4 = -0.5 -> flipped +0.5; d4: 0
    assert _value(gains, "gain", paradigm="single", dataset="d3") == pytest.approx(0.5)
    # category A: (0.2 - 0.5)/2 = -0.15; category B: (0.5 + 0)/2 = 0.25; NRQ = (-0.15 + 0.25)/2 = 0.05
    result = nrq(cells)
    assert _value(result, "nrq", paradigm="single") == pytest.approx(0.05)
    assert _value(result, "nrq", paradigm="base") == 0.0


def test_nrq_skips_datasets_without_a_base_score():
    cells = _cells(ONE_MODEL)
    cells.loc[(cells.paradigm == "base") & (cells.dataset == "d4"), "score"] = np.nan
    # category B now has only d3 (+0.5): NRQ = (-0.15 + 0.5)/2 = 0.175
    assert _value(nrq(cells), "nrq", paradigm="single") == pytest.approx(0.175)


def test_composite_z_orients_lower_is_better_and_handles_zero_sigma():
    # Two configurations per dataset -> z = +1 for the better, -1 for the worse; d4 ties -> sigma 0 -> z 0.
    # single: d1 +1, d2 -1, d3 (RMSE 0.2 < 0.4) +1, d4 0 -> 1/4; base: -1/4.
    result = composite_z(_cells(ONE_MODEL))
    assert _value(result, "composite_z", paradigm="single") == pytest.approx(0.25)
    assert _value(result, "composite_z", paradigm="base") == pytest.approx(-0.25)


def test_leading_advantage_per_model_compares_mean_dataset_percentiles():
    # percentile ranks per dataset (2 configurations): d1 base 0.5, single 1; d2 base 1, single 0.5;
    # d3 (RMSE, lower better) base 0.5, single 1; d4 tie: 0.75 each
    # means: base (0.5 + 1 + 0.5 + 0.75)/4 = 0.6875, single 0.8125 -> (0.8125 - 0.6875)/0.6875 = 18.18 %
    result = leading_advantage(_cells(ONE_MODEL), by="model")
    row = result.iloc[0]
    assert row["best_paradigm"] == "single" and row["second_paradigm"] == "base"
    assert row["best_score"] == pytest.approx(0.8125)
    assert row["leading_advantage_pct"] == pytest.approx(100 * 0.125 / 0.6875)


def test_leading_advantage_per_category():
    # category A: base (0.5 + 1)/2 = 0.75, single (1 + 0.5)/2 = 0.75 -> a tie, 0 %
    # category B: base (0.5 + 0.75)/2 = 0.625, single (1 + 0.75)/2 = 0.875 -> 40 %
    result = leading_advantage(_cells(ONE_MODEL), by="category").set_index("category")
    assert result.loc["A", "leading_advantage_pct"] == pytest.approx(0.0)
    assert result.loc["B", "best_paradigm"] == "single"
    assert result.loc["B", "leading_advantage_pct"] == pytest.approx(100 * 0.25 / 0.625)


def test_leading_advantage_never_averages_f1_with_negated_rmse():
    # an RMSE of 0.9 against 0.1 (lower is better) and an F1 of 0.31 against 0.30: the raw means would
    # let the RMSE's magnitude decide; percentile ranks weigh both datasets alike
    cells = _cells({("m1", "base"): [0.31, 0.5, 0.9, 0.5], ("m1", "single"): [0.30, 0.5, 0.1, 0.5]})
    category_b = leading_advantage(cells, by="category").set_index("category").loc["B"]
    assert category_b["best_paradigm"] == "single" and category_b["best_score"] <= 1.0
    assert dataset_percentile(cells).between(0, 1).all()


TWO_MODELS = {**ONE_MODEL, ("m2", "base"): [0.5, 0.5, 0.5, 0.5], ("m2", "single"): [1.0, 0.5, 0.5, 0.5]}
COSTS = {
    ("m1", "base"): (1.0, 10.0, 1000.0, 100.0, 2.0),
    ("m1", "single"): (0.8, 20.0, 3000.0, 300.0, np.nan),
    ("m2", "base"): (0.9, 12.0, 2000.0, 200.0, 1.0),
    ("m2", "single"): (0.6, 30.0, 5000.0, 500.0, 0.5),
}


def test_table2_means_nrq_over_models_and_costs_over_cells():
    table = table2(_cells(TWO_MODELS, COSTS))
    # m2 single: d1 gain (1.0-0.5)/0.5 = 1 -> category A 0.5, category B 0 -> NRQ 0.25; m1 single 0.05.
    assert table.loc["single", "nrq"] == pytest.approx((0.05 + 0.25) / 2)
    assert table.loc["base", "nrq"] == 0.0
    assert table.loc["single", "completion_rate"] == pytest.approx(0.7)
    assert table.loc["single", "latency_mean_s"] == pytest.approx(25.0)
    assert table.loc["single", "tokens_per_sample"] == pytest.approx(4000.0)
    # pooled: total tokens / total latency (4 datasets each): (1000 + 2000) / (10 + 12), not (100 + 200) / 2
    assert table.loc["base", "tokens_per_s"] == pytest.approx(3000 / 22)
    assert table.loc["base", "tokens_per_s_cell_mean"] == pytest.approx(150.0)
    # total energy / total tokens: (2.0 x 1000 + 1.0 x 2000) / 3000
    assert table.loc["base", "energy_mj_per_token"] == pytest.approx(4000 / 3000)
    assert table.loc["single", "energy_mj_per_token"] == pytest.approx(0.5)  # NaN skipped


def test_table2_reproduces_the_papers_throughput_from_its_tokens_and_latencies():
    """The paper's Table 2: tokens/s 190 / 345 / 642 are its tokens per sample over its latency."""
    paper = {"base": (2356, 12.39, 190), "single": (8040, 23.27, 345), "multi": (14618, 22.76, 642)}
    cells = pd.DataFrame(
        [
            {"model": "m", "paradigm": p, "dataset": "d1", "category": "A", "metric": "f1", "higher_is_better": True,
             "score": 0.5, "n": 50, "completion_rate": 1.0, "latency_mean_s": latency, "tokens_per_sample": tokens,
             "tokens_per_s": np.nan, "energy_mj_per_token": np.nan}
            for p, (tokens, latency, _) in paper.items()
        ]
    )  # fmt: skip
    table = table2(cells)
    for paradigm, (_, _, throughput) in paper.items():
        # 190.2, 345.5, 642.3: the paper's figures are these, truncated (its inputs are themselves rounded)
        assert int(table.loc[paradigm, "tokens_per_s"]) == throughput


def test_table2_pooled_throughput_differs_from_the_mean_of_cell_ratios():
    # a fast short cell and a slow long one: per-cell 1000 and 100 tok/s (mean 550); pooled (100 + 1000) / (0.1 + 10) = 109
    cells = _cells({("m1", "base"): [0.5] * 4}).iloc[:2].assign(
        tokens_per_sample=[100.0, 1000.0], latency_mean_s=[0.1, 10.0], tokens_per_s=[1000.0, 100.0], n=[5, 5]
    )
    table = table2(cells)
    assert table.loc["base", "tokens_per_s"] == pytest.approx(1100 / 10.1)
    assert table.loc["base", "tokens_per_s_cell_mean"] == pytest.approx(550.0)


def test_table2_ci_brackets_the_estimate_and_is_reproducible():
    cells = _cells(TWO_MODELS, COSTS)
    first = table2_ci(cells, n_boot=100, seed=3)
    assert first.equals(table2_ci(cells, n_boot=100, seed=3))
    latency = first.set_index(["paradigm", "column"]).loc[("single", "latency_mean_s")]
    assert latency["estimate"] == pytest.approx(25.0)
    # only two models: each replicate mean is 20, 25 or 30
    assert 20.0 <= latency["ci_low"] <= latency["estimate"] <= latency["ci_high"] <= 30.0
    one = table2_ci(_cells(ONE_MODEL), n_boot=20).set_index(["paradigm", "column"])
    assert one.loc[("single", "nrq"), "ci_low"] == one.loc[("single", "nrq"), "ci_high"] == pytest.approx(0.05)


def test_table2_replicates_are_table2_of_each_resample_of_models():
    """The vectorized cluster bootstrap gives, per resample, what `table2` gives on the resample's
    cells with every drawn copy a model of its own (missing costs, a model without a paradigm,
    a resample without a paradigm's models)."""
    rng = np.random.default_rng(7)
    cells = _cells({**TWO_MODELS, ("m3", "base"): [0.2, 0.4, 0.6, 0.8]}, {**COSTS, ("m3", "base"): (np.nan, 5.0, np.nan, 40.0, 3.0)})
    cells = cells.assign(n=rng.integers(1, 50, len(cells)), score=cells["score"].mask(rng.random(len(cells)) < 0.2))
    models = cells["model"].unique()
    copies = np.array([[1, 1, 1], [3, 0, 0], [0, 0, 3], [2, 0, 1], [0, 2, 1]])
    replicates = table2_replicates(cells, models, copies)
    for r, row in enumerate(copies):
        drawn = [m for m, k in zip(models, row) for _ in range(k)]
        resample = pd.concat([cells.loc[cells["model"] == m].assign(model=f"{m}#{i}") for i, m in enumerate(drawn)])
        expected = table2(resample).reindex(replicates.xs(r, level="replicate").index)
        pd.testing.assert_frame_equal(replicates.xs(r, level="replicate"), expected, check_names=False, rtol=1e-12)


def test_pareto_frontier_keeps_non_dominated_configurations():
    configs = pd.DataFrame(
        {
            "name": ["A", "B", "C", "D", "E", "F"],
            "quality": [1.0, 2.0, 1.5, 0.5, 2.0, np.nan],
            "cost": [10.0, 20.0, 30.0, 10.0, 20.0, 1.0],
        }
    )
    # C is beaten by B (better and cheaper), D by A (same cost, better); B and E tie and both stay; F has no quality.
    frontier = pareto_frontier(configs, quality="quality", cost="cost")
    assert list(frontier["name"]) == ["A", "B", "E"]


def test_config_summary_feeds_the_frontier():
    summary = config_summary(_cells(TWO_MODELS, COSTS))
    assert set(summary.columns) >= {"model", "paradigm", "nrq", "composite_z", "tokens_per_sample"}
    assert len(summary) == 4
    frontier = pareto_frontier(summary, quality="nrq", cost="tokens_per_sample")
    # m1 base (NRQ 0, 1000 tokens) is cheapest; m2 single (NRQ 0.25) is the best; m1 single (0.05, 3000) is
    # beaten by nothing cheaper with NRQ >= 0.05 -> also on the frontier; m2 base (0, 2000) is dominated by m1 base.
    assert list(zip(frontier["model"], frontier["paradigm"])) == [("m1", "base"), ("m1", "single"), ("m2", "single")]


def test_adjust_pvalues_holm_and_bh():
    p = [0.01, 0.04, 0.03, 0.2]
    # Holm: sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1 = 0.04, 0.09, 0.08, 0.2 -> running max 0.04, 0.09, 0.09, 0.2
    assert adjust_pvalues(p, "holm") == pytest.approx([0.04, 0.09, 0.09, 0.2])
    # BH: p * m / rank = 0.04, 0.06, 0.0533, 0.2 -> running min from the top: 0.04, 0.0533, 0.0533, 0.2
    assert adjust_pvalues(p, "bh") == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert adjust_pvalues([0.5, 0.9], "holm") == pytest.approx([1.0, 1.0])  # capped at 1
    with pytest.raises(ValueError):
        adjust_pvalues(p, "bonferroni-ish")


def test_bootstrap_ci_of_a_mean():
    values = np.array([0.0, 1.0] * 10)
    estimate, low, high = bootstrap_ci(lambda idx: values[idx].mean(), len(values), n_boot=500, seed=1)
    assert estimate == 0.5
    assert 0.2 < low < 0.5 < high < 0.8
    assert bootstrap_ci(lambda idx: values[idx].mean(), len(values), n_boot=500, seed=1) == (estimate, low, high)
    assert bootstrap_ci(lambda idx: 1.0, 5, n_boot=10) == (1.0, 1.0, 1.0)


def test_bootstrap_ci_of_rmse_with_missing_answers():
    spec = DATASETS["tsa"]
    samples = [{"gold": 0.0}] * 4
    answers = [0.1, None, 0.3, None]
    # RMSE over the two parsed answers = sqrt((0.01 + 0.09)/2) = sqrt(0.05); resamples of only missing rows are dropped.
    score, low, high = bootstrap_ci(subset_scorer(spec, samples, answers), len(samples), n_boot=300)
    assert score == pytest.approx(np.sqrt(0.05))
    assert 0.1 - 1e-12 <= low <= score <= high <= 0.3 + 1e-12


def _fpb_samples(n):
    return [{"gold": "positive" if i % 2 else "negative"} for i in range(n)]


def test_compare_paradigms_detects_a_clear_difference():
    samples = _fpb_samples(30)
    good = [s["gold"] for s in samples]
    bad = ["neutral"] * 30
    result = compare_paradigms(DATASETS["fpb"], samples, good, bad, n_resamples=500)
    assert result["diff"] == pytest.approx(1.0)  # weighted F1 1 vs 0
    assert result["ci_low"] > 0.5
    assert result["p_value"] == pytest.approx(1 / 501)  # no random swap of 30 pairs reaches |diff| = 1


def test_compare_paradigms_on_identical_answers_finds_nothing():
    samples = _fpb_samples(10)
    answers = ["positive"] * 10
    result = compare_paradigms(DATASETS["fpb"], samples, answers, answers, n_resamples=100)
    assert result["diff"] == 0.0 and result["p_value"] == 1.0
    assert result["ci_low"] == result["ci_high"] == 0.0


def test_compare_paradigms_sign_for_lower_is_better():
    spec = DATASETS["tsa"]
    samples = [{"gold": 0.0}] * 6
    result = compare_paradigms(spec, samples, [0.1] * 6, [0.5] * 6, n_resamples=200)
    assert result["diff"] == pytest.approx(0.1 - 0.5)  # A has the lower RMSE: negative favours A


def test_bootstrap_nrq_is_paired_and_brackets_the_point_estimate():
    spec = DATASETS["fpb"]
    samples = _fpb_samples(20)
    golds = [s["gold"] for s in samples]
    base_answers = golds[:10] + ["neutral"] * 10
    single_answers = golds[:15] + ["neutral"] * 5
    cells = pd.DataFrame(
        [
            {"model": "m", "paradigm": p, "dataset": "fpb", "category": "sentiment", "higher_is_better": True, "score": subset_scorer(spec, samples, a)(range(20))}
            for p, a in (("base", base_answers), ("single", single_answers))
        ]
    )
    scorers = {("m", p, "fpb"): subset_scorer(spec, samples, a) for p, a in (("base", base_answers), ("single", single_answers))}
    result = bootstrap_nrq(cells, scorers, {"fpb": 20}, n_boot=100, seed=0)
    single = result.set_index("paradigm").loc["single"]
    assert single["nrq"] == pytest.approx(_value(nrq(cells), "nrq", paradigm="single"))
    assert single["ci_low"] <= single["nrq"] <= single["ci_high"]
    assert single["ci_low"] > 0  # single is right on every sample base is right on: paired resamples never favour base
    base = result.set_index("paradigm").loc["base"]
    assert base["ci_low"] == base["ci_high"] == 0.0


def test_compare_paradigms_with_an_undefined_difference_tests_nothing():
    spec = DATASETS["tsa"]
    samples = [{"gold": 0.0}] * 6
    # A has every answer missing: its RMSE, and so the difference, is undefined
    result = compare_paradigms(spec, samples, [None] * 6, [0.5] * 6, n_resamples=200)
    assert all(np.isnan(result[k]) for k in ("diff", "ci_low", "ci_high", "p_value"))


def test_compare_paradigms_counts_only_relabellings_where_the_metric_is_defined():
    spec = DATASETS["tsa"]
    samples = [{"gold": 0.0}] * 2
    # A answers only sample 0 (RMSE 0.1), B only sample 1 (0.5). Of the four swaps, keeping or swapping both gives
    # |d| = 0.4 and swapping one leaves a side with no answer (undefined), so every defined relabelling is as extreme.
    result = compare_paradigms(spec, samples, [0.1, None], [None, 0.5], n_resamples=200)
    assert result["diff"] == pytest.approx(-0.4)
    assert result["p_value"] == 1.0


def test_adjust_pvalues_leaves_nan_out_of_the_family():
    p = [0.01, np.nan, 0.04, 0.03]
    finite = [0.01, 0.04, 0.03]
    for method in ("holm", "bh"):
        adjusted = adjust_pvalues(p, method)
        assert np.isnan(adjusted[1])
        # the others are adjusted as if the untestable pair were not there (m = 3, not 4)
        assert adjusted[[0, 2, 3]] == pytest.approx(adjust_pvalues(finite, method))
    # by hand, Holm with m = 3: 0.01 x 3, 0.03 x 2, 0.04 x 1 -> 0.03, 0.06, running max 0.06
    assert adjust_pvalues(p, "holm")[[0, 2, 3]] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(adjust_pvalues([np.nan, np.nan], "bh")).all()


def test_a_gain_over_a_base_score_of_0_is_undefined():
    scores = {("m1", "base"): [0.0, 0.8, 0.4, 0.7], ("m1", "single"): [0.6, 0.4, 0.2, 0.7]}
    cells = _cells(scores)
    flags = zero_base(cells)
    assert list(cells.loc[flags, "dataset"]) == ["d1", "d1"]  # base and single on d1
    # undefined, not 0.6 / 1e-8; the other datasets' gains are kept
    assert np.isnan(_value(dataset_gains(cells), "gain", paradigm="single", dataset="d1"))
    assert _value(dataset_gains(cells), "gain", paradigm="single", dataset="d2") == pytest.approx(-0.5)
