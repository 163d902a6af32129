"""Run every configured analysis of one dataset and write its results (JSON, index, summary
CSV), reusing from the cache every analysis whose rows, settings and library are unchanged."""

import argparse
from pathlib import Path

from evsynth.cli import run
from evsynth.stages import write_analyses
from evsynth.workflow import load_config_cached

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", default="config/config.yaml")
parser.add_argument("--dataset", required=True)
parser.add_argument("--table", required=True, help="data/processed/<dataset>.csv")
parser.add_argument("--json", required=True)
parser.add_argument("--summary", required=True)
parser.add_argument("--cache", help="the cache folder (results/cache); none: compute all")
parser.add_argument("--threads", type=int, default=1, help="processes running analyses")
parser.add_argument("--log")
args = parser.parse_args()


def main() -> None:
    config = load_config_cached(args.config)
    work = write_analyses(
        config, args.dataset, args.table, args.json, args.summary, args.threads, cache=args.cache
    )
    line = f"analyses of {work.describe('computed')}\n"
    print(line, end="")
    if args.log:
        Path(args.log).write_text(line, encoding="utf-8")


run(main, args.log)
