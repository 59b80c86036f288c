"""The analysis tables, one builder per entry of `slmbench.results.catalog.TABLES`: Table 2, NRQ,
composite z, leading advantage, paired comparisons, the Pareto frontier, costs and failures.

Each builder takes the `Study` (the per-cell table, each cell's scored answers next to its dataset
records, the run's design and the analysis options) and returns a tidy DataFrame. Everything is
computed with slmbench.results.stats; the sample-level statistics (NRQ CIs, paired comparisons)
rescore every resample with FinBen's metric exactly (`subset_scorer`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from .. import registry
from ..config import base_paradigm
from ..metrics import subset_scorer
from .cells import failures_table
from .stats import (
    ANALYSIS,
    COST_COLUMNS,
    adjust_pvalues,
    bootstrap_nrq,
    compare_paradigms,
    composite_z,
    config_flags,
    config_summary,
    dataset_percentile,
    leading_advantage,
    pareto_frontier,
    table2_ci,
    zero_base,
)
ALL_CATEGORIES = "(all)"
PARETO_COSTS = ("tokens_per_sample", "latency_mean_s", "energy_mj_per_token")
COMPARISON_COLUMNS = [
    "model", "dataset", "category", "metric", "higher_is_better", "paradigm_a", "paradigm_b", "n",
    "score_a", "score_b", "diff", "ci_low", "ci_high", "p_value", "min_p", "p_holm", "p_bh", "favours",
]  # fmt: skip


# --- per-sample answers -----------------------------------------------------------------------------


CellAnswers = dict[tuple[str, str, str], tuple[registry.DatasetSpec, list[dict], list]]


def cell_answers(sample_rows: list[dict[str, Any]], datasets: Mapping[str, list[dict[str, Any]]]) -> CellAnswers:
    """(spec, samples, answers) per cell, every cell of a dataset aligned on the same sample ids.

    `sample_rows` are the score step's per-sample rows (model, paradigm, dataset, id, answer);
    `datasets` maps a dataset name to its normalized records. Ids that some cell of a dataset
    lacks are dropped from all its cells, so that resampled indices stay paired.
    """
    by_cell: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in sample_rows:
        by_cell.setdefault((row["model"], row["paradigm"], row["dataset"]), {})[str(row["id"])] = row["answer"]
    out: CellAnswers = {}
    for dataset in dict.fromkeys(k[2] for k in by_cell):
        keys = [k for k in by_cell if k[2] == dataset]
        ids = [i for i in by_cell[keys[0]] if all(i in by_cell[k] for k in keys)]
        records = {str(r["id"]): r for r in datasets[dataset]}
        samples = [records[i] for i in ids]
        spec = registry.get(dataset)
        for key in keys:
            out[key] = (spec, samples, [by_cell[key][i] for i in ids])
    return out


def scorers(answers: CellAnswers) -> tuple[dict, dict[str, int]]:
    """`subset_scorer` per cell and the number of paired samples per dataset (bootstrap_nrq's inputs)."""
    fns = {key: subset_scorer(spec, samples, ans) for key, (spec, samples, ans) in answers.items()}
    sizes = {key[2]: len(samples) for key, (_, samples, _) in answers.items()}
    return fns, sizes


# --- the study: what every builder reads ----------------------------------------------------------------


@dataclass
class Study:
    """The inputs of the analysis: the per-cell table, every cell's scored answers (aligned per
    dataset, `cell_answers`), the run's design (`slmbench.config.run_design`) and the analysis
    options (`n_boot`, `n_permutations`, `seed`; defaults: schemas/config.schema.yaml)."""

    cells: pd.DataFrame
    answers: CellAnswers
    design: dict[str, Any]
    options: dict[str, Any]
    built: dict[str, pd.DataFrame] = field(default_factory=dict)  # tables built so far, by name

    @property
    def base(self) -> str:
        return base_paradigm(self.design["paradigms"])

    @property
    def paradigms(self) -> list[str]:
        return list(self.design["paradigms"])

    @cached_property
    def scorers(self) -> tuple[dict, dict[str, int]]:
        return scorers(self.answers)


def build_tables(study: Study, tables) -> dict[str, pd.DataFrame]:
    """Every catalog table, by name, in catalog order (a builder may read tables built before it)."""
    for table in tables:
        study.built[table.name] = globals()[table.builder](study)
    return study.built


# --- the tables ---------------------------------------------------------------------------------------


def paradigm_table(cells: pd.DataFrame, base: str = "base", n_boot: int = ANALYSIS["n_boot"], seed: int = ANALYSIS["seed"], order: list[str] | None = None) -> pd.DataFrame:
    """The paper's Table 2, one row per paradigm (in `order`, e.g. the config's): NRQ (mean over
    models) and the costs pooled over its samples (`stats.pooled_costs`: tokens/s = total tokens /
    total latency, mJ/token = total energy / total fresh tokens, as the paper's numbers are), each
    with a 95% CI from a cluster bootstrap over models that recomputes the pooled statistic; the
    mean of the cells' own tokens/s (`tokens_per_s_cell_mean`, for comparison); the models and
    cells counted, the failure rate (failed samples over samples), `answer_read_rate` (samples with an
    answer the scorer could read: a grammar agent completes its protocol yet may name no label) and `n_nrq_undefined`, the model x
    dataset cells left out of NRQ because the base scored 0 there."""
    long = table2_ci(cells, base, n_boot=n_boot, seed=seed)
    wide = long.pivot(index="paradigm", columns="column", values=["estimate", "ci_low", "ci_high"])
    out = pd.DataFrame(index=pd.Index(list(dict.fromkeys(long["paradigm"])), name="paradigm"))
    for column in ["nrq", *COST_COLUMNS, "tokens_per_s_cell_mean"]:
        out[column] = wide[("estimate", column)]
        out[f"{column}_ci_low"] = wide[("ci_low", column)]
        out[f"{column}_ci_high"] = wide[("ci_high", column)]
    counts = cells.groupby("paradigm", sort=False).agg(n_models=("model", "nunique"), n_cells=("dataset", "size"))
    failures = [c for c in cells.columns if c.startswith("failures_")]
    if failures and "n" in cells:
        rate = cells.groupby("paradigm", sort=False)[failures].sum().sum(axis=1) / cells.groupby("paradigm", sort=False)["n"].sum()
        counts["failure_rate"] = rate
    if "n_missing_answer" in cells and "n" in cells:  # completion as a score sees it: answers the scorer could read
        by = cells.groupby("paradigm", sort=False)
        counts["answer_read_rate"] = (by["n"].sum() - by["n_missing_answer"].sum()) / by["n"].sum()
    counts["n_nrq_undefined"] = cells.assign(undefined=zero_base(cells, base)).groupby("paradigm", sort=False)["undefined"].sum().astype(int)
    out = out.join(counts)
    if order:
        out = out.reindex([p for p in order if p in out.index] + [p for p in out.index if p not in order])
    return out.reset_index()


def nrq_table(
    cells: pd.DataFrame, fns: Mapping, sizes: Mapping[str, int], base: str = "base", n_boot: int = ANALYSIS["n_boot"], seed: int = ANALYSIS["seed"]
) -> pd.DataFrame:
    """NRQ per model x paradigm with a paired sample-level bootstrap 95% CI: over all categories
    (category '(all)', the paper's NRQ) and within each task category (the mean gain there).

    One bootstrap serves both: each category's cells enter a second time under a pseudo-model
    'model<SEP>category', whose NRQ is the mean gain within that category, and every replicate
    resamples each dataset once for all of them, so all intervals come from the same resamples.

    `n_datasets_zero_base` counts the datasets left out because the base scored 0 there (`stats.zero_base`:
    the gain over it is undefined); NRQ is NaN ("undefined") where every dataset is left out.
    """
    sep = "\x1f"
    per_category = cells.assign(model=cells["model"] + sep + cells["category"])
    both = pd.concat([cells, per_category], ignore_index=True)
    keys = zip(both["model"], both["paradigm"], both["dataset"])
    fns_both = {k: fns[(k[0].split(sep)[0], k[1], k[2])] for k in keys}
    result = bootstrap_nrq(both, fns_both, {d: sizes[d] for d in cells["dataset"].unique()}, base, n_boot, seed)
    split = result["model"].str.split(sep, n=1, expand=True).reindex(columns=[0, 1])
    result["model"] = split[0]
    result.insert(2, "category", split[1].fillna(ALL_CATEGORIES))
    n_datasets = cells.groupby("category")["dataset"].nunique()
    result["n_datasets"] = result["category"].map(lambda c: cells["dataset"].nunique() if c == ALL_CATEGORIES else n_datasets[c])
    flagged = cells.assign(zero_base=zero_base(cells, base))
    per_config = flagged.groupby(["model", "paradigm"])["zero_base"].sum()
    per_category = flagged.groupby(["model", "paradigm", "category"])["zero_base"].sum()
    result["n_datasets_zero_base"] = [
        int(per_config.get((m, p), 0) if c == ALL_CATEGORIES else per_category.get((m, p, c), 0))
        for m, p, c in zip(result["model"], result["paradigm"], result["category"])
    ]
    order = {c: i for i, c in enumerate([ALL_CATEGORIES, *dict.fromkeys(cells["category"])])}
    return result.sort_values("category", key=lambda c: c.map(order), kind="stable", ignore_index=True)


def leading_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The best paradigm's lead over the runner-up (%): per model, per task category, and per
    model within each category (the cells of the heatmap). Column `level` says which. The score
    compared is the mean per-dataset percentile rank among all configurations of the run
    (`stats.dataset_percentile`, ranked once over every cell)."""
    cells = cells.assign(dataset_percentile=dataset_percentile(cells))
    frames = [
        leading_advantage(cells, "model").assign(level="model", category=ALL_CATEGORIES),
        leading_advantage(cells, "category").assign(level="category", model=""),
    ]
    for model, sub in cells.groupby("model", sort=False):
        frames.append(leading_advantage(sub, "category").assign(level="model x category", model=model))
    columns = ["level", "model", "category", "best_paradigm", "second_paradigm", "best_score", "second_score", "leading_advantage_pct", "flagged"]
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def comparisons_table(
    answers: CellAnswers,
    paradigms: list[str],
    n_resamples: int = ANALYSIS["n_permutations"],
    seed: int = ANALYSIS["seed"],
    alpha: float = 0.05,
    fns: Mapping[tuple[str, str, str], Any] | None = None,
) -> pd.DataFrame:
    """Every pair of paradigms, per model and dataset, on the same samples: the difference of the
    primary metric (A - B), its paired bootstrap 95% CI and a paired permutation p-value, adjusted
    over the whole table (Holm: family-wise; BH: false discovery rate). Empty with one paradigm.

    `fns` are the cells' subset scorers from `scorers(answers)` (built here when not given).
    `favours` names the paradigm whose metric is better when the Holm-adjusted p < alpha; it is
    empty where the difference is undefined (NaN: no p-value, left out of the adjustments).
    """
    if fns is None:
        fns = scorers(answers)[0]
    rows = []
    for (model, dataset) in dict.fromkeys((k[0], k[2]) for k in answers):
        present = [p for p in paradigms if (model, p, dataset) in answers]
        for b, a in itertools.combinations(present, 2):  # later paradigm (A) against earlier (B), e.g. agent vs base
            spec, samples, answers_a = answers[(model, a, dataset)]
            _, _, answers_b = answers[(model, b, dataset)]
            if not samples:
                continue
            result = compare_paradigms(spec, samples, answers_a, answers_b, n_resamples=n_resamples, seed=seed)
            all_rows = np.arange(len(samples))
            rows.append(
                {
                    "model": model, "dataset": dataset, "category": spec.category, "metric": spec.metric,
                    "higher_is_better": spec.higher_is_better, "paradigm_a": a, "paradigm_b": b, "n": len(samples),
                    "score_a": fns[(model, a, dataset)](all_rows), "score_b": fns[(model, b, dataset)](all_rows), **result,
                }
            )  # fmt: skip
    frame = pd.DataFrame(rows, columns=[c for c in COMPARISON_COLUMNS if c not in ("min_p", "p_holm", "p_bh", "favours")])
    frame["min_p"] = min_p_value(frame["n"].to_numpy())
    frame["p_holm"] = adjust_pvalues(frame["p_value"].to_numpy(), "holm")
    frame["p_bh"] = adjust_pvalues(frame["p_value"].to_numpy(), "bh")
    better_a = np.where(frame["higher_is_better"].astype(bool), frame["diff"] > 0, frame["diff"] < 0)
    significant = (frame["p_holm"] < alpha) & frame["diff"].notna()
    frame["favours"] = np.where(significant, np.where(better_a, frame["paradigm_a"], frame["paradigm_b"]), "")
    return frame.reindex(columns=COMPARISON_COLUMNS)


def min_p_value(n) -> np.ndarray:
    """The smallest two-sided p a paired permutation test on n samples can give: 2 / 2^n (the
    observed labelling and its mirror among the 2^n sign swaps); n = 3 gives 0.25."""
    return np.minimum(2.0 ** (1 - np.asarray(n, dtype=float)), 1.0)


def can_reach(comparisons: pd.DataFrame, alpha: float = 0.05) -> bool:
    """Whether any test of the table could reach alpha after Holm's adjustment (m x its smallest p)."""
    return bool(len(comparisons)) and bool((comparisons["min_p"] * len(comparisons) < alpha).any())


def pareto_table(cells: pd.DataFrame, base: str = "base") -> pd.DataFrame:
    """One row per model x paradigm (NRQ, composite z, mean costs) with `pareto_<cost>`: whether the
    configuration is on the frontier of composite z against that cost (False where the cost is missing)."""
    configs = config_summary(cells, base)
    for cost in PARETO_COSTS:
        front = pareto_frontier(configs, "composite_z", cost)
        configs[f"pareto_{cost}"] = configs.index.isin(front.index)
    return configs


def cost_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The cost of each cell: completion, latency, tokens, calls, throughput, energy, hardware."""
    columns = [
        "model", "paradigm", "dataset", "n", "completion_rate", "latency_mean_s", "latency_median_s", "latency_p95_s",
        "prompt_tokens_per_sample", "completion_tokens_per_sample", "tokens_per_sample", "llm_calls_per_sample",
        "tokens_per_s", "energy_mj_per_token", "energy_j_per_sample", "cached_call_share", "energy_source", "hardware_label",
    ]  # fmt: skip
    return cells.reindex(columns=[c for c in columns if c in cells.columns])


# --- the builders the catalog names: each takes the Study -------------------------------------------------


def build_paradigms(study: Study) -> pd.DataFrame:
    options = study.options
    return paradigm_table(study.cells, study.base, n_boot=options["n_boot"], seed=options["seed"], order=study.paradigms)


def build_nrq(study: Study) -> pd.DataFrame:
    fns, sizes = study.scorers
    return nrq_table(study.cells, fns, sizes, study.base, n_boot=study.options["n_boot"], seed=study.options["seed"])


def build_composite_z(study: Study) -> pd.DataFrame:
    return composite_z(study.cells).merge(config_flags(study.cells), on=["model", "paradigm"])


def build_leading_advantage(study: Study) -> pd.DataFrame:
    return leading_table(study.cells)


def build_comparisons(study: Study) -> pd.DataFrame:
    options = study.options
    return comparisons_table(study.answers, study.paradigms, n_resamples=options["n_permutations"], seed=options["seed"], fns=study.scorers[0])


def build_pareto(study: Study) -> pd.DataFrame:
    return pareto_table(study.cells, study.base)


def build_costs(study: Study) -> pd.DataFrame:
    return cost_table(study.cells)


def build_failures(study: Study) -> pd.DataFrame:
    return failures_table(study.cells)


def build_constrained(study: Study) -> pd.DataFrame:
    from .constrained import constrained_table

    return constrained_table(study.cells, study.design["paradigms"])
