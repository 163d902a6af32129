# Stage 2: every configured analysis of one dataset in one job (pooling, subgroups,
# meta-regression, small-study tests, sensitivity analyses, absolute effects).


rule analyse:
    input:
        table=f"{PROCESSED}/{{dataset}}.csv",
        library=ENGINE,
    output:
        json=f"{RESULTS}/analyses/{{dataset}}.json",
        summary=f"{RESULTS}/analyses/{{dataset}}_summary.csv",
    wildcard_constraints:
        dataset="|".join(DATASETS),
    params:
        settings=lambda wildcards: dataset_digest(wildcards.dataset),
    log:
        f"{RESULTS}/logs/analyse_{{dataset}}.log",
    shell:
        "{PYTHON} scripts/analyse.py --config config/config.yaml "
        "--dataset {wildcards.dataset} --table {input.table} "
        "--json {output.json} --summary {output.summary} --log {log}"
