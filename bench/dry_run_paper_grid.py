"""Times Snakemake's dry run (the DAG alone) of the paper's grid against the demo's.

The paper grid (configs/paper.yaml) has 1,440 generation cells and about 1,540 jobs (one score job
per model x paradigm); its dry run must stay fast enough (target < 5 s on 2 cores) to be part of
every launch. Runs alternate between the two configs; the medians count. Snakemake runs in the
environment `make install` gives (bench/environments.py: without the SLURM plugin).

    .venv/bin/python bench/dry_run_paper_grid.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
from pathlib import Path

from environments import install_python
from timing import timed_run

ROOT = Path(__file__).resolve().parent.parent
RUNS = {"demo (config.yaml)": [], "paper (configs/paper.yaml)": ["--configfile", str(ROOT / "configs/paper.yaml")]}


def dry_run(python: Path, extra: list[str], workdir: Path) -> tuple[float, dict[str, int]]:
    """Seconds of one `snakemake -n` in an empty working folder (so the whole DAG is planned, whatever
    this checkout holds) and its job counts per rule."""
    seconds, done = timed_run([str(python), "-m", "snakemake", "-n", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), *extra],
                              f"snakemake -n {' '.join(extra)}", cwd=ROOT,
                              env={**os.environ, "HF_TOKEN": "hf_placeholder"})  # the gated models' check passes; nothing is fetched
    stats = done.stdout.split("Job stats:", 1)[-1]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", stats, re.M)}
    return seconds, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per config, alternating; the median counts")
    args = parser.parse_args()
    runs: dict[str, list] = {label: [] for label in RUNS}
    with tempfile.TemporaryDirectory() as tmp:
        python = install_python(Path(tmp) / "venv")
        for _ in range(args.repeat):
            for label, extra in RUNS.items():
                runs[label].append(dry_run(python, extra, Path(tmp) / "work"))
    times = {}
    for label, done in runs.items():
        times[label] = statistics.median(t for t, _ in done)
        counts = done[0][1]
        spread = ", ".join(f"{t:.1f}" for t, _ in done)
        print(f"{label:28s} {times[label]:6.1f} s ({spread})   generate: {counts.get('generate', 0):5d}   jobs: {counts.get('total', 0):5d}")
    demo, paper = times.values()
    print(f"{'ratio paper / demo':28s} {paper / demo:6.1f} x")
    print(f"paper-grid dry run: {paper:.1f} s (target: < 5 s) {'OK' if paper < 5 else 'OVER'}")


if __name__ == "__main__":
    main()
