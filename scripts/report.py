"""Render the review's report from its analyses, figures, narrative and report settings.

Written atomically (temporary file + os.replace): a failed run never overwrites the last good
report. The version shown in the report is a hash of the inputs, so reruns are byte-identical.
"""

import argparse

from evsynth.cli import run
from evsynth.stages import report_stage
from evsynth.validate.config import load_config

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", default="config/config.yaml", help="the review's config")
parser.add_argument("--output", default="results/report.html")
parser.add_argument("--log")
args = parser.parse_args()

run(lambda: report_stage(load_config(args.config, project_dir="."), args.output) and None, args.log)
