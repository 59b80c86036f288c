"""The figures draw from small tables, with and without energy, with one paradigm or several."""

import numpy as np
import pandas as pd
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


def _overlaps(boxes) -> bool:
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_point_labels_are_moved_apart(monkeypatch):
    """Twelve configurations at nearly the same place: their names end with no two boxes overlapping."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    points = [(1.0 + 0.001 * i, 0.5 + 0.001 * i, f"model-{i} / agent") for i in range(12)]
    ax.scatter([p[0] for p in points], [p[1] for p in points])
    ax.set_xlim(0, 2), ax.set_ylim(0, 1)
    texts = figures.label_points(ax, points)
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    assert len(texts) == 12 and not _overlaps(boxes)
    plt.close(fig)


def test_size_figure_names_every_point_apart(tmp_path, monkeypatch):
    """Two models of one size: before, their names were printed on top of each other."""
    import matplotlib.pyplot as plt

    kept = []
    monkeypatch.setattr(figures, "save", lambda fig, path: kept.append(fig))
    cells = hand_cells().assign(size_b=0.5)
    figures.z_vs_size(composite_z(cells), cells, tmp_path / "z.png")
    fig = kept[0]
    fig.draw_without_rendering()
    texts = [t for t in fig.axes[0].texts if t.get_gid() == "point-label"]
    assert sorted(t.get_text() for t in texts) == ["m1", "m1", "m2", "m2"]
    assert not _overlaps([t.get_window_extent(fig.canvas.get_renderer()) for t in texts])
    plt.close(fig)


def test_a_zero_score_is_drawn(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    kept = []
    monkeypatch.setattr(figures, "save", lambda fig, path: kept.append(fig))
    cells = hand_cells()
    cells.loc[(cells["model"] == "m1") & (cells["paradigm"] == "base") & (cells["dataset"] == "d1"), "score"] = 0.0
    figures.score_by_model(cells, tmp_path / "s.png")
    ax = kept[0].axes[0]
    zero = [line for line in ax.lines if line.get_gid() == "zero-score"]
    assert len(zero) == 1 and zero[0].get_linewidth() > 0 and list(zero[0].get_ydata()) == [0, 0]
    assert "0" in [t.get_text() for t in ax.texts]
    legend = kept[0].legends[0]  # the paradigms' legend sits beside the panels, not over a bar
    kept[0].draw_without_rendering()
    renderer = kept[0].canvas.get_renderer()
    assert not any(legend.get_window_extent(renderer).overlaps(a.get_window_extent(renderer)) for a in kept[0].axes if a.axison)
    plt.close(kept[0])


def test_a_tie_is_drawn_as_a_tie(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    kept = []
    monkeypatch.setattr(figures, "save", lambda fig, path: kept.append(fig))
    leading = pd.DataFrame([
        {"level": "model x category", "model": "m1", "category": "A", "best_paradigm": "base", "second_paradigm": "agent",
         "best_score": 0.5, "second_score": 0.5, "leading_advantage_pct": 0.0},
        {"level": "model x category", "model": "m2", "category": "A", "best_paradigm": "agent", "second_paradigm": "base",
         "best_score": 0.6, "second_score": 0.3, "leading_advantage_pct": 100.0},
    ])  # fmt: skip
    figures.best_paradigm_heatmap(leading, tmp_path / "b.png")
    texts = [t.get_text() for t in kept[0].axes[0].texts]
    assert "tie\nbase = agent" in texts and "agent\n+100%" in texts
    assert not any("+0%" in t for t in texts)
    plt.close(kept[0])


def test_log_axis_labels_do_not_run_together():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0.13, 0.27], [0, 1])  # under one decade: matplotlib would label every minor tick
    figures.log_x(ax)
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.get_xticklabels(minor=False) + ax.get_xticklabels(minor=True) if t.get_text() and t.get_visible()]
    inside = [t for t in labels if 0.13 <= t.get_position()[0] <= 0.27]
    assert not _overlaps([t.get_window_extent(renderer) for t in inside])
    plt.close(fig)


def test_labelled_figures_are_the_same_on_every_run(tmp_path):
    """The labels' layout takes a fixed number of steps, not a time budget: the same PNG each time."""
    pareto = pareto_table(hand_cells())
    for name in ("a", "b"):
        figures.pareto_plot(pareto, tmp_path / f"{name}.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_a_point_whose_score_rests_on_flagged_answers_carries_the_mark():
    """As the tables and the front page mark it: a configuration read from echoed prompts is never unmarked."""
    from slmbench.results.figures import FLAG_NOTE, config_name, flag_note

    frame = pd.DataFrame({"model": ["gemma", "smol", "x"], "paradigm": ["base"] * 3, "flagged": [True, False, None]})
    assert [config_name(row) for row in frame.itertuples()] == ["gemma / base †", "smol / base", "x / base"]
    assert FLAG_NOTE in flag_note(frame) and flag_note(frame[frame.flagged == False]) == ""  # noqa: E712
