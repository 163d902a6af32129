"""Stamp the current results as a released version: results/versions/N/ (the report rendered
as version N, what it embeds, the results, version.json written last)."""

import argparse

from evsynth.cli import run
from evsynth.stages import release_stage
from evsynth.workflow import load_config_cached

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", default="config/config.yaml", help="the review's config")
parser.add_argument("--number", type=int, required=True)
parser.add_argument("--folder", required=True, help="results/versions/N")
parser.add_argument("--baseline", help="results/versions/M: the version compared with")
parser.add_argument("--log")
args = parser.parse_args()


def main() -> None:
    config = load_config_cached(args.config)
    release_stage(config, args.number, args.folder, baseline=args.baseline or None)


run(main, args.log)
