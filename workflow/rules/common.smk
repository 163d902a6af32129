# Shared names: the review's validated config and the files each stage reads or writes.
# The review folder is the working directory (`--directory`, default: where snakemake runs);
# code, scripts and built-in schemas are found from the workflow's own directory.
#
# At every start the workflow also checks what Snakemake alone would not notice:
# - every input the config names exists (a missing table, schema or named YAML file is an
#   error naming it, not "Nothing to be done");
# - the figures on disk are those their manifests list, drawn from the current results
#   (a deleted or changed figure reruns its dataset's figures job: its stale manifest is
#   removed, and the cache makes the rerun a matter of relinking).
# Deleted declared intermediates (processed tables, results, manifests) are rebuilt because
# `rule all` asks for them.
import functools
import os
import sys

from snakemake.exceptions import WorkflowError

from evsynth.errors import EvsynthError
from evsynth.versions import baseline, version_folder
from evsynth.workflow import (
    config_digest,
    library_sources,
    load_config_cached,
    missing_inputs,
    stale_figures,
)

CONFIG_FILE = (
    os.path.relpath(workflow.configfiles[-1])
    if workflow.configfiles
    else "config/config.yaml"
)
if not os.path.exists(CONFIG_FILE):
    sys.exit(
        f"error: {os.path.abspath(CONFIG_FILE)} does not exist: run snakemake in a review "
        "folder (or give --directory REVIEW), or create one with `evsynth new PATH`"
    )

try:
    CONFIG = load_config_cached(CONFIG_FILE)
except EvsynthError as error:
    sys.exit(f"error: invalid configuration:\n{error}")

MISSING = missing_inputs(CONFIG, CONFIG_FILE)
if MISSING:
    sys.exit(
        "error: inputs the config names are missing:\n  "
        + "\n  ".join(MISSING)
        + f"\nrestore them, or change {CONFIG_FILE}"
    )

PYTHON = sys.executable
SCRIPTS = os.path.join(workflow.basedir, "scripts")
PATHS = CONFIG["paths"]
RAW = PATHS["raw"]
SCHEMAS = PATHS["schemas"]
PROCESSED = PATHS["processed"]
RESULTS = PATHS["results"]
CACHE = f"{RESULTS}/cache"
TABLES = CONFIG["tables"]
DATASETS = sorted(
    {spec["dataset"] for spec in CONFIG["analyses"].values()}
    | {spec["dataset"] for spec in CONFIG["markers"].values()}
)
REPORT = f"{RESULTS}/report.html"
ENGINE = library_sources("engine")
PLOTS = library_sources("plots")
REPORTING = library_sources("report")
#: The report's YAML files the review has (both optional: the report has defaults).
REPORT_YAML = [
    PATHS[key] for key in ("narrative", "report_settings") if os.path.exists(PATHS[key])
]

# Versions (evsynth.versions): `--config release=N` defines the release rule of version N
# (`make release`); "What changed" compares with the last released version before it, or the
# one named with `--config compare_with=M` (`make report COMPARE_WITH=M`).
RELEASE = config.get("release")
try:
    BASELINE = baseline(
        RESULTS, config.get("compare_with"), int(RELEASE) if RELEASE else None
    )
except (EvsynthError, ValueError) as error:
    sys.exit(f"error: {error}")
BASELINE_FILES = (
    sorted(
        [f"{BASELINE}/version.json"]
        + [str(p) for p in BASELINE.joinpath("analyses").glob("*.json")]
    )
    if BASELINE
    else []
)

# A manifest that no longer describes the figures on disk is removed: its figures job then
# runs again (publishing from the cache) and the report after it.
for manifest, why in sorted(stale_figures(RESULTS, DATASETS).items()):
    print(
        f"evsynth: {manifest}: {why}; its figures are published again", file=sys.stderr
    )
    os.remove(manifest)


def parent(path):
    return os.path.dirname(path) or "."


def schema(name):
    return f"{SCHEMAS}/{name}.schema.yaml"


@functools.cache
def references():
    from evsynth.validate.config import table_references

    return table_references(TABLES, SCHEMAS)


def table_inputs(wildcards):
    """The raw table, the tables it joins and their schemas."""
    names = [wildcards.table, *references()[wildcards.table]]
    return {
        "tables": [f"{RAW}/{name}.csv" for name in names],
        "schemas": [schema(name) for name in names],
    }


def results_of(kind):
    """The files of every dataset of one kind: json, summary, index or manifest."""
    pattern = {
        "json": f"{RESULTS}/analyses/{{dataset}}.json",
        "summary": f"{RESULTS}/analyses/{{dataset}}_summary.csv",
        "index": f"{RESULTS}/analyses/{{dataset}}.index.json",
        "manifest": f"{RESULTS}/figures/{{dataset}}.figures.json",
    }[kind]
    return [pattern.format(dataset=d) for d in DATASETS]


def stage_threads(wildcards, cap=8):
    """Threads of a stage that runs the analyses of a dataset in a process pool: the cores
    of this run (``--cores``), at most ``cap`` and at most one per analysis of the dataset
    (a dataset of one analysis or of markers only takes one core and leaves the other free);
    1 when the run has no core count (a cluster executor without ``--cores``: the job then
    gets the ``cpus_per_task`` of the profile)."""
    try:
        cores = workflow.cores
    except WorkflowError:
        return 1
    analyses = sum(
        spec["dataset"] == wildcards.dataset for spec in CONFIG["analyses"].values()
    )
    return max(1, min(int(cores or 1), cap, analyses))
