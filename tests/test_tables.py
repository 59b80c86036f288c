"""The analysis tables: Table 2 and NRQ recomputed by hand, the per-cell table, comparisons, and the
base-only and one-model cases the workflow must survive."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from test_score import FPB, record
from slmbench.score import score_cell
from slmbench.config import base_paradigm
from slmbench.results import catalog
from slmbench.results.cells import cells_table, config_costs, failures_table
from slmbench.results.headline import headline
from slmbench.results.html import cells_page, table_page
from slmbench.results.stats import composite_z
from slmbench.results.tables import (
    ALL_CATEGORIES,
    COMPARISON_COLUMNS,
    cell_answers,
    comparisons_table,
    cost_table,
    leading_table,
    nrq_table,
    paradigm_table,
    pareto_table,
    scorers,
    can_reach,
)
from slmbench.registry import DATASETS
from slmbench.results.constrained import constrained_table
from slmbench.results.front import front_page


def analysis_pages(**tables):
    """The page of every catalog table given, by name."""
    return {t.name: table_page(t, tables[t.name]) for t in catalog.TABLES if t.name in tables}

# (model, paradigm) -> (d1 score [category A, higher is better], d2 score [category B, RMSE])
SCORES = {("m1", "base"): (0.5, 0.4), ("m1", "agent"): (0.6, 0.2), ("m2", "base"): (0.4, 0.5), ("m2", "agent"): (0.2, 0.5)}
# (model, paradigm) -> completion rate, latency and failed samples of out of 10 per dataset
COSTS = {("m1", "base"): ((1.0, 1.0), (1, 1), (0, 0)), ("m1", "agent"): ((0.8, 0.6), (2, 4), (2, 4)),
         ("m2", "base"): ((1.0, 1.0), (1, 3), (0, 0)), ("m2", "agent"): ((1.0, 0.6), (6, 8), (0, 4))}  # fmt: skip


def hand_cells() -> pd.DataFrame:
    rows = []
    for (model, paradigm), scores in SCORES.items():
        completion, latency, failed = COSTS[(model, paradigm)]
        for i, (dataset, category, metric, hib) in enumerate([("d1", "A", "f1", True), ("d2", "B", "rmse", False)]):
            rows.append(
                {
                    "model": model, "paradigm": paradigm, "dataset": dataset, "category": category, "metric": metric,
                    "higher_is_better": hib, "score": scores[i], "n": 10, "completion_rate": completion[i],
                    "latency_mean_s": float(latency[i]), "tokens_per_sample": 100.0 * (1 + (paradigm == "agent")),
                    "tokens_per_s": 50.0, "energy_mj_per_token": 2.0 if (model, paradigm) == ("m1", "agent") else np.nan,
                    "failures_turn_limit": failed[i], "failures_timeout": 0,
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_nrq_per_model_and_category_by_hand():
    cells = hand_cells()
    constant = {k: (lambda s: (lambda idx: s))(s) for k, s in zip(zip(cells["model"], cells["paradigm"], cells["dataset"]), cells["score"])}
    table = nrq_table(cells, constant, {"d1": 10, "d2": 10}, base="base", n_boot=20).set_index(["model", "paradigm", "category"])
    # m1 agent: d1 (0.6 - 0.5)/0.5 = 0.2; d2 RMSE (0.2 - 0.4)/0.4 = -0.5, flipped: +0.5; NRQ = (0.2 + 0.5)/2
    assert table.loc[("m1", "agent", "A"), "nrq"] == pytest.approx(0.2)
    assert table.loc[("m1", "agent", "B"), "nrq"] == pytest.approx(0.5)
    assert table.loc[("m1", "agent", ALL_CATEGORIES), "nrq"] == pytest.approx(0.35)
    # m2 agent: d1 (0.2 - 0.4)/0.4 = -0.5; d2 0
    assert table.loc[("m2", "agent", ALL_CATEGORIES), "nrq"] == pytest.approx(-0.25)
    assert (table.xs("base", level="paradigm")["nrq"] == 0).all()
    # the scores do not vary across resamples here, so the intervals collapse onto the estimates
    assert np.allclose(table["ci_low"], table["nrq"]) and np.allclose(table["ci_high"], table["nrq"])
    assert table.loc[("m1", "agent", "A"), "n_datasets"] == 1 and table.loc[("m1", "agent", ALL_CATEGORIES), "n_datasets"] == 2


def test_table2_rows_by_hand_with_model_bootstrap_intervals():
    table = paradigm_table(hand_cells(), base="base", n_boot=200, order=["base", "agent"])
    assert list(table["paradigm"]) == ["base", "agent"]
    agent = table.set_index("paradigm").loc["agent"]
    assert agent["nrq"] == pytest.approx((0.35 - 0.25) / 2)
    assert agent["completion_rate"] == pytest.approx((0.8 + 0.6 + 1.0 + 0.6) / 4)
    assert agent["latency_mean_s"] == pytest.approx(5.0)
    assert agent["energy_mj_per_token"] == pytest.approx(2.0)  # NaN cells skipped
    assert agent["failure_rate"] == pytest.approx((2 + 4 + 0 + 4) / 40)
    assert agent["n_models"] == 2 and agent["n_cells"] == 4
    # resampling two models: the interval lies between the two models' own values and holds the mean
    assert -0.25 - 1e-9 <= agent["nrq_ci_low"] <= agent["nrq"] <= agent["nrq_ci_high"] <= 0.35 + 1e-9
    assert table.set_index("paradigm").loc["base", ["nrq", "nrq_ci_low", "nrq_ci_high"]].tolist() == [0, 0, 0]


def test_failures_and_leading_advantage_tables():
    cells = hand_cells()
    failures = failures_table(cells).set_index(["model", "paradigm"])
    assert failures.loc[("m1", "agent"), "failed"] == 6 and failures.loc[("m1", "agent"), "failure_rate"] == pytest.approx(0.3)
    leading = leading_table(cells)
    assert set(leading["level"]) == {"model", "category", "model x category"}
    # m1 on category A (d1): agent 0.6 ranks 4th of the run's 4 configurations (percentile 1.0), base
    # 0.5 3rd (0.75): +33.3%; the percentiles are those of the whole run, not of m1's cells alone
    row = leading[(leading["level"] == "model x category") & (leading["model"] == "m1") & (leading["category"] == "A")].iloc[0]
    assert row["best_paradigm"] == "agent" and row["leading_advantage_pct"] == pytest.approx(100 * 0.25 / 0.75)


def scored_run(tmp_path, paradigms=("base", "agent"), models=("m1", "m2"), energy=None):
    """Score real FPB records for a grid whose answers are chosen per model/paradigm; returns (cells, sample rows)."""
    paths, rows = [], []
    wrong = {"positive": "negative", "negative": "neutral", "neutral": "positive"}
    for m in models:
        for k, p in enumerate(paradigms):
            # m1's later paradigms answer everything right, m2's everything wrong; base half right
            right = [i % 2 == 0 for i in range(len(FPB))] if k == 0 else [m == "m1"] * len(FPB)
            gens = [record(s, s["gold"] if ok else wrong[s["gold"]], model=m, paradigm=p) for s, ok in zip(FPB, right)]
            summary, sample_rows = score_cell(gens, FPB, energy)
            path = tmp_path / f"{m}-{p}.json"
            path.write_text(json.dumps(summary))
            paths.append(str(path))
            rows += sample_rows
    return cells_table(paths, labels={"m1": {"size_b": 0.1, "family": "F"}}), rows


def test_cells_table_keeps_numbers_numeric_when_energy_was_not_measured(tmp_path):
    cells, _ = scored_run(tmp_path, energy={"energy_j": None, "energy_note": "not measured: none", "hardware": {"cpu": "C", "gpus": []}})
    assert cells["energy_mj_per_token"].dtype == float and cells["energy_mj_per_token"].isna().all()
    assert (cells["hardware_cpu"] == "C").all() and "hardware" not in cells
    assert cells.set_index("model")["size_b"].to_dict()["m1"] == 0.1 and cells.set_index("model")["size_b"].isna()["m2"].all()
    cells.to_parquet(tmp_path / "cells.parquet")  # mixed and all-null columns still write
    assert len(pd.read_parquet(tmp_path / "cells.parquet")) == 4


def test_comparisons_are_paired_signed_and_adjusted(tmp_path):
    cells, rows = scored_run(tmp_path)
    answers = cell_answers(rows, {"fpb": FPB})
    table = comparisons_table(answers, ["base", "agent"], n_resamples=200)
    assert list(table.columns) == COMPARISON_COLUMNS and len(table) == 2
    by_model = table.set_index("model")
    assert by_model.loc["m1", "paradigm_a"] == "agent" and by_model.loc["m1", "paradigm_b"] == "base"
    assert by_model.loc["m1", "diff"] > 0 > by_model.loc["m2", "diff"]
    assert by_model.loc["m1", "score_a"] == pytest.approx(1.0) and by_model.loc["m2", "score_a"] == 0.0
    assert (table["p_holm"] >= table["p_value"]).all() and (table["p_bh"] >= table["p_value"]).all() and (table["p_holm"] <= 1).all()
    fns, sizes = scorers(answers)
    assert sizes == {"fpb": len(FPB)} and fns[("m1", "agent", "fpb")](list(range(len(FPB)))) == pytest.approx(1.0)


@pytest.mark.parametrize("paradigms,models", [(("base",), ("m1", "m2")), (("base", "agent"), ("m1",)), (("base",), ("m1",))])
def test_the_whole_analysis_runs_with_only_base_or_one_model(tmp_path, paradigms, models):
    cells, rows = scored_run(tmp_path, paradigms, models)
    base = base_paradigm({p: {"kind": "base" if p == "base" else "single_agent"} for p in paradigms})
    answers = cell_answers(rows, {"fpb": FPB})
    fns, sizes = scorers(answers)
    tables = {
        "paradigms": paradigm_table(cells, base, n_boot=20),
        "nrq": nrq_table(cells, fns, sizes, base, n_boot=20),
        "composite_z": pd.DataFrame({"model": cells["model"], "paradigm": cells["paradigm"], "composite_z": 0.0}),
        "leading_advantage": leading_table(cells),
        "comparisons": comparisons_table(answers, list(paradigms), n_resamples=50),
        "pareto": pareto_table(cells, base),
        "failures": failures_table(cells),
        "costs": cells,
        "constrained": constrained_table(cells, {p: {"kind": "base" if p == "base" else "single_agent"} for p in paradigms}),
    }
    if paradigms == ("base",):
        assert (tables["nrq"]["nrq"] == 0).all() and tables["comparisons"].empty
        assert list(tables["comparisons"].columns) == COMPARISON_COLUMNS
        assert tables["leading_advantage"]["leading_advantage_pct"].isna().all()
    pages = analysis_pages(**tables)
    assert set(pages) == set(tables) and all(page.startswith("<!DOCTYPE html>") for page in pages.values())
    for row in tables["nrq"].loc[tables["nrq"]["category"] == ALL_CATEGORIES].itertuples():
        # each configuration's NRQ is shown with its interval
        assert f"<td>{row.model}</td><td>{row.paradigm}</td><td>{row.nrq:.3f} <small>[{row.ci_low:.3f}, {row.ci_high:.3f}]</small>" in pages["nrq"]
    last = tables["paradigms"].iloc[-1]
    assert f"{last['latency_mean_s']:.3f} <small>[{last['latency_mean_s_ci_low']:.3f}, {last['latency_mean_s_ci_high']:.3f}]" in pages["paradigms"]
    summary = headline(cells, tables["paradigms"], tables["nrq"], tables["pareto"], tables["comparisons"], {"n_samples": 6}, base)
    text = json.dumps(summary, allow_nan=False)  # valid JSON: NaN became null
    assert summary["energy"]["measured"] is False and summary["grid"]["cells"] == len(paradigms) * len(models)
    assert summary["comparisons"]["tests"] == len(tables["comparisons"]) and "table2" in text


def test_headline_reports_measured_energy(tmp_path):
    cells, rows = scored_run(tmp_path, energy={"energy_j": 0.5, "energy_source": "nvml", "energy_note": "NVML", "hardware": {"cpu": "C", "cpu_cores": 2, "gpus": ["H100"]}})
    answers = cell_answers(rows, {"fpb": FPB})
    fns, sizes = scorers(answers)
    nrq = nrq_table(cells, fns, sizes, n_boot=10)
    summary = headline(cells, paradigm_table(cells, n_boot=10), nrq, pareto_table(cells), comparisons_table(answers, ["base", "agent"], 20), {}, "base")
    assert summary["energy"]["measured"] and summary["energy"]["sources"] == ["nvml"]
    assert summary["hardware"] == [{"hardware": "C (2 cores) + 1 x H100", "cells": 4}]
    assert summary["table2"]["agent"]["energy_mj_per_token"] > 0


def _constant_scorers(cells):
    return {k: (lambda s: (lambda idx: s))(s) for k, s in zip(zip(cells["model"], cells["paradigm"], cells["dataset"]), cells["score"])}


def _nrq_page(cells, nrq):
    empty = pd.DataFrame(columns=COMPARISON_COLUMNS)
    tables = {
        "paradigms": paradigm_table(cells, n_boot=5), "nrq": nrq, "composite_z": composite_z(cells), "leading_advantage": leading_table(cells),
        "comparisons": empty, "pareto": pareto_table(cells), "failures": failures_table(cells), "costs": cost_table(cells),
    }  # fmt: skip
    return analysis_pages(**tables)["nrq"]


def test_nrq_counts_datasets_with_a_zero_base_score_and_the_page_says_so():
    cells = hand_cells()
    cells.loc[(cells["model"] == "m1") & (cells["paradigm"] == "base") & (cells["dataset"] == "d1"), "score"] = 0.0
    table = nrq_table(cells, _constant_scorers(cells), {"d1": 10, "d2": 10}, base="base", n_boot=20)
    indexed = table.set_index(["model", "paradigm", "category"])
    counts = indexed["n_datasets_zero_base"]
    assert counts[("m1", "agent", ALL_CATEGORIES)] == 1 and counts[("m1", "agent", "A")] == 1 and counts[("m1", "agent", "B")] == 0
    assert counts[("m1", "base", ALL_CATEGORIES)] == 1 and (counts.xs("m2", level="model") == 0).all()
    # d1's gain is undefined and left out (never 0.6 / 1e-8): category A has no defined gain, NRQ is d2's +0.5
    assert indexed.loc[("m1", "agent", ALL_CATEGORIES), "nrq"] == pytest.approx(0.5)
    assert np.isnan(indexed.loc[("m1", "agent", "A"), "nrq"])
    assert (table["nrq"].abs().dropna() < 1e3).all() and (table[["ci_low", "ci_high"]].abs().fillna(0) < 1e3).all().all()
    table2 = paradigm_table(cells, "base", n_boot=20)
    assert table2.set_index("paradigm").loc["agent", "n_nrq_undefined"] == 1 and (table2["nrq"].abs() < 1e3).all()
    page = _nrq_page(cells, table)
    assert "datasets with base score 0" in page and "This run has 1 model x dataset base score(s) of 0" in page
    clean = hand_cells()
    assert "This run has 0 model x dataset" in _nrq_page(clean, nrq_table(clean, _constant_scorers(clean), {"d1": 10, "d2": 10}, n_boot=5))


def _tsa_answers(pairs):
    """CellAnswers for TSA (gold 0): {(model, paradigm): answers}."""
    samples = [{"id": str(i), "gold": 0.0} for i in range(6)]
    return {(m, p, "tsa"): (DATASETS["tsa"], samples, answers) for (m, p), answers in pairs.items()}


def test_comparisons_with_an_undefined_difference_mark_no_winner():
    answers = _tsa_answers({
        ("m1", "base"): [0.9] * 6, ("m1", "agent"): [None] * 6,  # agent never answered: RMSE undefined
        ("m2", "base"): [0.9] * 6, ("m2", "agent"): [0.0] * 6,  # a clear difference
    })  # fmt: skip
    table = comparisons_table(answers, ["base", "agent"], n_resamples=100).set_index("model")
    assert np.isnan(table.loc["m1", ["diff", "ci_low", "ci_high", "p_value", "p_holm", "p_bh"]].astype(float)).all()
    assert table.loc["m1", "favours"] == ""
    # the untestable pair is left out of the family: m2 is adjusted alone, so its p stays as it is
    assert table.loc["m2", "p_holm"] == table.loc["m2", "p_bh"] == table.loc["m2", "p_value"] < 0.05
    assert table.loc["m2", "favours"] == "agent"


def test_comparisons_use_the_scorers_passed_in(monkeypatch):
    answers = _tsa_answers({("m1", "base"): [0.9] * 6, ("m1", "agent"): [0.0] * 6})
    fns = {("m1", "base", "tsa"): lambda idx: 0.25, ("m1", "agent", "tsa"): lambda idx: 0.75}

    def rebuild(*args):
        raise AssertionError("comparisons_table rebuilt a scorer it was given")

    monkeypatch.setattr("slmbench.results.tables.subset_scorer", rebuild)
    row = comparisons_table(answers, ["base", "agent"], n_resamples=20, fns=fns).iloc[0]
    assert (row["score_a"], row["score_b"]) == (0.75, 0.25)


def test_cells_page_costs_per_configuration_share_the_failures_table(tmp_path):
    cells = hand_cells()
    costs = config_costs(cells).set_index(["model", "paradigm"])
    assert costs.loc[("m1", "agent"), "completion_rate"] == pytest.approx(0.7)
    assert costs.loc[("m2", "agent"), "latency_mean_s"] == pytest.approx(7.0)
    assert costs["failed"].to_dict() == failures_table(cells).set_index(["model", "paradigm"])["failed"].to_dict()
    scored, _ = scored_run(tmp_path)
    page = cells_page(scored)
    assert "failed samples" in page and "score CI low" in page
    for row in scored.itertuples():  # every cell's score interval reaches the page
        assert f"{row.score_ci_low:.3f}" in page and f"{row.score_ci_high:.3f}" in page
    assert scored["score_ci_low"].dtype == float and (scored["score_ci_low"] <= scored["score"]).all()
    assert (scored["score"] <= scored["score_ci_high"]).all()


def test_table2_costs_equal_the_pooled_per_sample_data_by_hand(tmp_path):
    """Table 2 recomputed from the per-sample rows: tokens/s = all tokens / all latency, mJ/token = all
    energy / all fresh tokens, per paradigm (not means of the cells' ratios)."""
    paths, rows, energy = [], [], {}
    for m, (model, paradigm) in enumerate([("m1", "base"), ("m1", "agent"), ("m2", "base"), ("m2", "agent")]):
        gens = [
            record(s, s["gold"], model=model, paradigm=paradigm, latency=0.5 + i * (m + 1),
                   calls=((10 * (i + 1), 3 + m, i % 3 == 0), (7, 2 * m, False)))
            for i, s in enumerate(FPB)
        ]  # fmt: skip
        energy[(model, paradigm)] = 0.2 * (m + 1)
        summary, sample_rows = score_cell(gens, FPB, {"energy_j": energy[(model, paradigm)], "energy_source": "nvml", "hardware": {}})
        path = tmp_path / f"{model}-{paradigm}.json"
        path.write_text(json.dumps(summary))
        paths.append(str(path))
        rows += sample_rows
    table = paradigm_table(cells_table(paths), n_boot=20).set_index("paradigm")
    samples = pd.DataFrame(rows)
    for paradigm, group in samples.groupby("paradigm"):
        joules = sum(e for (_, p), e in energy.items() if p == paradigm)
        assert table.loc[paradigm, "tokens_per_s"] == pytest.approx(group["total_tokens"].sum() / group["latency_s"].sum())
        assert table.loc[paradigm, "energy_mj_per_token"] == pytest.approx(joules * 1e3 / group["fresh_tokens"].sum())
        assert table.loc[paradigm, "latency_mean_s"] == pytest.approx(group["latency_s"].mean())
        assert table.loc[paradigm, "tokens_per_sample"] == pytest.approx(group["total_tokens"].mean())
        assert table.loc[paradigm, "tokens_per_s"] != pytest.approx(table.loc[paradigm, "tokens_per_s_cell_mean"])


def _cells_of(table_html: str) -> list[list[str]]:
    import re

    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table_html)]


def test_tables_read_as_people_write_them(tmp_path):
    """Counts as integers, rates as percentages, human column names, no float noise, no always-empty
    column, and every cell split into a quality and a cost table; the CSV keeps its machine names."""
    import re

    from slmbench.results.build import CSV_FLOAT_FORMAT
    from slmbench.results.html import html_table

    scored, _ = scored_run(tmp_path, energy={"energy_j": None, "energy_note": "not measured: none", "hardware": {"cpu": "C", "gpus": []}})
    page = cells_page(scored.assign(score=scored["score"] + 1e-13))  # float noise must not reach the page
    headers = re.findall(r"<th>(.*?)</th>", page)
    assert "energy (J / sample)" not in headers  # energy not measured: empty in every row, named below instead
    assert "Empty in every row, so not shown:" in page and "energy (J / sample)" in page
    assert not [h for h in headers if "_" in h or h in ("energy j", "size b", "fresh tokens")]
    assert "<h2>Every cell: quality</h2>" in page and "<h2>Every cell: latency and tokens</h2>" in page
    from slmbench.results.html import every_cell

    assert {c for _, f in every_cell(scored) for c in f.columns} == set(scored.columns) - {"energy_note"}  # no column lost
    quality = page.split("<h2>Every cell: quality</h2>")[1].split("<h2>")[0]
    assert "latency" not in quality and "score" in quality
    assert not re.search(r"\d\.\d{4,}", re.sub(r"<[^>]+>", " ", page))  # never more than 3 decimals
    assert "&lt;" not in page and "&amp;ndash;" not in page

    frame = pd.DataFrame({"model": ["m"], "n": [64.0], "failures_turn_limit": [3.0], "completion_rate": [0.9967], "energy_j": [np.nan]})
    table = html_table(frame)
    assert [row for row in _cells_of(table) if row] == [["m", "64", "3", "99.7%"]]
    assert "<th>samples</th>" in table and "<th>failed: turn limit</th>" in table and "energy" in table.split("</table>")[1]

    noisy = pd.DataFrame({"x": [0.1 + 0.2, -0.75]})
    noisy.to_csv(tmp_path / "t.csv", index=False, float_format=CSV_FLOAT_FORMAT)
    assert (tmp_path / "t.csv").read_text().split() == ["x", "0.3", "-0.75"]


def test_comparisons_no_test_can_reach_the_threshold_say_so_in_one_sentence(tmp_path):
    """Three samples: 8 sign swaps, so no permutation p below 0.25; the page says so instead of rows of p = 1."""
    cells, rows = scored_run(tmp_path)
    answers = cell_answers(rows, {"fpb": FPB})
    three = {k: (spec, samples[:3], ans[:3]) for k, (spec, samples, ans) in answers.items()}
    table = comparisons_table(three, ["base", "agent"], n_resamples=200)
    assert (table["p_value"] >= table["min_p"] - 1e-9).all() and (table["min_p"] == 0.25).all()
    assert not can_reach(table) and can_reach(comparisons_table(answers, ["base", "agent"], n_resamples=200)) == (2.0 ** (1 - len(FPB)) * 2 < 0.05)
    page = table_page(next(t for t in catalog.TABLES if t.name == "comparisons"), table)
    assert "No paired test can show a difference at this sample size" in page and "<table" not in page


def test_the_front_page_gives_the_verdict_and_table_2_beside_the_papers():
    cells = hand_cells().assign(n_missing_answer=2, flagged=False)
    cells.loc[cells["paradigm"] == "agent", "flagged"] = True
    cells.loc[(cells["paradigm"] == "base") & (cells["model"] == "m1") & (cells["dataset"] == "d1"), "score"] = 0.0
    table = paradigm_table(cells, n_boot=20)
    design = {"paradigms": {"base": {"kind": "base", "constrain": "none"}, "agent": {"kind": "single_agent", "constrain": "none"}}}
    comparisons = pd.DataFrame({"n": [3, 3], "min_p": [0.25, 0.25], "favours": ["", ""]})
    front = front_page(table, cells, comparisons, design)
    assert front.count("<li>") == 3 and "Not testable: with 10 samples" in front  # n is the cells' largest
    assert "<td>agent &#8224;</td>" in front and "<td>base</td>" in front  # the flagged paradigm is marked
    assert "99.67%" in front and "4.85" in front and re.search(r"\d+\.\d\d% \(80\.00%\)", front)  # the paper's rows; rates as percentages
    assert "e+0" not in front and "&lt;" not in front.replace("p &lt; 0.05", "")
