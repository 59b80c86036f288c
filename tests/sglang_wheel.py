"""SGLang's own modules for fast tests, from its wheel installed without dependencies (`make test`
does: `pip install --no-deps sglang==0.5.23 msgspec pybase64 ipython`). The package's __init__ imports
torch, so a module is loaded under a bare `sglang` package of the installed files."""

import importlib
import importlib.util
import sys
import types

import pytest


def sglang_module(name: str):
    """The module `name` of the installed SGLang, or a skip saying how to install it."""
    if "sglang" not in sys.modules:
        spec = importlib.util.find_spec("sglang")
        if spec is None:
            pytest.skip("sglang's wheel is not installed here (pip install --no-deps sglang==0.5.23 msgspec pybase64 ipython)")
        package = types.ModuleType("sglang")  # its files, without its __init__
        package.__path__, package.__spec__ = list(spec.submodule_search_locations), spec
        sys.modules["sglang"] = package
    try:
        return importlib.import_module(name)
    except ImportError as e:
        pytest.skip(f"SGLang's {name} needs a package that is not installed here: {e}")
