"""What the SLURM executor plugin costs every Snakemake start where SLURM does not answer.

Snakemake imports every installed executor plugin when it starts; snakemake-executor-plugin-slurm
(2.8.0) then runs `scontrol show config` with a 10 s timeout wherever `sinfo` is on PATH. This
bench puts an `scontrol` that never answers first on PATH (a login node or laptop whose controller
is down or unreachable) and times `snakemake -n` of the demo with the plugin installed (this
environment) and without it (the same environment with the plugin left out: what `pip install -e .`
gives now that the plugin is the `slurm` extra), rounds alternating, and prints the medians.

    .venv/bin/python bench/slurm_plugin_tax.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from environments import without_slurm_plugin
from timing import timed_run

ROOT = Path(__file__).resolve().parent.parent


def hanging_scontrol(tmp: Path) -> Path:
    folder = tmp / "bin"
    folder.mkdir()
    (folder / "scontrol").write_text("#!/bin/sh\n# a controller that never answers\nsleep 60\n")
    (folder / "scontrol").chmod(0o755)
    if not any((Path(p) / "sinfo").exists() for p in os.environ["PATH"].split(os.pathsep)):
        (folder / "sinfo").write_text("#!/bin/sh\nexit 1\n")  # the plugin looks for sinfo first
        (folder / "sinfo").chmod(0o755)
    return folder


def dry_run(python: Path, env: dict[str, str]) -> float:
    return timed_run([str(python), "-m", "snakemake", "-n", "--cores", "1"], "snakemake -n", cwd=ROOT, env=env)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sides = {"with the plugin": Path(sys.executable), "without the plugin": without_slurm_plugin(tmp / "venv")}
        env = {**os.environ, "PATH": f"{hanging_scontrol(tmp)}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
        times: dict[str, list[float]] = {side: [] for side in sides}
        for _ in range(args.rounds):
            for side, python in sides.items():
                times[side].append(dry_run(python, env))
    for side, runs in times.items():
        print(f"demo dry run, scontrol not answering, {side:20s} median {statistics.median(runs):5.1f} s  ({', '.join(f'{t:.1f}' for t in runs)})")
    tax = statistics.median(times["with the plugin"]) - statistics.median(times["without the plugin"])
    print(f"start-up tax of the plugin: {tax:.1f} s per Snakemake start (target: none where SLURM is not used: "
          f"the plugin is the `slurm` extra)")


if __name__ == "__main__":
    main()
