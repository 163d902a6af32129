"""Validate one raw table of a review (and the tables it joins) against its schema and write
the harmonised table (joined and derived columns) to the review's processed folder."""

import argparse

from evsynth.cli import run
from evsynth.stages import validate_stage
from evsynth.workflow import load_config_cached

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", default="config/config.yaml", help="the review's config")
parser.add_argument("--table", action="append", help="default: every table of the config")
parser.add_argument("--log", help="also write the problems to this file")
args = parser.parse_args()

run(lambda: validate_stage(load_config_cached(args.config), args.table), args.log)
