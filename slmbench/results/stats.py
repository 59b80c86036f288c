"""The study's statistics: the paper's aggregates (NRQ, composite z, leading advantage, Table 2) and
the statistics it lacks (bootstrap intervals, paired tests, multiplicity adjustment, Pareto frontier).

Aggregates work on a tidy per-cell frame, one row per model x paradigm x dataset, with columns
`model, paradigm, dataset, category, metric, higher_is_better, score, completion_rate,
latency_mean_s, tokens_per_sample, tokens_per_s, energy_mj_per_token`. The statistics (bootstrap
CIs, paired tests, multiplicity adjustment, Pareto frontier) add the uncertainty the paper omits.
Resampling functions take `slmbench.metrics.subset_scorer` functions so every metric is recomputed
exactly on each resample (F1, MCC and RMSE are not means of per-sample scores).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from slmbench.metrics import subset_scorer
from slmbench.resampled import ANALYSIS, SubsetScorer, percentile_interval, score_many
from slmbench.registry import DatasetSpec

CONFIG = ["model", "paradigm"]
MIN_MODELS_FOR_CI = 5  # below this, Table 2's bracket is the range over models, not a bootstrap interval
COST_COLUMNS = ["completion_rate", "latency_mean_s", "tokens_per_sample", "tokens_per_s", "energy_mj_per_token"]


def oriented_score(cells: pd.DataFrame) -> pd.Series:
    """The score with lower-is-better metrics negated, so that higher is always better."""
    return cells["score"].where(cells["higher_is_better"].astype(bool), -cells["score"])


# --- the paper's aggregates -----------------------------------------------------------------------


ZERO_BASE_TOL = 1e-6  # |s_base| at or below this is a base score of 0: the relative gain over it is undefined


def dataset_gains(cells: pd.DataFrame, base: str = "base") -> pd.DataFrame:
    """Per-cell relative gain over the same model's base paradigm on the same dataset.

    g = (s_a - s_base) / |s_base|, negated for lower-is-better metrics; NaN where the base cell or
    its score is missing, and undefined (NaN) where the base score is 0 (`zero_base`): the paper
    adds 1e-8 there, which turns one base F1 of 0 into gains of order 1e7 that swamp every mean.
    """
    s_base = base_scores(cells, base)
    gain = (cells["score"] - s_base) / s_base.abs().where(s_base.abs() > ZERO_BASE_TOL)
    return cells.assign(gain=gain.where(cells["higher_is_better"].astype(bool), -gain))


def base_scores(cells: pd.DataFrame, base: str = "base") -> pd.Series:
    """Per cell: the score of the same model's base paradigm on the same dataset (NaN if none)."""
    scores = cells.loc[cells["paradigm"] == base].set_index(["model", "dataset"])["score"]
    return pd.Series(scores.reindex(pd.MultiIndex.from_frame(cells[["model", "dataset"]])).to_numpy(), index=cells.index)


def zero_base(cells: pd.DataFrame, base: str = "base") -> pd.Series:
    """Per cell: whether its NRQ gain is undefined because the base score is 0 (|s_base| <= ZERO_BASE_TOL)
    and the cell has a score; such datasets are left out of NRQ's means and counted."""
    return (base_scores(cells, base).abs() <= ZERO_BASE_TOL) & cells["score"].notna()


def nrq(cells: pd.DataFrame, base: str = "base") -> pd.DataFrame:
    """Normalized response quality per model x paradigm (base = 0).

    Gains are averaged within each task category, then equally over the categories that have any
    gain, so a category with many datasets does not dominate. Undefined gains (a base score of 0)
    are left out; NRQ is NaN (undefined) where no gain is defined.
    """
    gains = dataset_gains(cells, base)
    by_category = gains.groupby([*CONFIG, "category"], sort=False)["gain"].mean()
    return by_category.groupby(level=CONFIG, sort=False).mean().rename("nrq").reset_index()


def composite_z(cells: pd.DataFrame) -> pd.DataFrame:
    """Composite effectiveness per model x paradigm: the mean over datasets of per-dataset z-scores.

    z = (x - mu) / sigma over all configurations of a dataset, on the oriented score (higher is
    better); sigma is the population standard deviation, and z = 0 where sigma = 0 (all equal).
    """
    oriented = oriented_score(cells)
    grouped = oriented.groupby(cells["dataset"])
    sigma = grouped.transform(lambda x: x.std(ddof=0))
    z = ((oriented - grouped.transform("mean")) / sigma).mask(sigma == 0, 0.0).where(oriented.notna())
    return cells.assign(z=z).groupby(CONFIG, sort=False)["z"].mean().rename("composite_z").reset_index()


def config_flags(cells: pd.DataFrame, by: str | list[str] = CONFIG) -> pd.DataFrame:
    """Per group (default model x paradigm): `flagged` when any of its cells' scores rests on echoed,
    cut or disputed answers (`slmbench.validity`), and the number of such cells `n_flagged_cells`."""
    flagged = cells["flagged"].fillna(False).astype(bool) if "flagged" in cells else pd.Series(False, index=cells.index)
    counts = flagged.groupby([cells[c] for c in ([by] if isinstance(by, str) else by)], sort=False).sum().astype(int)
    return counts.rename("n_flagged_cells").reset_index().assign(flagged=lambda f: f["n_flagged_cells"] > 0)


def dataset_percentile(cells: pd.DataFrame) -> pd.Series:
    """Per cell: the percentile rank of its oriented score among all cells of its dataset, in (0, 1]
    (rank / count, ties averaged; 1 = the best configuration of that dataset; NaN where no score).

    Unlike raw scores it puts every metric on one scale with one direction (F1 and RMSE can be
    averaged), and unlike a z-score it is never near 0, so a relative lead over it stays finite.
    """
    return oriented_score(cells).groupby(cells["dataset"]).rank(method="average", pct=True)


def leading_advantage(cells: pd.DataFrame, by: str = "model") -> pd.DataFrame:
    """Per model (by="model") or task category (by="category"): the best paradigm's lead over the runner-up.

    Each paradigm's score is the mean, over the group's cells, of each cell's per-dataset
    percentile rank among all configurations (`dataset_percentile`; taken from the column
    `dataset_percentile` when the frame has it, so that a subset keeps the ranks of the whole
    run); advantage = (s_best - s_second) / s_second x 100, the paper's formula without its 1e-8
    (a percentile rank is never 0, so nothing is added to the runner-up's score).
    `flagged`: the lead rests on a flagged cell (`config_flags`) of the best or the second paradigm.
    """
    percentile = cells["dataset_percentile"] if "dataset_percentile" in cells else dataset_percentile(cells)
    means = cells.assign(score_used=percentile).groupby([by, "paradigm"], sort=False)["score_used"].mean()
    flags = config_flags(cells, [by, "paradigm"]).set_index([by, "paradigm"])["flagged"]
    rows = []
    for group, scores in means.groupby(level=by, sort=False):
        ranked = scores.droplevel(by).dropna().sort_values(ascending=False)
        if len(ranked) < 2:
            rows.append({by: group, "best_paradigm": ranked.index[0] if len(ranked) else None, "leading_advantage_pct": np.nan})
            continue
        best, second = ranked.iloc[0], ranked.iloc[1]
        rows.append(
            {
                by: group,
                "best_paradigm": ranked.index[0],
                "second_paradigm": ranked.index[1],
                "best_score": best,
                "second_score": second,
                "leading_advantage_pct": (best - second) / abs(second) * 100,
                "flagged": bool(flags.get((group, ranked.index[0]), False) or flags.get((group, ranked.index[1]), False)),
            }
        )
    return pd.DataFrame(rows)


def pooled_costs(cells: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """The cost columns per group, pooled over its samples (ratios of totals, not means of ratios).

    Completion rate, latency and tokens per sample are per-sample means (each cell weighted by its
    samples `n`; 1 per cell when the frame has no `n`). Tokens/s is total tokens over total latency,
    sum(n x tokens_per_sample) / sum(n x latency_mean_s): the paper's 190 / 345 / 642 are 2356 /
    12.39, 8040 / 23.27 and 14618 / 22.76. Energy per token is total energy over the tokens
    generated fresh for it, sum(energy_j) / sum(fresh_tokens) over the cells where energy was
    measured (weights n x tokens_per_sample when the frame has no `fresh_tokens`). NaN is skipped.
    `tokens_per_s_cell_mean` keeps the mean of the cells' own ratios, for comparison only.
    """
    groups = [cells[c] for c in ([by] if isinstance(by, str) else by)]
    sums = _cost_terms(cells).groupby(groups, sort=False).sum(min_count=1)
    return pd.DataFrame(_pooled_ratios(sums), index=sums.index)


def _cost_terms(cells: pd.DataFrame) -> pd.DataFrame:
    """Per cell, the terms whose sums over a group pool its costs (`_pooled_ratios`). A missing
    per-sample cost (completion rate, latency, tokens, the cell's tokens/s) is NaN in its term and 0
    in its count (`<term>_n`), so a sum skips it; tokens and latency (where either is missing) and
    energy and fresh tokens (where energy was not measured) are 0."""
    n = cells["n"].astype(float) if "n" in cells else pd.Series(1.0, index=cells.index)
    tokens = n * cells["tokens_per_sample"]
    latency = n * cells["latency_mean_s"]
    both = tokens.notna() & latency.notna()
    fresh = cells["fresh_tokens"].astype(float) if "fresh_tokens" in cells else tokens
    measured = cells["energy_mj_per_token"].notna() & fresh.gt(0)
    per_sample = ("completion_rate", "latency_mean_s", "tokens_per_sample", "tokens_per_s_cell_mean")
    values = {column: cells["tokens_per_s" if column == "tokens_per_s_cell_mean" else column] for column in per_sample}
    weights = {column: (n if column != "tokens_per_s_cell_mean" else 1.0) for column in per_sample}
    return pd.DataFrame(
        {
            **{column: values[column] * weights[column] for column in per_sample},
            **{f"{column}_n": (values[column].notna() * weights[column]).astype(float) for column in per_sample},
            "tokens": tokens.where(both, 0.0),
            "latency": latency.where(both, 0.0),
            "energy_mj": (cells["energy_mj_per_token"] * fresh).where(measured, 0.0),
            "fresh": fresh.where(measured, 0.0),
        },
        index=cells.index,
    )


def _pooled_ratios(sums: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The pooled costs from sums of `_cost_terms` (Series or arrays of any shape); NaN where a
    denominator is 0 (no cell of the group has the cost)."""
    return {
        **{column: _ratio(sums[column], sums[f"{column}_n"]) for column in ("completion_rate", "latency_mean_s", "tokens_per_sample")},
        "tokens_per_s": _ratio(sums["tokens"], sums["latency"]),
        "energy_mj_per_token": _ratio(sums["energy_mj"], sums["fresh"]),
        "tokens_per_s_cell_mean": _ratio(sums["tokens_per_s_cell_mean"], sums["tokens_per_s_cell_mean_n"]),
    }


def _ratio(numerator, denominator) -> np.ndarray:
    below = np.asarray(denominator, dtype=float)
    return np.asarray(numerator, dtype=float) / np.where(below > 0, below, np.nan)


def table2(cells: pd.DataFrame, base: str = "base") -> pd.DataFrame:
    """The paper's Table 2: per paradigm, mean NRQ over models and the costs pooled over all its
    samples (`pooled_costs`: tokens/s and energy per token are ratios of totals, as the paper's)."""
    quality = nrq(cells, base).groupby("paradigm", sort=False)["nrq"].mean()
    return pd.concat([quality, pooled_costs(cells, "paradigm")], axis=1)


def config_summary(cells: pd.DataFrame, base: str = "base") -> pd.DataFrame:
    """One row per model x paradigm: NRQ, composite z and pooled costs, the input to `pareto_frontier`."""
    costs = pooled_costs(cells, CONFIG)[COST_COLUMNS].reset_index()
    return nrq(cells, base).merge(composite_z(cells), on=CONFIG).merge(costs, on=CONFIG).merge(config_flags(cells), on=CONFIG)


def pareto_frontier(configs: pd.DataFrame, quality: str = "composite_z", cost: str = "tokens_per_sample") -> pd.DataFrame:
    """The configurations no other configuration beats on both axes (higher quality, lower cost), by cost.

    A row is dominated when another has quality >= and cost <= with at least one strict; rows with
    a missing quality or cost are left out.
    """
    valid = configs.dropna(subset=[quality, cost])
    q = valid[quality].to_numpy(dtype=float)
    c = valid[cost].to_numpy(dtype=float)
    no_worse = (q[None, :] >= q[:, None]) & (c[None, :] <= c[:, None])
    better = (q[None, :] > q[:, None]) | (c[None, :] < c[:, None])
    dominated = (no_worse & better).any(axis=1)
    return valid.loc[~dominated].sort_values(cost)


# --- uncertainty ----------------------------------------------------------------------------------


def compare_paradigms(
    spec: DatasetSpec,
    samples: list[dict],
    answers_a: list,
    answers_b: list,
    n_resamples: int = ANALYSIS["n_permutations"],
    seed: int = ANALYSIS["seed"],
    level: float = 0.95,
) -> dict[str, float]:
    """Paradigm A vs B on the same samples: difference of the primary metric (A - B, in metric units),
    its paired bootstrap CI, and a two-sided paired permutation p-value.

    The permutation test swaps A's and B's answers on each sample with probability 1/2; the p-value
    is (1 + #{|d*| >= |d|}) / (1 + #permutations where d* is defined), so it is never 0. For
    lower-is-better metrics a negative difference favours A.

    When the difference is undefined (NaN, e.g. an RMSE with every answer missing in one
    paradigm) there is nothing to test: diff, CI and p-value are all NaN.
    """
    n = len(samples)
    score_on = subset_scorer(spec, samples + samples, list(answers_a) + list(answers_b))
    rows = np.arange(n)
    observed = score_on(rows) - score_on(rows + n)
    if n == 0 or np.isnan(observed):
        return {"diff": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "p_value": float("nan")}
    rng = np.random.default_rng(seed)
    # All resamples at once: one (n_resamples x n) draw gives the same numbers as n_resamples draws of n.
    drawn = rng.integers(0, n, (n_resamples, n))
    boot = score_many(score_on, drawn) - score_many(score_on, drawn + n)
    swap = rng.random((n_resamples, n)) < 0.5
    permuted = score_many(score_on, np.where(swap, rows + n, rows)) - score_many(score_on, np.where(swap, rows, rows + n))
    permuted = permuted[~np.isnan(permuted)]  # undefined on a relabelling (e.g. all of one side's answers missing): not evidence either way
    defined = len(permuted)
    extreme = int((np.abs(permuted) >= abs(observed) - 1e-12).sum())
    low, high = percentile_interval(boot, level)
    return {"diff": observed, "ci_low": low, "ci_high": high, "p_value": (1 + extreme) / (1 + defined)}


def adjust_pvalues(pvalues: Sequence[float], method: str = "holm") -> np.ndarray:
    """Family-wise (Holm) or false-discovery-rate (Benjamini-Hochberg, "bh") adjusted p-values, in input order.

    NaN p-values (tests that could not be made) stay NaN and do not count: the others are adjusted
    among themselves, with m the number of finite p-values.
    """
    if method not in ("holm", "bh"):
        raise ValueError(f"unknown method {method!r}; use 'holm' or 'bh'")
    p = np.asarray(pvalues, dtype=float)
    result = np.full(p.shape, np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    m = len(finite)
    if m == 0:
        return result
    order = finite[np.argsort(p[finite])]
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        adjusted = np.minimum.accumulate((m / np.arange(1, m + 1) * ranked)[::-1])[::-1]
    result[order] = np.minimum(adjusted, 1.0)
    return result


def bootstrap_nrq(
    cells: pd.DataFrame,
    scorers: Mapping[tuple[str, str, str], SubsetScorer],
    n_samples: Mapping[str, int],
    base: str = "base",
    n_boot: int = ANALYSIS["n_boot"],
    seed: int = ANALYSIS["seed"],
    level: float = 0.95,
) -> pd.DataFrame:
    """NRQ per model x paradigm with a sample-level bootstrap CI.

    Each replicate draws one resample of each dataset's sample indices and uses it for every
    configuration (the paradigms answered the same samples, so the comparison stays paired), then
    recomputes every cell score with `scorers[(model, paradigm, dataset)]` and the NRQ from them.
    """
    keys = list(zip(cells["model"], cells["paradigm"], cells["dataset"]))
    rng = np.random.default_rng(seed)
    draws = [{d: rng.integers(0, n, n) for d, n in n_samples.items()} for _ in range(n_boot)]
    by_dataset = {d: np.array([drawn[d] for drawn in draws]).reshape(n_boot, n) for d, n in n_samples.items()}
    scores = np.column_stack([score_many(scorers[key], by_dataset[key[2]]) for key in keys]) if keys else np.empty((n_boot, 0))
    replicates = _nrq_of_scores(cells, base)(scores)
    result = nrq(cells, base)
    bounds = [percentile_interval(column, level) for column in replicates.T]
    result["ci_low"], result["ci_high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    return result


def _nrq_of_scores(cells: pd.DataFrame, base: str) -> Callable[[np.ndarray], np.ndarray]:
    """`nrq(cells.assign(score=row), base)["nrq"].to_numpy()` for every row of a (replicates x cells)
    array of scores at once, with the base cells and the groups found once: the same gains and the
    same group means (to rounding: the sums are added in another order than pandas adds them, a
    test allows 1e-12), for two matrix products instead of two pandas group-bys per replicate."""
    position = pd.Series(np.arange(len(cells)), index=pd.MultiIndex.from_frame(cells[["paradigm", "model", "dataset"]]))
    base_at = position.reindex(pd.MultiIndex.from_arrays([[base] * len(cells), cells["model"], cells["dataset"]])).to_numpy()
    has_base = ~np.isnan(base_at)
    base_at = np.where(has_base, base_at, 0).astype(int)
    higher = cells["higher_is_better"].astype(bool).to_numpy()
    by_category = cells.groupby([*CONFIG, "category"], sort=False).ngroup().to_numpy()
    config_of = cells.groupby(CONFIG, sort=False).ngroup().to_numpy()
    config_of_category = pd.Series(config_of).groupby(by_category, sort=False).first().to_numpy()

    def nrq_of(scores: np.ndarray) -> np.ndarray:
        s_base = np.where(has_base, scores[:, base_at], np.nan)
        gain = (scores - s_base) / np.where(np.abs(s_base) > ZERO_BASE_TOL, np.abs(s_base), np.nan)
        return group_means(group_means(np.where(higher, gain, -gain), by_category), config_of_category)

    return nrq_of


def group_means(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per row of `values` (replicates x items), the mean of each group's non-NaN items (NaN for none),
    `groups` numbering each item's group 0, 1, ... (NaN or negative: in no group, as pandas' group-by
    leaves out a missing key): one matrix product for all replicates."""
    groups = np.asarray(groups, dtype=float)
    grouped = np.flatnonzero(groups >= 0)  # NaN compares False
    member = np.zeros((len(groups), int(groups[grouped].max()) + 1 if len(grouped) else 0))
    member[grouped, groups[grouped].astype(int)] = 1.0
    present = ~np.isnan(values)
    return _ratio(np.where(present, values, 0.0) @ member, present @ member)


def table2_ci(cells: pd.DataFrame, base: str = "base", n_boot: int = ANALYSIS["n_boot"], seed: int = ANALYSIS["seed"], level: float = 0.95) -> pd.DataFrame:
    """Table 2 with CIs from a cluster bootstrap over models (the unit the means generalize over);
    with fewer than MIN_MODELS_FOR_CI models no bootstrap makes a 95% interval, and the bounds are
    the range over models (min and max of each model's own Table 2; NaN skipped).

    Each replicate draws models with replacement, keeps each drawn copy as a separate model and
    recomputes Table 2 (`table2_replicates`). Returns one row per paradigm x column: estimate,
    ci_low, ci_high.
    """
    models = cells["model"].unique()
    estimate = table2(cells, base)
    few = len(models) < MIN_MODELS_FOR_CI
    if few:  # each "replicate" is one model alone: its bounds are the range over models
        copies = np.eye(len(models), dtype=int)
    else:
        copies = np.apply_along_axis(np.bincount, 1, np.random.default_rng(seed).integers(0, len(models), (n_boot, len(models))), minlength=len(models))
    stacked = table2_replicates(cells, models, copies, base)
    rows = []
    for paradigm in estimate.index:
        for column in estimate.columns:
            values = stacked[column].xs(paradigm, level="paradigm")
            low, high = (values.min(), values.max()) if few else percentile_interval(values, level)
            rows.append({"paradigm": paradigm, "column": column, "estimate": estimate.loc[paradigm, column], "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


def table2_replicates(cells: pd.DataFrame, models: Sequence[str], copies: np.ndarray, base: str = "base") -> pd.DataFrame:
    """Table 2 of every resample of models at once: row r of `copies` (replicates x models) counts
    the copies of each model in resample r. NRQ is per model, so a resample's mean NRQ and its
    pooled sums are the per-model values weighted by the copies: what `table2` gives on the
    resample's cells with each copy renamed a model of its own (a test compares the two), for one
    matrix product instead of one pandas Table 2 per replicate. Indexed by (replicate, paradigm).
    """
    paradigms = list(dict.fromkeys(cells["paradigm"]))
    grid = pd.MultiIndex.from_product([models, paradigms], names=CONFIG)
    quality = nrq(cells, base).set_index(CONFIG)["nrq"].reindex(grid)
    terms = _cost_terms(cells).groupby([cells["model"], cells["paradigm"]], sort=False).sum().reindex(grid, fill_value=0.0)  # NaN terms skipped
    terms["nrq"], terms["nrq_n"] = quality.fillna(0.0), quality.notna().astype(float)
    by_model = terms.to_numpy().reshape(len(models), len(paradigms) * terms.shape[1])
    sums = (copies.astype(float) @ by_model).reshape(len(copies), len(paradigms), terms.shape[1])
    sums = {column: sums[:, :, j] for j, column in enumerate(terms.columns)}
    columns = {"nrq": _ratio(sums["nrq"], sums["nrq_n"]), **_pooled_ratios(sums)}
    index = pd.MultiIndex.from_product([range(len(copies)), paradigms], names=["replicate", "paradigm"])
    return pd.DataFrame({column: values.ravel() for column, values in columns.items()}, index=index)
