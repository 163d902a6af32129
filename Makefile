# The two commands: `make report` and `make test`. Both create .venv when it is missing.
# Another review: `make report REVIEW=path/to/review` (a folder made by `evsynth new`).
# `make report` runs one run at a time per review and recovers by itself from a run that was
# killed (evsynth.runner); `make release` stamps the report as the next version
# (results/versions/N); `make report COMPARE_WITH=N` says what changed since version N.
# EVSYNTH_ENV=path uses an existing environment (with evsynth installed) instead of .venv.
PYTHON ?= python3
CORES ?= 2
REVIEW ?= .
COMPARE_WITH ?=
ifdef EVSYNTH_ENV
BIN := $(EVSYNTH_ENV)/bin
STAMP :=
else
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
endif
EVSYNTH = $(BIN)/python -m evsynth
WORKFLOW = --cores $(CORES) --snakefile $(CURDIR)/Snakefile \
	$(if $(COMPARE_WITH),--compare-with $(COMPARE_WITH))
SNAKEMAKE = $(BIN)/snakemake -s $(CURDIR)/Snakefile --directory $(REVIEW) --cores $(CORES)

.PHONY: report release archive check test lint bench clean-results

ifndef EVSYNTH_ENV
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c requirements.lock -e '.[dev,cluster]'
	touch $(STAMP)
endif

report: $(STAMP)
	$(EVSYNTH) report $(REVIEW) $(WORKFLOW) -- --quiet rules

release: $(STAMP)
	$(EVSYNTH) release $(REVIEW) $(WORKFLOW)

# Snakemake's own report: the evidence summary and every figure and table of each analysis
# with its caption, by analysis (results/gallery), with the run's provenance.
archive: $(STAMP)
	$(EVSYNTH) report $(REVIEW) $(WORKFLOW) -- --quiet rules
	$(SNAKEMAKE) --quiet rules --report $(abspath $(REVIEW))/results/archive.zip

# Validate a review's inputs and provenance, run it, and check it again.
check: $(STAMP)
	$(EVSYNTH) check $(REVIEW)
	$(EVSYNTH) report $(REVIEW) $(WORKFLOW) -- --quiet rules

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint
	$(BIN)/mypy evsynth

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c requirements.lock -e '.[bench]'
	$(BIN)/python -m bench

# Results can always be rebuilt (`make report`); released versions (results/versions) stay.
clean-results:
	rm -rf $(REVIEW)/results/analyses $(REVIEW)/results/figures $(REVIEW)/results/logs \
		$(REVIEW)/results/cache $(REVIEW)/results/gallery
