# The two commands of the README: `make demo` (set up, run the workflow, write the report)
# and `make test` (set up, run the test suite).
VENV ?= .venv
CORES ?= all
DATA_MIRROR ?=
SNAKEMAKE = $(VENV)/bin/snakemake
CONFIG_ARGS = $(if $(DATA_MIRROR),--config data_mirror=$(abspath $(DATA_MIRROR)))

.PHONY: install demo report test lint

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(SNAKEMAKE) --cores $(CORES) $(CONFIG_ARGS)
	$(MAKE) report

report: install
	$(SNAKEMAKE) --report results/report.html $(CONFIG_ARGS)

test: install
	$(VENV)/bin/python -m pytest -q -rs

lint: install
	$(VENV)/bin/snakefmt --check Snakefile rules/
	$(SNAKEMAKE) --lint
