# Stage 2: every configured analysis of one dataset in one job (pooling, subgroups,
# meta-regression, small-study tests, sensitivity analyses, absolute effects). Inside the
# job the unit of work is the analysis: results/cache/analyses/ keeps each analysis's
# results under the SHA-256 of its rows, its settings and the library, so an edited count
# or setting recomputes only the analyses it touches (evsynth.cache); the others are reused
# byte for byte. Misses run in a pool of `threads:` processes.


rule analyse:
    input:
        table=f"{PROCESSED}/{{dataset}}.csv",
        config=CONFIG_FILE,
        library=ENGINE,
    output:
        json=f"{RESULTS}/analyses/{{dataset}}.json",
        index=f"{RESULTS}/analyses/{{dataset}}.index.json",
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
        cache=CACHE,
    shell:
        "{params.python} {params.scripts}/analyse.py --config {input.config} "
        "--dataset {wildcards.dataset} --table {input.table} --json {output.json} "
        "--summary {output.summary} --cache {params.cache} --threads {threads} --log {log}"
