"""Figures of a run, drawn from the per-cell table."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def score_by_model(cells: pd.DataFrame, path: str) -> None:
    """One panel per dataset: each model's score under each paradigm, bars side by side."""
    datasets = sorted(cells["dataset"].unique())
    paradigms = list(dict.fromkeys(cells["paradigm"]))
    models = sorted(cells["model"].unique())
    cols = min(4, len(datasets))
    rows = -(-len(datasets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    width = 0.8 / len(paradigms)
    for ax, dataset in zip(axes.flat, datasets):
        sub = cells[cells["dataset"] == dataset]
        for i, paradigm in enumerate(paradigms):
            scores = [sub[(sub["model"] == m) & (sub["paradigm"] == paradigm)]["score"].mean() for m in models]
            ax.bar([x + i * width for x in range(len(models))], scores, width, label=paradigm)
        metric = sub["metric"].iloc[0]
        arrow = "lower is better" if not sub["higher_is_better"].iloc[0] else "higher is better"
        ax.set_title(f"{dataset}\n{metric} ({arrow})", fontsize=9)
        ax.set_xticks([x + width * (len(paradigms) - 1) / 2 for x in range(len(models))], models, rotation=20, fontsize=8)
    for ax in list(axes.flat)[len(datasets):]:
        ax.axis("off")
    axes.flat[0].legend(title="paradigm", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
