"""What each process of a run loads before and while it works: every Python start is paid on every
run, on the critical path of a one-cell run (bench/README.md, "One cell, whole run"), and 72 times
over for the score jobs of the paper grid. Each case runs what the process runs (or imports what it
imports) and names what it must not load, and why."""

import subprocess
import sys
from pathlib import Path

import pytest

MIRROR = Path(__file__).parent / "fixtures" / "mirror"

CASES = {
    # 72 score jobs on the paper grid, and the outcome lines in Snakemake's own process: no pandas (0.3 s).
    "score job and end of run": (
        "import slmbench.score, slmbench.results.trace_page, slmbench.sidecar, slmbench.results.outcomes",
        ["pandas", "sklearn", "matplotlib"],
    ),
    # The supervisor stands between a job's first cache miss and the model server's start.
    "server supervisor": ("import slmbench.engines.server_supervisor", ["jsonschema", "yaml", "numpy", "openai", "slmbench.config"]),
    # A download job only checks and writes rows: every row of each task type in the fixture mirror checked.
    "download job": (
        "from pathlib import Path; from slmbench import registry; from slmbench.data import fetch_dataset\n"
        f"for f in Path({str(MIRROR)!r}).glob('*.jsonl'): fetch_dataset(registry.get(f.stem), {str(MIRROR)!r})",
        ["numpy", "pandas", "jsonschema"],
    ),
    # The OpenAI client (0.4 s) is not imported at the job's start: the client imports it while the
    # server loads, on the first request the cache cannot answer.
    "generate job": ("import slmbench.generate, slmbench.config", ["openai", "pandas", "matplotlib"]),
    # Every plan checks the gated models' token: with HF_TOKEN set, without huggingface_hub (0.2 s).
    "gated-model check at plan time": (
        "import os, yaml; os.environ['HF_TOKEN'] = 'hf_placeholder'\n"
        "from slmbench.config import ROOT, validate_config; from slmbench.engines.hub import require_tokens\n"
        "require_tokens(validate_config(yaml.safe_load((ROOT / 'configs/paper.yaml').read_text())))",
        ["huggingface_hub"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_process_loads_only_what_it_needs(case):
    code, unwanted = CASES[case]
    code += f"\nimport sys; print(sorted(m for m in {unwanted!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", f"{case}: loads {loaded}"
