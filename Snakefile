# evsynth: raw trial data -> validated tables -> meta-analyses -> figures -> HTML report.
# Stages live in workflow/rules/; all logic lives in the evsynth package.
# Run it in a review folder: `snakemake -s path/to/Snakefile --directory REVIEW --cores 2`,
# or `make report REVIEW=path` (which also recovers from a killed run: evsynth.runner).
# The review's config/config.yaml is read and validated by workflow/rules/common.smk (with
# line numbers in every error), not by Snakemake's configfile: directive.


include: "workflow/rules/common.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/release.smk"
include: "workflow/rules/gallery.smk"


# Every declared output, not only the report: a deleted processed table, results file or
# manifest is rebuilt by the next run even when the report is up to date; and the gallery
# folders `snakemake --report` shows.
rule all:
    default_target: True
    input:
        expand(f"{PROCESSED}/{{table}}.csv", table=TABLES),
        results_of("json"),
        results_of("index"),
        results_of("summary"),
        results_of("manifest"),
        REPORT,
        f"{RESULTS}/report.json",
        expand(f"{RESULTS}/gallery/{{dataset}}", dataset=DATASETS),
