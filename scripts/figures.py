"""Draw the configured figures of one dataset's analyses into results/figures (+ manifest)."""

import argparse
import gc
import json
from pathlib import Path

from evsynth.cli import run
from evsynth.io.safe_io import write_text_atomic
from evsynth.plots.output import write_dataset_figures
from evsynth.validate.config import figure_settings, load_config

if "snakemake" in globals():  # script: directive
    sm = globals()["snakemake"]
    args = argparse.Namespace(
        results=sm.input[0],
        outdir=sm.params.outdir,
        manifest=sm.output[0],
        config=sm.params.get("config"),
        threads=sm.threads,
        log=sm.log[0] if sm.log else None,
    )
else:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", required=True, help="results/analyses/<dataset>.json")
    parser.add_argument("--outdir", default="results/figures")
    parser.add_argument("--manifest", help="JSON list of the files written (the rule's output)")
    parser.add_argument("--config", help="config whose 'figures' settings apply (default: all)")
    parser.add_argument("--threads", type=int, default=1, help="processes drawing figures")
    parser.add_argument("--log")
    args = parser.parse_args()


def main() -> None:
    results = json.loads(Path(args.results).read_text(encoding="utf-8"))
    gc.freeze()  # what was read lives to the end: keep the garbage collector off it
    settings = figure_settings(load_config(args.config)) if args.config else None
    written = write_dataset_figures(
        results["analyses"], args.outdir, settings, workers=args.threads
    )
    if args.manifest:
        manifest = {"dataset": results["dataset"], "files": written}
        text = json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"
        write_text_atomic(args.manifest, text, durable=False)  # regenerated when lost


run(main, args.log)
