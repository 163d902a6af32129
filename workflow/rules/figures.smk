# Stage 3: the figures of every analysis of one dataset, as configured (`figures:` in
# config/config.yaml: forest, by subgroup, leave-one-out, cumulative, funnel, bubble; SVG
# and/or PNG, each with alt text), drawn by a process pool and listed in a manifest.


rule figures:
    input:
        json=f"{RESULTS}/analyses/{{dataset}}.json",
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
        settings=lambda wildcards: figures_digest(wildcards.dataset),
        outdir=lambda wildcards, output: parent(output.manifest),
    shell:
        "{params.python} {params.scripts}/figures.py --results {input.json} "
        "--outdir {params.outdir} --manifest {output.manifest} "
        "--config {input.config} --threads {threads} --log {log}"
