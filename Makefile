# The two commands: `make report` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2

.PHONY: report test check lint bench clean-results

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,cluster]'
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --quiet rules

test: $(STAMP)
	$(BIN)/python -m pytest

# Every number of data/raw printed in its row's quote; every row with a DOI or PMID.
check: $(STAMP)
	$(BIN)/python -m evsynth.validate.provenance data/raw

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint
	$(BIN)/mypy evsynth

bench: $(STAMP)
	$(BIN)/python -m bench

clean-results:
	rm -rf results/analyses results/figures results/logs
