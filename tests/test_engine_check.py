"""The install's engine check: passes on the real build here, fails with the cause on a build that traps."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run_check(env=None):
    return subprocess.run([sys.executable, "-m", "slmbench.engines.check"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_the_real_engine_generates_here():
    done = run_check()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "one real generation works" in done.stdout


def test_an_engine_that_dies_on_an_illegal_instruction_fails_the_check_with_what_to_do(tmp_path):
    """What a build for CPU features this machine lacks does on its first matrix product (the real one cannot here)."""
    server = tmp_path / "llama_cpp" / "server"
    server.mkdir(parents=True)
    (tmp_path / "llama_cpp" / "__init__.py").write_text("")
    (server / "__init__.py").write_text("")
    (server / "__main__.py").write_text("import os, signal\nprint('load_tensors: AMX model buffer size', flush=True)\nos.kill(os.getpid(), signal.SIGILL)\n")
    done = run_check({"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
    assert done.returncode == 1
    assert "killed by SIGILL: an illegal instruction" in done.stderr and "AMX model buffer" in done.stderr
    assert 'make install ENGINE_CMAKE_ARGS="-DGGML_NATIVE=OFF' in done.stderr
