"""Shared fixtures: paths of the repository and of the fixture mirror."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MIRROR = REPO / "tests" / "fixtures" / "mirror"


@pytest.fixture
def mirror() -> Path:
    return MIRROR


from slurm_cluster import slurm_cluster  # noqa: E402,F401  (the real SLURM cluster fixture)
