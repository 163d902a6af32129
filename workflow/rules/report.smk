# Stage 4: the evidence summary, regenerated from the results. The report is flagged
# update(): when this job fails, Snakemake restores the last good report instead of deleting
# it. After a good report the script keeps a copy of the results in results/previous/, which
# the next report compares with ("What changed since the last report").


rule report:
    input:
        analyses=expand(f"{RESULTS}/analyses/{{dataset}}.json", dataset=DATASETS),
        summaries=expand(
            f"{RESULTS}/analyses/{{dataset}}_summary.csv", dataset=DATASETS
        ),
        figures=expand(f"{RESULTS}/figures/{{dataset}}.figures.json", dataset=DATASETS),
        config=CONFIG_FILE,
        yaml=REPORT_YAML,
        library=REPORTING,
    output:
        update(
            report(
                REPORT,
                caption="../report/caption.rst",
                category="Evidence summary",
            )
        ),
    log:
        f"{RESULTS}/logs/report.log",
    conda:
        "../../environment.yml"
    params:
        python=PYTHON,
        scripts=SCRIPTS,
    shell:
        "{params.python} {params.scripts}/report.py --config {input.config} "
        "--output {output} --log {log}"
