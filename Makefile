# The two commands: `make report` and `make test`. Both create .venv when it is missing.
# Another review: `make report REVIEW=path/to/review` (a folder made by `evsynth new`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
REVIEW ?= .
SNAKEMAKE = $(BIN)/snakemake -s $(CURDIR)/Snakefile --directory $(REVIEW) --cores $(CORES)

.PHONY: report check test lint bench clean-results

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,cluster]'
	touch $(STAMP)

report: $(STAMP)
	$(SNAKEMAKE) --quiet rules

# Validate a review's inputs and provenance, run it, and check it again.
check: $(STAMP)
	$(BIN)/evsynth check $(REVIEW)
	$(SNAKEMAKE) --quiet rules

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint
	$(BIN)/mypy evsynth

bench: $(STAMP)
	$(BIN)/python -m bench

clean-results:
	rm -rf $(REVIEW)/results/analyses $(REVIEW)/results/figures $(REVIEW)/results/logs
