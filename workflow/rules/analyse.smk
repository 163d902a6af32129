# Stage 2: every configured analysis of one dataset in one job (pooling, subgroups,
# meta-regression, small-study tests, sensitivity analyses, absolute effects); the analyses
# run in a pool of `threads:` processes.


rule analyse:
    input:
        table=f"{PROCESSED}/{{dataset}}.csv",
        config=CONFIG_FILE,
        library=ENGINE,
    output:
        json=f"{RESULTS}/analyses/{{dataset}}.json",
        summary=f"{RESULTS}/analyses/{{dataset}}_summary.csv",
    log:
        f"{RESULTS}/logs/analyse_{{dataset}}.log",
    wildcard_constraints:
        dataset="|".join(DATASETS),
    conda:
        "../../environment.yml"
    threads: stage_threads
    params:
        python=PYTHON,
        scripts=SCRIPTS,
        settings=lambda wildcards: dataset_digest(wildcards.dataset),
    shell:
        "{params.python} {params.scripts}/analyse.py --config {input.config} "
        "--dataset {wildcards.dataset} --table {input.table} "
        "--json {output.json} --summary {output.summary} --threads {threads} --log {log}"
