"""Draw the configured figures of one dataset's analyses into results/figures (+ manifest)."""

import argparse

from evsynth.cli import run
from evsynth.stages import figures_stage
from evsynth.validate.config import load_config

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--results", required=True, help="results/analyses/<dataset>.json")
parser.add_argument("--outdir", default="results/figures")
parser.add_argument("--manifest", help="JSON list of the files written (the rule's output)")
parser.add_argument("--config", help="config whose 'figures' settings apply (default: all)")
parser.add_argument("--threads", type=int, default=1, help="processes drawing figures")
parser.add_argument("--log")
args = parser.parse_args()


def main() -> None:
    config = load_config(args.config) if args.config else None
    figures_stage(config, args.results, args.outdir, args.manifest, args.threads)


run(main, args.log)
