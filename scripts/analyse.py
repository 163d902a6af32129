"""Run every configured analysis of one dataset and write its results (JSON + summary CSV)."""

import argparse

from evsynth.cli import run
from evsynth.stages import analyse_stage
from evsynth.validate.config import load_config

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", default="config/config.yaml")
parser.add_argument("--dataset", required=True)
parser.add_argument("--table", required=True, help="data/processed/<dataset>.csv")
parser.add_argument("--json", required=True)
parser.add_argument("--summary", required=True)
parser.add_argument("--threads", type=int, default=1, help="processes running analyses")
parser.add_argument("--log")
args = parser.parse_args()


def main() -> None:
    config = load_config(args.config, project_dir=".")
    analyse_stage(config, args.dataset, args.table, args.json, args.summary, args.threads)


run(main, args.log)
