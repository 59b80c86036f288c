"""The Python environment the benches run Snakemake in: the one `make install` gives.

This development environment has the test extra, and with it the SLURM executor plugin, which
costs every Snakemake start about 10 s (its `scontrol` call's timeout) where `scontrol` is
installed but no controller answers
(bench/slurm_plugin_tax.py measures that tax on its own). The other benches measure the workflow,
so they run in this environment without the plugin: its packages, linked, less the plugin.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import sysconfig
from pathlib import Path

SLURM_PLUGIN = "snakemake_executor_plugin_slurm"
ROOT = Path(__file__).resolve().parent.parent


def without_slurm_plugin(folder: Path) -> Path:
    """The python of a new environment in `folder` with this one's packages except the SLURM plugin (symlinks)."""
    site = Path(sysconfig.get_paths()["purelib"])
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    target = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip())
    for entry in site.iterdir():
        if entry.name != SLURM_PLUGIN and not entry.name.startswith(SLURM_PLUGIN + "-"):
            (target / entry.name).symlink_to(entry)
    return python


def install_python(folder: Path) -> Path:
    """The python `make install` gives: this one where the plugin is not installed, else one without it in
    `folder`; either way with slmbench's bytecode compiled, as `make install` compiles it."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "slmbench")], check=True)
    if importlib.util.find_spec(SLURM_PLUGIN) is None:
        return Path(sys.executable)
    print(f"(the SLURM plugin is installed here, the test extra's: Snakemake runs without it, as after `make install`; {folder})", flush=True)
    return without_slurm_plugin(folder)
