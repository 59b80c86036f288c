"""Every table and figure of the report, in one place: what builds it, where its caption lives, and
where the report files it.

The rules expand these entries into outputs (rules/common.smk), the results job loops over them
(slmbench/results/build.py), and the captions live only in `report/<caption>.rst`, which
the report shows next to the item and the HTML page shows at its top. Adding an analysis table is
one `Table` entry here, one builder in `slmbench.results.tables` and one caption file.

This module imports nothing heavy: the Snakefile reads it while parsing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPORT_DIR = Path(__file__).resolve().parent.parent.parent / "report"
TABLES_DIR = "results/tables"
PLOTS_DIR = "results/plots"


@dataclass(frozen=True)
class Table:
    """An analysis table: `slmbench.results.tables.<builder>(study)` returns it as a DataFrame.

    `view` names the function of `slmbench.results.html` that lays the frame out on its page
    (`single`: one section with the whole frame). Tables with only `html` among their formats are
    views of the per-cell table, so no CSV or Parquet of them is written.
    """

    name: str
    title: str  # the HTML page's title
    label: str  # the report's label for it
    category: str  # the report's category: Summary, Quality, Cost, Failures
    caption: str  # report/<caption>.rst
    builder: str
    formats: tuple[str, ...] = ("csv", "parquet", "html")
    view: str = "single"

    def path(self, ext: str) -> str:
        return f"{TABLES_DIR}/{self.name}.{ext}"


@dataclass(frozen=True)
class Figure:
    """A figure: `slmbench.results.figures.<draw>(*frames, path)`, the frames read from `inputs`
    (names of tables: `cells` or an entry of TABLES)."""

    name: str
    label: str
    category: str
    caption: str
    draw: str
    inputs: tuple[str, ...]

    def path(self) -> str:
        return f"{PLOTS_DIR}/{self.name}.png"


@dataclass(frozen=True)
class Page:
    """A page built outside the analysis step (the per-cell table, the trace pages)."""

    title: str
    label: str
    category: str
    caption: str


# The report's categories in reading order (the front page says to start with Summary). Snakemake's
# report menu sorts categories by name, so each carries its place: "1 Summary", "2 Quality", ...
CATEGORIES = ("Summary", "Quality", "Cost", "Failures", "Traces")


def report_category(category: str) -> str:
    return f"{CATEGORIES.index(category) + 1} {category}"


CELLS = Page("slmbench: results per cell", "per cell", "Summary", "cells")
METHOD = Page("slmbench: method and departures from the paper", "method and departures", "Summary", "method")
TRACES = Page("Traces", "traces", "Traces", "trace")

TABLES: tuple[Table, ...] = (
    Table("paradigms", "Table 2: the paradigms compared", "Table 2: paradigms", "Summary", "paradigms", "build_paradigms", view="paradigms"),
    Table("nrq", "Normalized response quality (NRQ)", "NRQ", "Quality", "nrq", "build_nrq", view="nrq"),
    Table("composite_z", "Composite effectiveness (z-score)", "composite z", "Quality", "composite_z", "build_composite_z", view="composite_z"),
    Table("leading_advantage", "Leading advantage of the best paradigm", "leading advantage", "Quality", "leading_advantage", "build_leading_advantage", view="by_level"),
    Table("comparisons", "Paired comparisons of paradigms", "paired comparisons", "Quality", "comparisons", "build_comparisons", view="comparisons"),
    Table("pareto", "Quality against cost: the Pareto frontier", "Pareto frontier (table)", "Cost", "pareto_table", "build_pareto"),
    Table("costs", "Cost of every cell", "cost per cell", "Cost", "costs", "build_costs", formats=("html",)),
    Table("failures", "Failures", "failures per model and paradigm", "Failures", "failures_table", "build_failures", formats=("html",)),
    Table("constrained", "Agents with and without a grammar", "constrained decoding", "Quality", "constrained", "build_constrained"),
)  # fmt: skip

FIGURES: tuple[Figure, ...] = (
    Figure("score_by_model", "score by model and paradigm", "Quality", "score_by_model", "score_by_model", ("cells",)),
    Figure("quality_vs_cost", "quality against energy or latency", "Summary", "quality_vs_cost", "quality_vs_cost", ("pareto",)),
    Figure("best_paradigm", "best paradigm per category and model", "Quality", "best_paradigm", "best_paradigm_heatmap", ("leading_advantage",)),
    Figure("failures", "failure kinds per paradigm", "Failures", "failures", "failures_by_paradigm", ("cells",)),
    Figure("pareto", "Pareto frontier (figure)", "Cost", "pareto", "pareto_plot", ("pareto",)),
    Figure("nrq_vs_size", "NRQ against model size", "Quality", "nrq_vs_size", "nrq_vs_size", ("nrq", "cells")),
    Figure("z_vs_size", "composite z against model size", "Quality", "z_vs_size", "z_vs_size", ("composite_z", "cells")),
)  # fmt: skip


def caption_path(caption: str) -> Path:
    return REPORT_DIR / f"{caption}.rst"
