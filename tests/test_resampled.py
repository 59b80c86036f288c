"""The vectorized resample scores (slmbench.resampled) equal the per-resample metric exactly."""

import random

import numpy as np
import pytest

from slmbench import registry, resampled
from slmbench.tasks import task_of


def items_for(spec, rng):
    labels = [c.lower() for c in spec.choices]
    kind = spec.task_type
    if kind == "classification":
        kinds = ["price up", "price down", "past news", "future news"] if spec.metric == "avg_f1" else [None]
        return [(rng.choice(labels + [None, "other"]), rng.choice(labels[:-1] if len(labels) > 2 else labels), rng.choice(kinds)) for _ in range(40)]
    if kind == "regression":
        return [(None if rng.random() < 0.3 else rng.uniform(-1, 1), rng.uniform(-1, 1)) for _ in range(40)]
    if kind == "ner":
        return [(tp, tp + rng.randint(0, 3), tp + rng.randint(0, 3)) for tp in (rng.randint(0, 2) for _ in range(40))]
    if kind == "qa":
        return [(float(rng.random() < 0.5), float(rng.random() < 0.3)) for _ in range(40)]
    return [{k: rng.random() for k in ("rouge1", "rouge2", "rougeL")} for _ in range(40)]


@pytest.mark.parametrize("name", list(registry.DATASETS))
def test_many_resamples_score_exactly_as_one_at_a_time(name):
    spec, rng = registry.get(name), random.Random(name)
    items = items_for(spec, rng)
    draws = np.random.default_rng(7).integers(0, len(items), (200, len(items)))
    one_at_a_time = [task_of(spec).aggregate(spec, [items[i] for i in row])[spec.metric] for row in draws]
    assert np.array_equal(resampled.many(spec, items, draws), np.array(one_at_a_time, dtype=float), equal_nan=True)


def test_a_scorer_without_a_vectorized_form_is_called_once_per_resample():
    from slmbench.resampled import score_many

    assert list(score_many(lambda rows: float(len(set(rows))), np.array([[0, 0], [0, 1]]))) == [1.0, 2.0]


def test_the_bootstrap_nrq_per_replicate_equals_nrq():
    import pandas as pd

    from slmbench.results.stats import _nrq_of_scores, nrq

    rng = np.random.default_rng(0)
    rows = [{"model": m, "paradigm": p, "dataset": d, "category": registry.get(d).category,
             "higher_is_better": registry.get(d).higher_is_better, "score": rng.random()}
            for m in ("a", "b", "c") for p in ("base", "single_agent", "multi_agent") for d in list(registry.DATASETS)[:10]]
    cells = pd.DataFrame(rows).drop(index=[4]).reset_index(drop=True)  # one cell without its base
    scores = rng.random((40, len(cells)))
    scores[3, 5], scores[7, :] = np.nan, 0.0
    replicates = _nrq_of_scores(cells, "base")(scores)
    for row, replicate in zip(scores, replicates):
        np.testing.assert_allclose(replicate, nrq(cells.assign(score=row), "base")["nrq"].to_numpy(), rtol=1e-12, atol=1e-15)
