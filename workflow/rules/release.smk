# Stage 5 (only with `--config release=N`, i.e. `make release`): stamp the current results
# as version N in results/versions/N/: the report rendered as version N (number, date, data
# hash), what it embeds, the results, and version.json last. The outputs are protected
# (read-only): a released version is never rewritten.

if RELEASE:
    VERSION = str(version_folder(RESULTS, int(RELEASE)))

    rule release:
        input:
            report=REPORT,
            record=f"{RESULTS}/report.json",
            analyses=results_of("json"),
            indexes=results_of("index"),
            summaries=results_of("summary"),
            figures=results_of("manifest"),
            baseline=BASELINE_FILES,
            config=CONFIG_FILE,
            yaml=REPORT_YAML,
            library=REPORTING,
        output:
            report=protected(f"{VERSION}/report.html"),
            record=protected(f"{VERSION}/report.json"),
            analyses=protected(
                expand(f"{VERSION}/analyses/{{dataset}}.json", dataset=DATASETS)
            ),
            summaries=protected(
                expand(f"{VERSION}/analyses/{{dataset}}_summary.csv", dataset=DATASETS)
            ),
            version=protected(f"{VERSION}/version.json"),
        log:
            f"{RESULTS}/logs/release_{RELEASE}.log",
        conda:
            "../../environment.yml"
        params:
            python=PYTHON,
            scripts=SCRIPTS,
            number=RELEASE,
            folder=VERSION,
            baseline=BASELINE or "",
        shell:
            "{params.python} {params.scripts}/release.py --config {input.config} "
            "--number {params.number} --folder {params.folder} "
            "--baseline '{params.baseline}' --log {log}"
