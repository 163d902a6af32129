"""Validation of the raw tables: the good set passes, every malformed input is reported.

Each case in ``tests/data/bad_inputs/<case>/`` holds the file(s) that replace their namesakes
in a copy of ``tests/data/good/`` and an ``expected.yaml`` listing the problems the validator
must report: file, editor line, column (``null`` for problems of the whole line or file) and a
key word of the message. The validator must report exactly those problems, no others.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evsynth.errors import DataValidationError
from evsynth.validate.tables import RAW_TABLES, load_schema, read_records, validate_tables

ROOT = Path(__file__).resolve().parent.parent
GOOD = ROOT / "tests" / "data" / "good"
BAD = ROOT / "tests" / "data" / "bad_inputs"
CASES = sorted(p.name for p in BAD.iterdir() if p.is_dir())


def raw_copy(tmp_path: Path, case: str | None = None) -> Path:
    """A copy of the good set in ``tmp_path/raw`` with ``case``'s files substituted."""
    raw = tmp_path / "raw"
    shutil.copytree(GOOD, raw)
    if case is not None:
        for source in (BAD / case).iterdir():
            if source.suffix == ".csv":
                shutil.copyfile(source, raw / source.name)
    return raw


def problems_of(raw: Path) -> list[str]:
    """The validator's problems for the tables in ``raw`` (empty when they pass)."""
    try:
        validate_tables(raw)
    except DataValidationError as error:
        return error.problems
    return []


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25


def test_good_set_passes() -> None:
    tables = validate_tables(GOOD)
    assert set(tables) == set(RAW_TABLES)
    # Records start on the editor line of their first character; the multi-line population
    # cell of the first study occupies lines 2-3.
    assert list(tables["studies"].typed.index) == [2, 4, 5, 6]
    assert list(tables["fractures"].typed.index) == [2, 4, 5, 6]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_reported(case: str, tmp_path: Path) -> None:
    expected = yaml.safe_load((BAD / case / "expected.yaml").read_text(encoding="utf-8"))
    problems = problems_of(raw_copy(tmp_path, case))
    raw = (tmp_path / "raw").as_posix()
    assert len(problems) == len(expected["problems"]), "\n".join(problems)
    for want in expected["problems"]:
        prefix = f"{raw}/{want['file']}:{want['line']}:"
        if want["column"] is not None:
            prefix += f" column '{want['column']}':"
        hits = [p for p in problems if p.startswith(prefix) and want["keyword"] in p]
        assert hits, f"no problem starting {prefix!r} containing {want['keyword']!r} in:\n" + (
            "\n".join(problems)
        )


def test_every_problem_is_one_line(tmp_path: Path) -> None:
    problems = problems_of(raw_copy(tmp_path, "several_problems_at_once"))
    assert all("\n" not in p for p in problems)


def test_bom_is_accepted(tmp_path: Path) -> None:
    raw = raw_copy(tmp_path)
    for path in raw.glob("*.csv"):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    tables = validate_tables(raw)
    assert tables["studies"].typed["study_id"].iloc[0] == "Alpha2001"


def test_line_numbers_follow_multiline_cells() -> None:
    text = 'a,b\n1,"x\ny\nz"\n2,w\n\n3,v\n'
    header, records, problems = read_records(text, "t.csv")
    assert header == ["a", "b"] and not problems
    assert [line for line, _ in records] == [2, 5, 7]


def test_integer_cells_are_strict(tmp_path: Path) -> None:
    raw = raw_copy(tmp_path)
    fractures = raw / "fractures.csv"
    text = fractures.read_text(encoding="utf-8")
    fractures.write_text(text.replace(",12,400,9,398,", ",12.0,+400, 9,0x10,"), encoding="utf-8")
    problems = problems_of(raw)
    columns = sorted(p.split("column '")[1].split("'")[0] for p in problems)
    assert columns == ["events_control", "events_treat", "n_control"], problems


def test_cells_keep_unicode_and_commas() -> None:
    tables = validate_tables(GOOD)
    studies = tables["studies"].typed
    assert studies.loc[2, "population"] == "women ≥ 65 y\nin nursing homes"
    assert studies.loc[2, "trial_name"] == "ALPHA, phase 3"
    assert pd_isna(studies.loc[5, "calcium_mg_per_day_treat"])  # blank = unknown


def pd_isna(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_schemas_load() -> None:
    for table in RAW_TABLES:
        schema = load_schema(table)
        assert schema.table == table
        assert {"source_url", "doi_or_pmid", "quote", "provenance"} <= set(schema.names)


def test_malformed_schema_is_reported(tmp_path: Path) -> None:
    for table in RAW_TABLES:
        shutil.copyfile(
            ROOT / "workflow" / "schemas" / f"{table}.schema.yaml",
            tmp_path / f"{table}.schema.yaml",
        )
    path = tmp_path / "studies.schema.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("type: integer", "type: int"), encoding="utf-8"
    )
    with pytest.raises(DataValidationError) as caught:
        load_schema("studies", tmp_path)
    line = next(
        i
        for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if text.startswith("  year:")
    )
    assert caught.value.problems == [
        f"{path}:{line}: columns.year.type: 'int' is not one of ['string', 'integer', 'number', "
        "'boolean']; did you mean 'integer'?"
    ]


def run_script(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "validate.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_script_reports_bad_data_without_traceback(tmp_path: Path) -> None:
    raw_copy(tmp_path, "several_problems_at_once")
    log = tmp_path / "logs" / "validate.log"
    out = run_script(tmp_path, "--raw-dir", "raw", "--out-dir", "processed", "--log", str(log))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "raw/studies.csv:5: column 'vitamin_d_form':" in out.stderr
    assert "raw/fractures.csv:4: column 'events_treat': 1400 exceeds n_treat (1387)" in out.stderr
    assert "raw/studies.csv:5" in log.read_text(encoding="utf-8")
    assert not (tmp_path / "processed").exists()


def test_script_writes_processed_tables(tmp_path: Path) -> None:
    raw_copy(tmp_path)
    out = run_script(tmp_path, "--raw-dir", "raw", "--out-dir", "processed", "--table", "fractures")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "processed").iterdir()) == ["fractures.csv"]
