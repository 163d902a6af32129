"""Draw the configured figures of one dataset's analyses (those not in the cache), publish
them into results/figures and write the manifest last."""

import argparse
from pathlib import Path

from evsynth.cli import run
from evsynth.stages import write_figures
from evsynth.workflow import load_config_cached

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--results", required=True, help="results/analyses/<dataset>.json")
parser.add_argument("--outdir", default="results/figures")
parser.add_argument("--manifest", required=True, help="the figures and their data versions")
parser.add_argument("--config", help="config whose 'figures' settings apply (default: all)")
parser.add_argument("--cache", help="the cache folder (results/cache); none: draw all")
parser.add_argument("--threads", type=int, default=1, help="processes drawing figures")
parser.add_argument("--log")
args = parser.parse_args()


def main() -> None:
    config = load_config_cached(args.config) if args.config else None
    work = write_figures(
        config, args.results, args.outdir, args.manifest, args.threads, cache=args.cache
    )
    line = f"figures of {work.describe('drawn')}\n"
    print(line, end="")
    if args.log:
        Path(args.log).write_text(line, encoding="utf-8")


run(main, args.log)
