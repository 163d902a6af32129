"""Validate one raw table of a review (and the tables it joins) against its schema and write
the harmonised table (joined and derived columns) to the review's processed folder."""

import argparse

from evsynth.cli import run
from evsynth.validate.config import load_config
from evsynth.validate.processing import validate_and_write

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", default="config/config.yaml", help="the review's config")
parser.add_argument("--table", action="append", help="default: every table of the config")
parser.add_argument("--log", help="also write the problems to this file")
args = parser.parse_args()


def main() -> None:
    config = load_config(args.config, project_dir=".")
    paths = config["paths"]
    validate_and_write(
        paths["raw"], paths["processed"], args.table or config["tables"], paths["schemas"],
        config["derived"],
    )


run(main, args.log)
