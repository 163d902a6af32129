"""Draw every figure of one dataset's analyses (SVG + PNG + alt text) into results/figures."""

import argparse
import json
from pathlib import Path

from evsynth.cli import run
from evsynth.plots import write_analysis_figures
from evsynth.safe_io import write_text_atomic

if "snakemake" in globals():  # script: directive
    sm = globals()["snakemake"]
    args = argparse.Namespace(
        results=sm.input[0],
        outdir=sm.params.outdir,
        manifest=sm.output[0],
        log=sm.log[0] if sm.log else None,
    )
else:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", required=True, help="results/analyses/<dataset>.json")
    parser.add_argument("--outdir", default="results/figures")
    parser.add_argument("--manifest", help="JSON list of the files written (the rule's output)")
    parser.add_argument("--log")
    args = parser.parse_args()


def main() -> None:
    results = json.loads(Path(args.results).read_text(encoding="utf-8"))
    written = [p.name for a in results["analyses"] for p in write_analysis_figures(a, args.outdir)]
    if args.manifest:
        manifest = {"dataset": results["dataset"], "files": sorted(written)}
        write_text_atomic(args.manifest, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


run(main, args.log)
