# Stage 3: forest (overall, by subgroup, leave-one-out, cumulative), funnel and bubble plots
# for every analysis of one dataset, as SVG + PNG with alt text, listed in a manifest.


rule figures:
    input:
        json=f"{RESULTS}/analyses/{{dataset}}.json",
        library=PLOTS,
    output:
        manifest=f"{RESULTS}/figures/{{dataset}}.figures.json",
    log:
        f"{RESULTS}/logs/figures_{{dataset}}.log",
    wildcard_constraints:
        dataset="|".join(DATASETS),
    conda:
        "../../environment.yml"
    params:
        python=PYTHON,
        outdir=lambda wildcards, output: parent(output.manifest),
    shell:
        "{params.python} scripts/figures.py --results {input.json} "
        "--outdir {params.outdir} --manifest {output.manifest} --log {log}"
