# Shared names: the review's validated config and the files each stage reads or writes.
# The review folder is the working directory (`--directory`, default: where snakemake runs);
# code, scripts and built-in schemas are found from the workflow's own directory.
import os
import sys

from snakemake.exceptions import WorkflowError

from evsynth.errors import DataValidationError
from evsynth.validate.config import figure_settings, load_config, table_references
from evsynth.workflow import config_digest, library_sources

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
    CONFIG = load_config(CONFIG_FILE, project_dir=".")
except DataValidationError as error:
    sys.exit(f"error: invalid configuration:\n{error}")

PYTHON = sys.executable
SCRIPTS = os.path.join(workflow.basedir, "scripts")
PATHS = CONFIG["paths"]
RAW = PATHS["raw"]
SCHEMAS = PATHS["schemas"]
PROCESSED = PATHS["processed"]
RESULTS = PATHS["results"]
TABLES = CONFIG["tables"]
DATASETS = sorted(
    {spec["dataset"] for spec in CONFIG["analyses"].values()}
    | {spec["dataset"] for spec in CONFIG["markers"].values()}
)
REPORT = f"{RESULTS}/report.html"
ENGINE = library_sources("engine")
PLOTS = library_sources("plots")
REPORTING = library_sources("report")
REFERENCES = table_references(TABLES, SCHEMAS)
#: The report's YAML files the review has (both optional: the report has defaults).
REPORT_YAML = [
    PATHS[key]
    for key in ("narrative", "report_settings")
    if os.path.exists(PATHS[key])
]


def parent(path):
    return os.path.dirname(path) or "."


def schema(name):
    return f"{SCHEMAS}/{name}.schema.yaml"


def table_inputs(wildcards):
    """The raw table, the tables it joins and their schemas."""
    names = [wildcards.table, *REFERENCES[wildcards.table]]
    return {
        "tables": [f"{RAW}/{name}.csv" for name in names],
        "schemas": [schema(name) for name in names],
    }


def dataset_digest(dataset):
    """Digest of every config setting that the analyses of ``dataset`` read (not the
    figure settings: changing those redraws the figures, not the analyses)."""
    sections = ("analyses", "markers")
    chosen = {
        s: {
            k: {key: value for key, value in v.items() if key != "figures"}
            for k, v in CONFIG[s].items()
            if v["dataset"] == dataset
        }
        for s in sections
    }
    return config_digest(
        {**chosen, "review": CONFIG["review"], "variables": CONFIG["variables"]}
    )


def figures_digest(dataset):
    """Digest of the figure settings of the analyses of ``dataset``."""
    settings = figure_settings(CONFIG)
    return config_digest(
        {
            k: settings[k]
            for k, v in CONFIG["analyses"].items()
            if v["dataset"] == dataset
        }
    )


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
