"""Write one dataset's gallery folder for Snakemake's report: every figure and table of each
analysis, with its caption (evsynth.stages.gallery)."""

import argparse

from evsynth.cli import run
from evsynth.stages.gallery import gallery_stage

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--results", required=True, help="results/analyses/<dataset>.json")
parser.add_argument("--summary", required=True, help="results/analyses/<dataset>_summary.csv")
parser.add_argument("--manifest", required=True, help="results/figures/<dataset>.figures.json")
parser.add_argument("--outdir", required=True, help="results/gallery/<dataset>")
parser.add_argument("--log")
args = parser.parse_args()


def main() -> None:
    gallery_stage(args.results, args.summary, args.manifest, args.outdir)


run(main, args.log)
