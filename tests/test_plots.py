"""The figures draw from small tables, with and without energy, with one paradigm or several."""

import numpy as np
import pytest

from test_tables import hand_cells
from slmbench.results import catalog, figures
from slmbench.results.figures import cost_axis, failures_by_paradigm, nrq_vs_size
from slmbench.results.stats import composite_z
from slmbench.results.tables import leading_table, nrq_table, pareto_table


def _inputs(cells):
    constant = {k: (lambda s: (lambda idx: s))(s) for k, s in zip(zip(cells["model"], cells["paradigm"], cells["dataset"]), cells["score"])}
    nrq = nrq_table(cells, constant, {d: 10 for d in cells["dataset"].unique()}, n_boot=5)
    return pareto_table(cells), leading_table(cells), nrq


def test_cost_axis_falls_back_to_latency_and_says_so():
    cells = hand_cells()
    assert cost_axis(pareto_table(cells))[0] == "energy_mj_per_token"
    column, label = cost_axis(pareto_table(cells.assign(energy_mj_per_token=np.nan)))
    assert column == "latency_mean_s" and "not measured" in label


@pytest.mark.parametrize("base_only", [False, True])
def test_every_figure_is_drawn(tmp_path, base_only):
    cells = hand_cells().assign(metric="f1")
    if base_only:
        cells = cells.loc[cells["paradigm"] == "base"].assign(energy_mj_per_token=np.nan)
    cells = cells.assign(size_b=cells["model"].map({"m1": 0.5, "m2": None}).astype(float))
    pareto, leading, nrq = _inputs(cells)
    tables = {"cells": cells, "pareto": pareto, "leading_advantage": leading, "nrq": nrq, "composite_z": composite_z(cells)}
    for figure in catalog.FIGURES:  # as slmbench/results/build.py draws them
        getattr(figures, figure.draw)(*(tables[name] for name in figure.inputs), tmp_path / f"{figure.name}.png")
    for figure in catalog.FIGURES:
        assert (tmp_path / f"{figure.name}.png").stat().st_size > 5000, figure.name


def test_nrq_against_size_without_any_size(tmp_path):
    _, _, nrq = _inputs(hand_cells())
    nrq_vs_size(nrq, hand_cells().drop(columns="size_b", errors="ignore"), tmp_path / "size.png")
    assert (tmp_path / "size.png").stat().st_size > 5000


def test_failures_figure_without_failures(tmp_path):
    cells = hand_cells().assign(failures_turn_limit=0)
    failures_by_paradigm(cells, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 3000


def test_failure_legend_maps_every_kind_onto_the_papers_figure_4():
    from slmbench.results.figures import PAPER_FAILURE_CATEGORY
    from slmbench.trace import FAILURE_KINDS

    assert set(PAPER_FAILURE_CATEGORY) == set(FAILURE_KINDS)


def test_quality_vs_cost_uses_a_log_axis(tmp_path, monkeypatch):
    import matplotlib.axes

    scales = []
    monkeypatch.setattr(matplotlib.axes.Axes, "set_xscale", lambda self, value, **kw: scales.append(value))
    figures.quality_vs_cost(pareto_table(hand_cells()), tmp_path / "q.png")
    assert scales == ["log", "log"]
