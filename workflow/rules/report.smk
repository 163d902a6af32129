# Stage 4: the evidence summary, regenerated from the results. "What changed" compares with
# a released version (results/versions/N, written only by the release rule), declared here
# as an input: the last released one, or the one named with `--config compare_with=N`. The
# report checks every figure against the results it shows and records what it embeds in
# results/report.json. Both are flagged update(): when this job fails, Snakemake restores
# the last good report instead of deleting it. Each analysis's rendered section is kept in
# results/cache/report/ under the SHA-256 of what it shows (evsynth.report.fragments): a
# changed count renders only its analysis's section again.


rule report:
    input:
        analyses=results_of("json"),
        indexes=results_of("index"),
        summaries=results_of("summary"),
        figures=results_of("manifest"),
        baseline=BASELINE_FILES,
        config=CONFIG_FILE,
        yaml=REPORT_YAML,
        library=REPORTING,
    output:
        report=update(
            report(
                REPORT,
                caption="../report/caption.rst",
                category="Evidence summary",
            )
        ),
        record=update(f"{RESULTS}/report.json"),
    log:
        f"{RESULTS}/logs/report.log",
    conda:
        "../../environment.yml"
    params:
        python=PYTHON,
        scripts=SCRIPTS,
        baseline=BASELINE or "",
        cache=CACHE,
    shell:
        "{params.python} {params.scripts}/report.py --config {input.config} "
        "--output {output.report} --record {output.record} "
        "--baseline '{params.baseline}' --cache {params.cache} --log {log}"
