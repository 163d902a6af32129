"""Render results/report.html from the analyses, figures, narrative and report settings.

Writes atomically (temporary file + os.replace): a failed run never overwrites the last good
report. The version shown in the report is a hash of the inputs, so reruns are byte-identical.
"""

import argparse

from evsynth.cli import run
from evsynth.report import build_report, load_inputs
from evsynth.report.changes import baseline_dir, keep_as_previous
from evsynth.io.safe_io import write_text_atomic
from evsynth.validate.config import load_config

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", default="config/config.yaml", help="the review's config")
parser.add_argument("--results", default="results", help="folder with analyses/ and figures/")
parser.add_argument("--output", default="results/report.html")
parser.add_argument("--log")
args = parser.parse_args()


def main() -> None:
    config = load_config(args.config, project_dir=".")
    paths = config["paths"]
    inputs = load_inputs(
        args.results, config, paths["narrative"], paths["report_settings"],
        baseline_dir(args.results),
    )
    html = build_report(
        inputs["results"],
        inputs["figures"],
        inputs["previous"],
        inputs["narrative"],
        inputs["settings"],
        inputs["config"],
        version=inputs["version"],
    )
    write_text_atomic(args.output, html)
    keep_as_previous(args.results)


run(main, args.log)
