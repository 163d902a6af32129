"""The ``evsynth`` command, and the way every entry point runs: clear errors, no traceback.

* ``evsynth new PATH --example binary|continuous`` writes a review folder that runs at once;
* ``evsynth run PATH`` runs every stage of a review in order (no Snakemake needed);
* ``evsynth check PATH`` validates a review's config, report settings, narrative and raw
  tables, and checks that every number of every included row appears in its quote;
* ``evsynth report PATH`` (``make report``) runs the Snakemake workflow on the review, one run
  at a time, recovering by itself from a run that was killed (:mod:`evsynth.runner`);
* ``evsynth release PATH`` (``make release``) stamps the current report as the next version
  under ``results/versions/`` (:mod:`evsynth.versions`).

A reviewer who feeds the pipeline a bad table sees one line per problem (file, line, column,
what to do) and a non-zero exit status, never a Python traceback; the same lines go to the
log file of the rule.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from evsynth.errors import DataValidationError, EvsynthError

EXAMPLES = Path(__file__).resolve().parent / "examples"


#: When this module was imported: the scripts import it first, so a job's time since then
#: includes the imports of the libraries it uses.
IMPORTED = time.perf_counter()

#: Errors of the machine rather than of the review, said in one line (no traceback).
DISK_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def run(main: Callable[[], None], log: str | Path | None = None, *, job: bool = True) -> None:
    """Call ``main`` (a job: holding the review's job lock when the workflow runs it,
    :func:`evsynth.runner.job_lock`); on an :class:`EvsynthError`, or a full, read-only or
    forbidden disk, print one line, log it and exit 1."""
    from evsynth.runner import job_lock

    start = time.perf_counter()
    try:
        with job_lock() if job else contextlib.nullcontext():
            main()
        if log:  # how long the job took (the benchmark reads it; logs are not results)
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            with open(log, "a", encoding="utf-8") as handle:
                now = time.perf_counter()
                handle.write(f"done in {now - start:.2f} s ({now - IMPORTED:.2f} s with imports)\n")
    except EvsynthError as error:
        _fail(f"error: {error}\n", log)
    except OSError as error:
        if error.errno not in DISK_ERRORS:
            raise
        where = f" writing {error.filename}" if error.filename else ""
        _fail(
            f"error: {DISK_ERRORS[error.errno]}{where} ({error.strerror}); nothing was "
            "replaced: free space (or fix the permissions) and run `make report` again\n",
            log,
        )


def _fail(message: str, log: str | Path | None) -> None:
    sys.stderr.write(message)
    if log:
        try:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            Path(log).write_text(message, encoding="utf-8")
        except OSError:
            pass  # the disk that failed may hold the log too
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
    for name, what in (
        ("report", "run the Snakemake workflow on a review (recovers from a killed run)"),
        ("release", "stamp the current report as the next version in results/versions/"),
    ):
        cmd = sub.add_parser(name, help=what)
        cmd.add_argument("path", nargs="?", default=".")
        cmd.add_argument("--cores", type=int, default=2)
        cmd.add_argument("--snakefile", help="the evsynth checkout's Snakefile")
        cmd.add_argument("--compare-with", help="the released version 'What changed' compares with")
    return parser


def _workflow(args: argparse.Namespace) -> None:
    """``evsynth report`` and ``evsynth release``."""
    from evsynth.runner import run_workflow

    extra = list(args.snakemake)
    settings = [f"compare_with={args.compare_with}"] if args.compare_with else []
    if args.command == "release":
        from evsynth.validate.config import load_config
        from evsynth.versions import next_number, read_version

        with _InFolder(args.path):
            results = load_config("config/config.yaml", project_dir=".")["paths"]["results"]
            number = next_number(results)
        settings.append(f"release={number}")
        folder = f"{results}/versions/{number}"
        extra = [f"{folder}/version.json", *extra, "--quiet", "rules"]
    if settings:
        extra += ["--config", *settings]
    code = run_workflow(args.path, extra, snakefile=args.snakefile, cores=args.cores)
    if code != 0:
        sys.exit(code)
    if args.command == "release":
        info = read_version(Path(args.path) / folder)
        print(
            f"released version {info['number']} of {args.path} ({info['date']}, data "
            f"{info['data_hash'][:12]}) in {Path(args.path) / folder}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    """The ``evsynth`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    args = _parser().parse_args(argv[:cut])
    args.snakemake = argv[cut + 1 :]  # `evsynth report PATH -- <more Snakemake arguments>`

    if args.command in ("report", "release"):
        run(lambda: _workflow(args), job=False)
        return

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
