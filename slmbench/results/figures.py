"""The figures of a run, one function per entry of `slmbench.results.catalog.FIGURES`, drawn from
the per-cell table and the analysis tables."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def save(fig, path: str) -> None:
    """Lay the figure out once, write it and close it. tight_layout leaves a placeholder layout engine
    on the figure, for which savefig draws everything once more without rendering (layouts computed
    at draw time need that pass); this layout is already done, so the engine is dropped first: the
    same PNG, byte for byte, in less time (bench/README.md, "One cell, whole run")."""
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    else:
        fig.draw_without_rendering()  # the constrained layout, computed once
    # None means no engine only while these settings are off (a matplotlibrc may turn them on).
    with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def score_by_model(cells: pd.DataFrame, path: str) -> None:
    """One panel per dataset: each model's score under each paradigm, bars side by side."""
    datasets = sorted(cells["dataset"].unique())
    paradigms = list(dict.fromkeys(cells["paradigm"]))
    models = sorted(cells["model"].unique())
    cols = min(4, len(datasets))
    rows = -(-len(datasets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols + 1.2, 3.0 * rows), squeeze=False, layout="constrained")
    width = 0.8 / len(paradigms)
    colours = plt.get_cmap("tab10")
    for ax, dataset in zip(axes.flat, datasets):
        sub = cells[cells["dataset"] == dataset]
        for i, paradigm in enumerate(paradigms):
            scores = [sub[(sub["model"] == m) & (sub["paradigm"] == paradigm)]["score"].mean() for m in models]
            xs = [x + i * width for x in range(len(models))]
            bars = ax.bar(xs, scores, width, label=paradigm, color=colours(i % 10))
            _mark_zeros(ax, xs, scores, width, bars.patches[0].get_facecolor() if bars.patches else "black")
        values = np.r_[sub["score"].to_numpy(dtype=float), 0.0]
        low, top = np.nanmin(values), np.nanmax(values)
        ax.set_ylim(low * 1.15, top * 1.15 if top > 0 else 1.0)  # from 0 (or a negative MCC); all zero still spans 0 to 1
        metric = sub["metric"].iloc[0]
        arrow = "lower is better" if not sub["higher_is_better"].iloc[0] else "higher is better"
        ax.set_title(f"{dataset}\n{metric} ({arrow})", fontsize=9)
        ax.set_xticks([x + width * (len(paradigms) - 1) / 2 for x in range(len(models))], models, rotation=20, fontsize=8)
    for ax in list(axes.flat)[len(datasets):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="paradigm", fontsize=8, loc="outside right upper")  # outside every panel
    save(fig, path)


def _mark_zeros(ax, xs, values, width, colour) -> None:
    """A score of exactly 0 draws no bar: a thick line at 0 and the value written above it make it seen
    (a missing score stays empty)."""
    for x, value in zip(xs, values):
        if value == 0:
            ax.plot([x - width / 2, x + width / 2], [0, 0], color=colour, linewidth=3, solid_capstyle="butt", gid="zero-score")
            ax.annotate("0", (x, 0), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=6)


# --- the study's figures -----------------------------------------------------------------------------

MARKERS = "osD^vP*X"


def _styles(configs: pd.DataFrame) -> tuple[dict, dict]:
    models = list(dict.fromkeys(configs["model"]))
    paradigms = list(dict.fromkeys(configs["paradigm"]))
    colours = plt.get_cmap("tab10")
    return {m: colours(i % 10) for i, m in enumerate(models)}, {p: MARKERS[i % len(MARKERS)] for i, p in enumerate(paradigms)}


def _legends(ax, colour: dict, marker: dict, frontier: bool = False) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, marker="o", linestyle="", label=m) for m, c in colour.items()]
    handles += [Line2D([], [], color="grey", marker=mk, linestyle="", label=p) for p, mk in marker.items()]
    if frontier:
        handles.append(Line2D([], [], color="black", marker="o", markerfacecolor="none", markersize=11, label="Pareto frontier"))
    # beside the plot, never over a point
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), title="model / paradigm", title_fontsize=7)


LABEL_STEPS = 500  # adjustText's iterations; it stops earlier once no label overlaps


def label_points(ax, points: list[tuple[float, float, str]]) -> list:
    """Name every point next to it (colour and marker alone do not tell 12 configurations apart) and
    move the names apart until no two overlap, with a thin line back to the point (adjustText)."""
    from adjustText import adjust_text

    shown = [(x, y, name) for x, y, name in points if x == x and y == y]
    texts = [ax.text(x, y, name, fontsize=6, gid="point-label") for x, y, name in shown]
    if len(texts) > 1:
        ax.figure.draw_without_rendering()
        xs, ys = [p[0] for p in shown], [p[1] for p in shown]
        # a fixed number of steps, not adjustText's default 1 s: the same layout (and PNG) on a busy machine
        adjust_text(texts, x=xs, y=ys, ax=ax, iter_lim=LABEL_STEPS, arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.5}, ensure_inside_axes=True)
    return texts


def log_x(ax) -> None:
    """A log x axis whose labels stay apart: labels at 1, 2 and 5 of each decade, written plainly, and
    unlabelled minor ticks (matplotlib labels minor ticks when the span is under a decade, and they
    run together)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


# Beside a point whose score rests on flagged answers (echoed prompts, cut replies, readings FinBen-exact
# disputes: slmbench/validity.py), as the tables and the front page mark it.
FLAG = " †"
FLAG_NOTE = "† rests on flagged answers (echoed prompt, cut reply or disputed reading)"


def flag(row) -> str:
    return FLAG if getattr(row, "flagged", False) == True else ""  # noqa: E712 (numpy's bool; NaN: not flagged)


def flag_note(frame: pd.DataFrame) -> str:
    return f"\n{FLAG_NOTE}" if "flagged" in frame and frame["flagged"].fillna(False).astype(bool).any() else ""


def config_name(row) -> str:
    return f"{row.model} / {row.paradigm}{flag(row)}"


def cost_axis(configs: pd.DataFrame) -> tuple[str, str]:
    """(column, label): energy per token where any configuration has it, else latency (and the label says so)."""
    if "energy_mj_per_token" in configs and configs["energy_mj_per_token"].notna().any():
        return "energy_mj_per_token", "energy per token (mJ)"
    return "latency_mean_s", "latency per sample (s) - energy was not measured"


def quality_vs_cost(configs: pd.DataFrame, path: str) -> None:
    """The paper's Fig. 2: one point per model x paradigm, quality (NRQ and composite z) against
    energy per token, or latency when no energy was measured, on a log axis as the paper's."""
    cost, label = cost_axis(configs)
    colour, marker = _styles(configs)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, quality, title in zip(axes, ["nrq", "composite_z"], ["NRQ (gain over base; base = 0)", "composite effectiveness (z)"]):
        points = []
        for row in configs.itertuples():
            x, y = getattr(row, cost), getattr(row, quality)
            if x == x and y == y:
                ax.scatter(x, y, color=colour[row.model], marker=marker[row.paradigm], s=50)
                points.append((x, y, config_name(row)))
        if (configs[cost] > 0).any():
            log_x(ax)
            label_used = f"{label}, log scale"
        else:
            label_used = label
        ax.set_xlabel(label_used)
        ax.set_ylabel(title)
        ax.axhline(0, color="grey", linewidth=0.6)
        ax.grid(alpha=0.3)
        label_points(ax, points)
    _legends(axes[1], colour, marker)
    fig.suptitle("Quality against cost, one point per model x paradigm" + flag_note(configs), fontsize=10)
    save(fig, path)


def is_tie(best: float, second: float) -> bool:
    """Equal scores (up to float noise) are a tie, never a win by "+0%"."""
    return bool(np.isclose(best, second, rtol=1e-9, atol=1e-12))


def best_paradigm_heatmap(leading: pd.DataFrame, path: str, cap: float = 100.0) -> None:
    """The paper's Fig. 3: task category x model; each cell names the best paradigm (by mean score)
    and is coloured by its lead over the runner-up (%, colour capped at `cap`); grey where only one
    paradigm ran or the best two tie (the cell says "tie"). A runner-up scoring 0 makes the relative lead meaningless: the cell says so."""
    cells = leading.loc[leading["level"] == "model x category"]
    models = list(dict.fromkeys(cells["model"]))
    categories = list(dict.fromkeys(cells["category"]))
    grid = np.full((len(categories), len(models)), np.nan)
    texts = [["" for _ in models] for _ in categories]
    for row in cells.itertuples():
        i, j = categories.index(row.category), models.index(row.model)
        value = row.leading_advantage_pct
        grid[i, j] = min(value, cap) if value == value else np.nan
        if value != value:
            texts[i][j] = row.best_paradigm or ""
        elif is_tie(row.best_score, row.second_score):
            grid[i, j] = np.nan  # no lead to colour
            texts[i][j] = f"tie\n{row.best_paradigm} = {row.second_paradigm}"
        elif abs(row.second_score) < 1e-6:
            texts[i][j] = f"{row.best_paradigm}\n(runner-up 0)"
        else:
            texts[i][j] = f"{row.best_paradigm}\n+{value:.0f}%"
    fig, ax = plt.subplots(figsize=(3.2 + 1.5 * max(len(models), 1), 2.2 + 0.5 * max(len(categories), 1)))
    cmap = plt.get_cmap("viridis").with_extremes(bad="#dddddd")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=cap, aspect="auto")
    for i in range(len(categories)):
        for j in range(len(models)):
            dark = grid[i, j] == grid[i, j] and grid[i, j] < cap / 2
            ax.text(j, i, texts[i][j], ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_xticks(range(len(models)), models, rotation=20, fontsize=8)
    ax.set_yticks(range(len(categories)), categories, fontsize=8)
    fig.colorbar(image, ax=ax, label=f"lead (%, capped at {cap:.0f})")
    ax.set_title("Best paradigm per task category and model", fontsize=10)
    save(fig, path)


# The paper's Figure 4 categories for each failure kind of slmbench.trace.FAILURE_KINDS. Its "timeout"
# has no counterpart: a request that times out is retried and then fails the job, not the sample.
PAPER_FAILURE_CATEGORY = {
    "context_length_exceeded": "context length exceeded",
    "no_final_answer": "no final answer",
    "turn_limit": "no final answer",
    "malformed_action": "no final answer (malformed output)",
    "unknown_tool": "no final answer (malformed output)",
    "tool_error": "no final answer (tool error)",
    "no_delegation": "no delegation",
    "delegation_failure": "delegation failure (incl. loops, cut at max_delegations)",
}


def failures_by_paradigm(cells: pd.DataFrame, path: str) -> None:
    """The paper's Fig. 4: failure kinds per paradigm, stacked, as a share of the paradigm's samples;
    the legend names each kind's category in the paper's figure (PAPER_FAILURE_CATEGORY)."""
    kinds = [c for c in cells.columns if c.startswith("failures_")]
    grouped = cells.groupby("paradigm", sort=False)
    shares = grouped[kinds].sum().div(grouped["n"].sum(), axis=0) * 100
    shares = shares.loc[:, shares.sum(axis=0) > 0]
    fig, ax = plt.subplots(figsize=(6.0 + 1.3 * len(shares), 3.8))  # room for the legend on the right
    bottom = np.zeros(len(shares))
    colours = plt.get_cmap("tab10")
    for i, kind in enumerate(shares.columns):
        name = kind.removeprefix("failures_")
        label = f"{name.replace('_', ' ')} -> paper: {PAPER_FAILURE_CATEGORY.get(name, 'none')}"
        ax.bar(shares.index, shares[kind], bottom=bottom, label=label, color=colours(i % 10))
        bottom += shares[kind].to_numpy()
    if shares.shape[1] == 0:
        ax.bar(grouped["n"].sum().index, 0)
        ax.text(0.5, 0.5, "no failures", transform=ax.transAxes, ha="center")
    else:
        ax.legend(fontsize=7, title="failure kind -> the paper's Figure 4 category", title_fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    ax.set_ylabel("failed samples (% of the paradigm's samples)")
    ax.set_title("Failure kinds per paradigm", fontsize=10)
    save(fig, path)


def pareto_plot(configs: pd.DataFrame, path: str) -> None:
    """Composite z against tokens per sample and against energy (or latency), frontier joined by a line."""
    from .stats import pareto_frontier

    colour, marker = _styles(configs)
    energy, energy_label = cost_axis(configs)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, (cost, label) in zip(axes, [("tokens_per_sample", "tokens per sample"), (energy, energy_label)]):
        points = []
        for row in configs.itertuples():
            x, y = getattr(row, cost), row.composite_z
            if x == x and y == y:
                ax.scatter(x, y, color=colour[row.model], marker=marker[row.paradigm], s=50, zorder=3)
                points.append((x, y, config_name(row)))
        front = pareto_frontier(configs, "composite_z", cost)
        if len(front):
            ax.step(front[cost], front["composite_z"], where="post", color="black", linewidth=1, zorder=2)
            ax.scatter(front[cost], front["composite_z"], s=160, facecolors="none", edgecolors="black", zorder=4, label="on the frontier")
        ax.set_xlabel(label)
        ax.set_ylabel("composite effectiveness (z)")
        ax.grid(alpha=0.3)
        label_points(ax, points)
    _legends(axes[-1], colour, marker, frontier=True)
    fig.suptitle("Pareto frontier: no configuration is better and cheaper than one on the line" + flag_note(configs), fontsize=10)
    save(fig, path)


def nrq_vs_size(nrq: pd.DataFrame, cells: pd.DataFrame, path: str) -> None:
    """NRQ (with its 95% CI) of each agent paradigm against the model's size in billions of parameters
    (the cells' `size_b`, from the config)."""
    overall = nrq.loc[nrq["category"] == "(all)"]
    _quality_vs_size(overall, "nrq", cells, path, "NRQ (gain over base; 95% CI)", "NRQ against model size", ci=("ci_low", "ci_high"))


def z_vs_size(composite: pd.DataFrame, cells: pd.DataFrame, path: str) -> None:
    """Composite z of every paradigm, base included, against model size: the paper's "U-turn" of the
    base paradigm with size (NRQ cannot show it: base NRQ is 0 by definition)."""
    _quality_vs_size(composite, "composite_z", cells, path, "composite effectiveness (z)", "Composite z against model size, per paradigm")


def _quality_vs_size(frame: pd.DataFrame, column: str, cells: pd.DataFrame, path: str, ylabel: str, title: str, ci: tuple[str, str] | None = None) -> None:
    """One line per paradigm of `column` (per model x paradigm) against the models' `size_b`, log x."""
    sizes = cells.groupby("model", sort=False)["size_b"].first().to_dict() if "size_b" in cells else {}
    frame = frame.assign(size_b=pd.to_numeric(frame["model"].map(lambda m: sizes.get(m)), errors="coerce"))
    known = frame.dropna(subset=["size_b"])
    fig, ax = plt.subplots(figsize=(7.5, 4))
    colours = plt.get_cmap("tab10")
    groups = list(known.groupby("paradigm", sort=False))
    points: list[tuple[float, float, str]] = []
    for i, (paradigm, sub) in enumerate(groups):
        # paradigms side by side around each size (x 1.0 +- a few %), so that the intervals do not overlap
        sub = sub.sort_values("size_b").assign(size_b=lambda f: f["size_b"] * (1 + 0.05 * (i - (len(groups) - 1) / 2)))
        errors = np.array([sub[column] - sub[ci[0]], sub[ci[1]] - sub[column]]).clip(min=0) if ci else None
        ax.errorbar(sub["size_b"], sub[column], yerr=None if errors is None else np.nan_to_num(errors), marker=MARKERS[i % len(MARKERS)], capsize=3, label=paradigm, color=colours(i % 10))
        points += [(row.size_b, getattr(row, column), f"{row.model}{flag(row)}") for row in sub.itertuples()]
    missing = sorted(set(frame["model"]) - set(known["model"]))
    if known.empty:
        ax.text(0.5, 0.5, "no model has size_b in the config", transform=ax.transAxes, ha="center")
    else:
        from matplotlib.ticker import NullFormatter

        ax.set_xscale("log")
        ticks = sorted(known["size_b"].unique())
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks], fontsize=7, rotation=45)  # the models' sizes, not log decades
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=8, title="paradigm", loc="upper left", bbox_to_anchor=(1.02, 1))
        label_points(ax, points)
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.set_xlabel("model size (billion parameters, log scale)" + (f"; no size: {', '.join(missing)}" if missing else ""), fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title + flag_note(frame), fontsize=10)
    ax.grid(alpha=0.3)
    save(fig, path)
