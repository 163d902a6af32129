"""Run every configured analysis of one dataset and write its results (JSON + summary CSV)."""

import argparse
import gc
import json

from evsynth.analysis import run_dataset, summary_table
from evsynth.cli import run
from evsynth.config import load_config
from evsynth.safe_io import read_processed, write_csv, write_text_atomic

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
    config = load_config(args.config)
    rows = read_processed(args.table)
    gc.freeze()  # what was read lives to the end: keep the garbage collector off it
    results = run_dataset(args.dataset, rows, config, workers=args.threads)
    text = json.dumps(results, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
    write_text_atomic(args.json, text + "\n")
    write_csv(summary_table(results), args.summary)


run(main, args.log)
