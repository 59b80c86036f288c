"""A task's primary metric on many resamples at once: the bootstrap and permutation tests' inner loop.

`many(spec, items, draws)` gives, for each row of `draws` (resampled row indices, one resample per
row), exactly what `slmbench.metrics.subset_scorer(...)(row)` gives: the same counts and the same
floating-point operations in the same order (sums run left to right over the resample, as Python's
`sum` does), so the numbers are identical, not just close. It works on the scoring items of
`slmbench.metrics` (one per sample, the text already parsed) and returns None for a metric it has
no vectorized form of: the caller then loops. (Sums of floats match Python 3.11's `sum`; 3.12's
compensates rounding, so there the last bit can differ.)

`bootstrap_ci` and `score_many` put them to use; this module imports no pandas, so a score job
(slmbench/score.py) starts without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .config import schema_defaults
from .registry import DatasetSpec

ANALYSIS = schema_defaults("analysis")  # n_boot, n_permutations, seed: schemas/config.schema.yaml
SubsetScorer = Callable[[Sequence[int]], float]  # slmbench.metrics.subset_scorer: a metric on a subset of the samples


def many(spec: DatasetSpec, items: list, draws: np.ndarray) -> np.ndarray | None:
    draws = np.asarray(draws, dtype=np.int64)
    if draws.ndim != 2 or draws.shape[1] == 0:
        return None
    form = _FORMS.get((spec.task_type, spec.metric)) or _FORMS.get((spec.task_type, None))
    return form(spec, items, draws) if form else None


def _sequential_sum(values: np.ndarray) -> np.ndarray:
    """Row sums of a (resamples x n) array added left to right, as `sum()` adds a Python list."""
    total = np.zeros(values.shape[0])
    for column in values.T:
        total = total + column
    return total


def _classification(spec: DatasetSpec, items: list, draws: np.ndarray) -> np.ndarray:
    """accuracy, sklearn's weighted/macro F1 over the gold labels each resample holds (metrics.f1_score),
    or Headlines' avg_f1: the mean of the weighted F1 within each label type, the types summed in the
    order they first appear in the resample (metrics.average_f1_by_type)."""
    labels = sorted({gold for _, gold, _ in items})
    code = {label: i for i, label in enumerate(labels)}
    g = np.array([code[gold] for _, gold, _ in items])[draws]
    p = np.array([code.get(pred, -1) for pred, _, _ in items])[draws]  # -1: not a gold label (or no answer)
    n = draws.shape[1]
    if spec.metric == "accuracy":
        return (p == g).sum(axis=1) / n
    if spec.metric != "avg_f1":
        return _f1(g, p, len(labels), np.ones(g.shape, dtype=bool), spec.metric)[0]
    kinds = list(dict.fromkeys(kind for _, _, kind in items))
    kind_of = np.array([kinds.index(kind) for _, _, kind in items])[draws]
    per_kind, present, first = [], [], []
    for k in range(len(kinds)):
        within = kind_of == k
        score, count = _f1(g, p, len(labels), within, "f1_weighted")
        per_kind.append(score)
        present.append(count > 0)
        first.append(np.where(count > 0, within.argmax(axis=1), n))
    order = np.argsort(np.column_stack(first), axis=1, kind="stable")
    scores, present = np.column_stack(per_kind), np.column_stack(present)
    rows = np.arange(len(draws))
    total = np.zeros(len(draws))
    for position in range(len(kinds)):  # types in order of first appearance, as the dict in metrics keeps them
        kind = order[:, position]
        total = total + np.where(present[rows, kind], scores[rows, kind], 0.0)
    return total / present.sum(axis=1)


def _f1(g: np.ndarray, p: np.ndarray, k: int, within: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Weighted or macro F1 of each resample's items where `within` holds, and how many there are."""
    b = len(g)
    rows = np.arange(b)[:, None] * k
    count = within.sum(axis=1)
    support = np.bincount((rows + g)[within], minlength=b * k).reshape(b, k)
    predicted = np.bincount((rows + p)[within & (p >= 0)], minlength=b * k).reshape(b, k)
    correct = np.bincount((rows + g)[within & (p == g)], minlength=b * k).reshape(b, k)
    total = np.zeros(b)
    present = np.zeros(b, dtype=np.int64)
    for label in range(k):  # labels in sorted order, as f1_score sums them
        denominator = predicted[:, label] + support[:, label]
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(denominator > 0, 2 * correct[:, label] / denominator, 0.0)
        here = support[:, label] > 0  # a label no gold of the resample has is not one of its labels
        if metric == "f1_macro":
            total = total + np.where(here, score, 0.0)
        else:
            total = total + np.where(here, score * support[:, label], 0.0)
        present += here
    with np.errstate(divide="ignore", invalid="ignore"):
        return (total / present if metric == "f1_macro" else total / count), count


def _regression(spec: DatasetSpec, items: list, draws: np.ndarray) -> np.ndarray:
    """RMSE over the parsed answers of each resample (metrics.regression_metrics)."""
    errors = np.array([np.nan if pred is None else (pred - gold) ** 2 for pred, gold in items])[draws]
    parsed = ~np.isnan(errors)
    count = parsed.sum(axis=1)
    total = _sequential_sum(np.where(parsed, errors, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, np.sqrt(total / np.maximum(count, 1)), np.nan)


def _ner(spec: DatasetSpec, items: list, draws: np.ndarray) -> np.ndarray:
    """Micro entity F1 from the summed chunk counts (metrics.ner_metrics)."""
    counts = np.array([[tp, predicted, gold] for tp, predicted, gold in items], dtype=np.int64)[draws].sum(axis=1)
    tp, predicted, gold = counts[:, 0], counts[:, 1], counts[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(gold > 0, tp / gold, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return f1 if spec.metric == "entity_f1" else (precision if spec.metric == "entity_precision" else recall)


def _mean_of(position: Callable[[object], float]) -> Callable[[DatasetSpec, list, np.ndarray], np.ndarray]:
    """The mean of one number per item, summed left to right (QA's exact match, ROUGE)."""

    def mean(spec: DatasetSpec, items: list, draws: np.ndarray) -> np.ndarray:
        values = np.array([float(position(spec, item)) for item in items])[draws]
        return _sequential_sum(values) / draws.shape[1]

    return mean


_FORMS = {
    ("classification", "accuracy"): _classification,
    ("classification", "f1_weighted"): _classification,
    ("classification", "f1_macro"): _classification,
    ("classification", "avg_f1"): _classification,
    ("regression", None): _regression,
    ("ner", None): _ner,
    ("qa", "exact_match"): _mean_of(lambda spec, item: item[0]),
    ("qa", "exact_match_strict"): _mean_of(lambda spec, item: item[1]),
    ("extractive_summarization", None): _mean_of(lambda spec, item: item[spec.metric]),
    ("abstractive_summarization", None): _mean_of(lambda spec, item: item[spec.metric]),
}


# --- the bootstrap, from the forms above (no pandas: the score jobs import this) -------------------


def bootstrap_ci(score_on: SubsetScorer, n: int, n_boot: int = ANALYSIS["n_boot"], seed: int = ANALYSIS["seed"], level: float = 0.95) -> tuple[float, float, float]:
    """(estimate, low, high): a percentile bootstrap CI of a metric over `n` samples, resampled with replacement.

    Resamples where the metric is undefined (NaN, e.g. an RMSE with every answer missing) are dropped.
    """
    rng = np.random.default_rng(seed)
    replicates = score_many(score_on, rng.integers(0, n, (n_boot, n)))  # the same draws as n_boot calls of size n
    low, high = percentile_interval(replicates, level)
    return score_on(np.arange(n)), low, high


def score_many(score_on: SubsetScorer, draws: np.ndarray) -> np.ndarray:
    """`score_on` on every row of `draws` (resampled row indices): vectorized where the scorer has a
    `many` form (`many` above: identical numbers), else one call per row."""
    many = getattr(score_on, "many", None)
    scores = many(draws) if many is not None and len(draws) else None
    return np.asarray(scores if scores is not None else [score_on(row) for row in draws], dtype=float)


def percentile_interval(replicates, level: float) -> tuple[float, float]:
    """The central `level` interval of the replicates, NaN ones left out (NaN, NaN if none is left)."""
    values = np.asarray(replicates, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.nan, np.nan
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
