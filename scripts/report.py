"""Render results/report.html from the analyses, figures, narrative and report settings.

Writes atomically (temporary file + os.replace): a failed run never overwrites the last good
report. The version shown in the report is a hash of the inputs, so reruns are byte-identical.
"""

import argparse

from evsynth.cli import run
from evsynth.io.safe_io import write_text_atomic
from evsynth.report import build_report, load_inputs
from evsynth.report.changes import baseline_dir, keep_as_previous

if "snakemake" in globals():  # script: directive
    sm = globals()["snakemake"]
    args = argparse.Namespace(
        results=sm.params.get("results", "results"),
        narrative=sm.input.narrative,
        settings=sm.input.settings,
        output=sm.output[0],
        log=sm.log[0] if sm.log else None,
    )
else:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--results", default="results", help="folder with analyses/, figures/, previous/"
    )
    parser.add_argument("--narrative", default="config/narrative.yaml")
    parser.add_argument("--settings", default="config/report.yaml")
    parser.add_argument("--output", default="results/report.html")
    parser.add_argument("--log")
    args = parser.parse_args()


def main() -> None:
    baseline = baseline_dir(args.results)
    inputs = load_inputs(args.results, args.narrative, args.settings, baseline)
    html = build_report(
        inputs["results"],
        inputs["figures"],
        inputs["previous"],
        inputs["narrative"],
        inputs["settings"],
        version=inputs["version"],
    )
    write_text_atomic(args.output, html)
    keep_as_previous(args.results)


run(main, args.log)
