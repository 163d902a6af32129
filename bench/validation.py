"""Raw-table validation at scale: ``validate_tables`` on 10,000 to 200,000 outcome rows.

A synthetic review is written to a temporary directory: ``studies.csv`` with
:data:`N_STUDIES` trials and ``fractures.csv`` with ``rows`` rows (each trial crossed with
``rows / N_STUDIES`` outcomes, realistic counts, every column of the shipped schema filled
as a real row would be). The schemas are copies of ``workflow/schemas`` whose ``outcome``
allows the synthetic outcome names. Two tables of each size are validated:

* **valid**: every row passes; the time is reading, the cell checks, the unique key, the
  cross-field checks and the foreign keys;
* **many duplicates**: every row's key is repeated once (``rows / 2`` distinct keys), so
  half the rows are reported as duplicates, each naming the line of the first occurrence
  (the quadratic case of issue 18: 2,000 / 5,000 / 10,000 duplicated rows took 4 / 18 / 70 s).

Each is timed once, after one untimed warm-up run on the smallest table: the wall time and
the CPU time of this process (``time.process_time``) of the whole call, including the
:class:`DataValidationError` with its messages. The CPU time is the steadier figure on a
machine shared with other work.
"""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from evsynth.errors import DataValidationError
from evsynth.validate.tables import validate_tables

ROOT = Path(__file__).resolve().parent.parent
N_STUDIES = 1000
SIZES = (10_000, 50_000, 200_000)


def write_tables(dest: Path, rows: int, duplicates: bool, seed: int = 11) -> Path:
    """Write ``raw/`` and ``schemas/`` of a synthetic review of ``rows`` outcome rows under
    ``dest``; returns ``dest``. With ``duplicates``, row ``2i + 1`` repeats the key of row
    ``2i`` (its counts differ)."""
    rng = np.random.default_rng(seed)
    raw, schemas = dest / "raw", dest / "schemas"
    raw.mkdir(parents=True)
    shutil.copytree(ROOT / "workflow" / "schemas", schemas)
    with open(ROOT / "tests/data/good/studies.csv", encoding="utf-8", newline="") as handle:
        study_template = next(csv.DictReader(handle))
    with open(ROOT / "tests/data/good/fractures.csv", encoding="utf-8", newline="") as handle:
        outcome_template = next(csv.DictReader(handle))
    studies = [
        {**study_template, "study_id": f"Synthetic{2000 + s % 25}_{_letters(s)}"}
        for s in range(N_STUDIES)
    ]
    _write(raw / "studies.csv", studies)
    for name in ("kidney_stones", "avadec_markers"):
        shutil.copyfile(ROOT / "tests/data/good" / f"{name}.csv", raw / f"{name}.csv")
    n_outcomes = -(-rows // N_STUDIES)
    outcomes = [f"outcome{i:04d}" for i in range(n_outcomes)]
    n = rng.integers(100, 5000, (rows, 2))
    events = rng.binomial(n, 0.1)
    table = []
    for i in range(rows):
        key = i - 1 if duplicates and i % 2 else i
        study = studies[key % N_STUDIES]
        table.append(
            {
                **outcome_template,
                "study_id": study["study_id"],
                "comparison": study["comparison"],
                "outcome": outcomes[key // N_STUDIES],
                "events_treat": str(events[i, 0]),
                "n_treat": str(n[i, 0]),
                "events_control": str(events[i, 1]),
                "n_control": str(n[i, 1]),
            }
        )
    _write(raw / "fractures.csv", table)
    schema_path = schemas / "fractures.schema.yaml"
    schema: dict[str, Any] = yaml.safe_load(schema_path.read_text(encoding="utf-8"))
    schema["columns"]["outcome"]["allowed"] = outcomes
    schema_path.write_text(yaml.safe_dump(schema, sort_keys=False), encoding="utf-8")
    return dest


def _letters(number: int) -> str:
    """``number`` in base 26 with the digits a-z (study ids end in letters)."""
    out = ""
    while True:
        number, digit = divmod(number, 26)
        out = "abcdefghijklmnopqrstuvwxyz"[digit] + out
        if not number:
            return out


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def timed(rows: int, duplicates: bool) -> dict[str, Any]:
    """Seconds of one ``validate_tables`` call on the fractures table (and studies.csv, which
    its foreign key reads) of a synthetic review, and the number of problems reported."""
    with tempfile.TemporaryDirectory() as tmp:
        dest = write_tables(Path(tmp), rows, duplicates)
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            validate_tables(dest / "raw", ["fractures"], dest / "schemas")
            problems = 0
        except DataValidationError as error:
            problems = len(error.problems)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "rows": rows,
        "duplicates": duplicates,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "problems": problems,
    }


def run(sizes: tuple[int, ...] = SIZES) -> list[dict[str, Any]]:
    """Every size, valid and with duplicates (after one untimed warm-up run)."""
    timed(min(sizes), duplicates=True)
    results = []
    for rows in sizes:
        for duplicates in (False, True):
            results.append(timed(rows, duplicates))
            print(results[-1], flush=True)
    return results


def markdown(results: list[dict[str, Any]]) -> list[str]:
    """The validation section of bench/RESULTS.md."""
    lines = [
        "## Validation of the raw tables (bench/validation.py)",
        "",
        f"`validate_tables` on fractures.csv (and studies.csv, {N_STUDIES:,} trials, which its "
        "foreign key reads); the duplicated table repeats every key once, so half its rows "
        "are reported, each naming the line of the first occurrence.",
        "",
        "| rows | table | wall s | CPU s | CPU µs per row | problems reported |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        kind = "every key twice" if r["duplicates"] else "valid"
        per_row = r["cpu_seconds"] / r["rows"] * 1e6
        lines.append(
            f"| {r['rows']:,} | {kind} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | "
            f"{per_row:.0f} | {r['problems']:,} |"
        )
    return lines


def main(sizes: tuple[int, ...] = SIZES) -> list[str]:
    """Measure; print and return the markdown lines."""
    lines = markdown(run(sizes))
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
