"""Validate the raw tables against their schemas and write the harmonised processed tables."""

import argparse
from pathlib import Path

from evsynth.cli import run
from evsynth.validate.processing import validate_and_write
from evsynth.validate.tables import RAW_TABLES

if "snakemake" in globals():  # Snakemake's script: directive; one table per job
    sm = globals()["snakemake"]
    table = Path(sm.input.table)
    out_dir, log = Path(sm.output[0]).parent, sm.log[0]
    raw_dir, tables, schema_dir = table.parent, [table.stem], None
else:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw-dir", default="data/raw")
    parser.add_argument("--out-dir", default="data/processed")
    parser.add_argument("--table", action="append", help="default: all of " + ", ".join(RAW_TABLES))
    parser.add_argument("--schema-dir", help="default: workflow/schemas")
    parser.add_argument("--log", help="also write the problems to this file")
    args = parser.parse_args()
    raw_dir, out_dir, tables, log = args.raw_dir, args.out_dir, args.table or RAW_TABLES, args.log
    schema_dir = args.schema_dir

run(lambda: validate_and_write(raw_dir, out_dir, tables, schema_dir) and None, log)
