"""The ``evsynth`` command, and the way every entry point runs: clear errors, no traceback.

* ``evsynth new PATH --example binary|continuous`` writes a review folder that runs at once;
* ``evsynth run PATH`` runs every stage of a review in order (no Snakemake needed);
* ``evsynth check PATH`` validates a review's config, report settings, narrative and raw
  tables, and checks that every number of every included row appears in its quote.

A reviewer who feeds the pipeline a bad table sees one line per problem (file, line, column,
what to do) and a non-zero exit status, never a Python traceback; the same lines go to the
log file of the rule.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from evsynth.errors import DataValidationError, EvsynthError

EXAMPLES = Path(__file__).resolve().parent / "examples"


def run(main: Callable[[], None], log: str | Path | None = None) -> None:
    """Call ``main``; on an :class:`EvsynthError` print its message, log it and exit 1."""
    try:
        main()
    except EvsynthError as error:
        message = f"error: {error}\n"
        sys.stderr.write(message)
        if log:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            Path(log).write_text(message, encoding="utf-8")
        sys.exit(1)


def new_review(path: str | Path, example: str = "binary") -> Path:
    """Write the example review folder ``example`` to ``path`` (which must not exist or be
    empty)."""
    target = Path(path)
    source = EXAMPLES / example
    if not source.is_dir():
        known = ", ".join(sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
        raise DataValidationError([f"no example {example!r}; choose one of: {known}"])
    if target.exists() and any(target.iterdir()):
        raise DataValidationError(
            [f"{target}: the folder exists and is not empty; choose a new path"]
        )
    shutil.copytree(
        source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    return target


class _InFolder:
    """Run inside a review folder (its paths are relative to it)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder, self.before = Path(folder), Path.cwd()

    def __enter__(self) -> None:
        if not (self.folder / "config" / "config.yaml").is_file():
            raise DataValidationError(
                [
                    f"{self.folder}: no config/config.yaml; is this a review "
                    "folder? (`evsynth new PATH` makes one)"
                ]
            )
        os.chdir(self.folder)

    def __exit__(self, *_: object) -> None:
        os.chdir(self.before)


def check_review(folder: str | Path) -> list[str]:
    """Every problem of a review's inputs: config, report settings, narrative, raw tables and
    (when the review has provenance columns) numbers missing from their quotes."""
    from evsynth.report.settings import load_narrative, load_settings
    from evsynth.validate.config import load_config
    from evsynth.validate.tables import validate_tables

    problems: list[str] = []
    with _InFolder(folder):
        config = load_config("config/config.yaml", project_dir=".")
        paths = config["paths"]
        for step in (
            lambda: load_settings(
                paths["report_settings"], config, load_narrative(paths["narrative"])
            ),
            lambda: validate_tables(paths["raw"], config["tables"], paths["schemas"]),
        ):
            try:
                step()
            except DataValidationError as error:
                problems += error.problems
        problems += _provenance_problems(paths["raw"], paths["schemas"])
    return problems


def _provenance_problems(raw: str, schemas: str) -> list[str]:
    """Numbers of included rows missing from their quotes, and rows without a DOI or PMID."""
    from evsynth.validate.provenance import check_directory

    return [str(p) for p in check_directory(Path(raw), Path(schemas))[1]]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evsynth", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="write a review folder that runs at once")
    new.add_argument("path")
    new.add_argument("--example", choices=["binary", "continuous"], default="binary")
    run_cmd = sub.add_parser("run", help="run every stage of a review (no Snakemake)")
    run_cmd.add_argument("path", nargs="?", default=".")
    run_cmd.add_argument("--cores", type=int, default=1)
    check = sub.add_parser("check", help="validate a review's inputs and provenance")
    check.add_argument("path", nargs="?", default=".")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """The ``evsynth`` command."""
    args = _parser().parse_args(argv)

    def command() -> None:
        if args.command == "new":
            folder = new_review(args.path, args.example)
            print(
                f"wrote {folder}; run it with `evsynth run {folder}` or "
                f"`make report REVIEW={folder}`"
            )
        elif args.command == "run":
            from evsynth.stages import run_all
            from evsynth.validate.config import load_config

            with _InFolder(args.path):
                report = run_all(load_config("config/config.yaml", project_dir="."), args.cores)
            print(f"wrote {Path(args.path) / report}")
        else:
            problems = check_review(args.path)
            if problems:
                raise DataValidationError(problems)
            print(
                f"{args.path}: config, report settings, narrative, tables and provenance are valid"
            )

    run(command)
