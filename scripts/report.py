"""Render the review's report from its analyses, figures, narrative and report settings.

Written atomically (temporary file + os.replace): a failed run never overwrites the last good
report. It compares with the released version given (--baseline), checks every figure against
the results it shows, and records what it embeds (--record). Reruns are byte-identical.
"""

import argparse

from evsynth.cli import run
from evsynth.stages import report_stage
from evsynth.workflow import load_config_cached

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", default="config/config.yaml", help="the review's config")
parser.add_argument("--output", default="results/report.html")
parser.add_argument("--record", help="results/report.json: what the report embeds")
parser.add_argument("--baseline", help="results/versions/N: the version compared with")
parser.add_argument("--cache", help="results/cache: rendered analysis sections to reuse")
parser.add_argument("--log")
args = parser.parse_args()


def main() -> None:
    config = load_config_cached(args.config)
    report_stage(
        config,
        args.output,
        record=args.record,
        baseline=args.baseline or None,
        cache=args.cache,
    )


run(main, args.log)
