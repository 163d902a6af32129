# evsynth: raw trial data -> validated tables -> meta-analyses -> figures -> HTML report.
# Stages live in workflow/rules/; all logic lives in the evsynth package.
# Run it in a review folder: `snakemake -s path/to/Snakefile --directory REVIEW --cores 2`.
# The review's config/config.yaml is read and validated by workflow/rules/common.smk (with
# line numbers in every error), not by Snakemake's configfile: directive.


include: "workflow/rules/common.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        REPORT,
