# evsynth: raw trial data -> validated tables -> meta-analyses -> figures -> HTML report.
# Stages live in workflow/rules/; all logic lives in the evsynth package.


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        REPORT,
