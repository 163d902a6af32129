# Stage 3: the figures of every analysis of one dataset, as configured (`figures:` in
# config/config.yaml: forest, by subgroup, leave-one-out, cumulative, funnel, bubble; SVG
# and/or PNG, each with alt text). Only the figure sets whose analysis results or setting
# changed are drawn (results/cache/figures/); every figure is drawn before results/figures
# is touched, so a failed job leaves the figures there as they were. The manifest, written
# last, lists each file with its SHA-256 and the data version it was drawn from.


rule figures:
    input:
        json=f"{RESULTS}/analyses/{{dataset}}.json",
        index=f"{RESULTS}/analyses/{{dataset}}.index.json",
        config=CONFIG_FILE,
        library=PLOTS,
    output:
        manifest=f"{RESULTS}/figures/{{dataset}}.figures.json",
    log:
        f"{RESULTS}/logs/figures_{{dataset}}.log",
    wildcard_constraints:
        dataset="|".join(DATASETS),
    conda:
        "../../environment.yml"
    threads: stage_threads
    params:
        python=PYTHON,
        scripts=SCRIPTS,
        cache=CACHE,
        outdir=lambda wildcards, output: parent(output.manifest),
    shell:
        "{params.python} {params.scripts}/figures.py --results {input.json} "
        "--outdir {params.outdir} --manifest {output.manifest} --config {input.config} "
        "--cache {params.cache} --threads {threads} --log {log}"
