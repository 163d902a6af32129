"""Validation of the input files: the good set passes, every malformed input is reported.

The bad-input corpus is ``tests/data/bad_inputs/<case>/`` (see its README.md): each case holds
the file(s) that replace their namesakes in a copy of a good review and an ``expected.yaml``
with the exit code and the exact error lines of the entry point that reads them. The kind of
a case follows from its files:

* ``*.csv`` and ``*.schema.yaml``: raw tables and table schemas in a copy of
  ``tests/data/good/`` and ``workflow/schemas/``, run through ``scripts/validate.py``;
* ``config.yaml``: the config, run through ``scripts/analyse.py`` (which reads it first).

Each entry point runs in this process (``runpy``, with its own argv and working directory), so
an exception that is not an :class:`~evsynth.errors.EvsynthError` fails the test instead of
printing a traceback; its standard error must be exactly ``error: `` and the expected lines,
and it must write no output.
"""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from evsynth.errors import DataValidationError
from evsynth.validate.tables import load_schema, read_records, validate_tables

#: The shipped review's raw tables (the corpus and the good set are copies of them).
RAW_TABLES = ("studies", "fractures", "kidney_stones", "avadec_markers")
SCHEMAS = Path(__file__).resolve().parents[1] / "workflow" / "schemas"
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
        validate_tables(raw, RAW_TABLES, SCHEMAS)
    except DataValidationError as error:
        return error.problems
    return []


#: The review's YAML files besides the config (a case holding one is of kind ``review``).
REVIEW_YAML = ("report.yaml", "narrative.yaml")


def case_kind(case: str) -> str:
    """``config`` for a case with a config.yaml, ``review`` for one with a report.yaml or
    narrative.yaml, else ``tables``."""
    if (BAD / case / "config.yaml").exists():
        return "config"
    if any((BAD / case / name).exists() for name in REVIEW_YAML):
        return "review"
    return "tables"


def run_entry_point(
    script: str, args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> int:
    """Run ``scripts/<script>`` (or ``-m evsynth``) in this process with ``args`` in ``cwd``;
    its exit code."""
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", [script, *args])
    try:
        if script == "evsynth":
            runpy.run_module("evsynth", run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(str(ROOT / "scripts" / script), run_name="__main__")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    return 0


#: The review config of the table cases: the good set's tables in raw/ and schemas/.
TABLES_CONFIG = """review: {title: Corpus, intervention: treatment, control: control}
paths: {raw: raw, schemas: schemas, processed: processed, results: results}
tables: [studies, fractures, kidney_stones, avadec_markers]
analyses:
  any:
    title: Any
    dataset: fractures
    measure: RR
"""


def review_config(tmp_path: Path) -> None:
    """config/config.yaml of a review whose raw tables and schemas are raw/ and schemas/."""
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "config.yaml").write_text(TABLES_CONFIG, encoding="utf-8")


def set_up_case(case: str, tmp_path: Path) -> tuple[str, list[str], list[Path]]:
    """Copy the good review with ``case``'s files into ``tmp_path``; the script to run, its
    arguments and the outputs it must not write."""
    if case_kind(case) == "config":
        (tmp_path / "config").mkdir()
        shutil.copyfile(BAD / case / "config.yaml", tmp_path / "config" / "config.yaml")
        outputs = ["results/fractures.json", "results/fractures.csv"]
        args = ["--config", "config/config.yaml", "--dataset", "fractures"]
        args += ["--table", "processed/fractures.csv", "--json", outputs[0]]
        args += ["--summary", outputs[1]]
        return "analyse.py", args, [tmp_path / "results"]
    if case_kind(case) == "review":
        from evsynth.cli import new_review

        review = new_review(tmp_path / "review", "binary")
        for name in REVIEW_YAML:
            if (BAD / case / name).exists():
                shutil.copyfile(BAD / case / name, review / "config" / name)
        outputs = [review / "results", review / "data/processed"]
        return "evsynth", ["check", "review"], outputs
    raw_copy(tmp_path, case)
    shutil.copytree(ROOT / "workflow" / "schemas", tmp_path / "schemas")
    for source in (BAD / case).glob("*.schema.yaml"):
        shutil.copyfile(source, tmp_path / "schemas" / source.name)
    review_config(tmp_path)
    return "validate.py", ["--config", "config/config.yaml"], [tmp_path / "processed"]


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert {case_kind(c) for c in CASES} == {"config", "review", "tables"}


def test_base_config_of_the_config_cases_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The config cases are edits of base_config.yaml: it must itself pass."""
    from evsynth.validate.config import load_config

    monkeypatch.chdir(tmp_path)
    config = load_config(BAD / "base_config.yaml", project_dir=tmp_path)
    assert sorted(config["analyses"]) == ["fractures-hip", "fractures-total", "kidney-stones"]


def test_every_raw_table_and_schema_has_a_case() -> None:
    files = {p.name for case in CASES for p in (BAD / case).iterdir()}
    for table in RAW_TABLES:
        assert f"{table}.csv" in files, table
        assert f"{table}.schema.yaml" in files, table


def test_every_review_yaml_file_has_cases() -> None:
    """Syntax, bytes, duplicated and unknown keys and cross-references for each file."""
    for name in REVIEW_YAML:
        stem = name.removesuffix(".yaml")
        kinds = {c.removeprefix(f"{stem}_") for c in CASES if (BAD / c / name).exists()}
        assert {"syntax_error", "duplicate_key", "latin1_byte"} <= kinds, name


def test_good_set_passes() -> None:
    tables = validate_tables(GOOD, RAW_TABLES, SCHEMAS)
    assert set(tables) == set(RAW_TABLES)
    # Records start on the editor line of their first character; the multi-line population
    # cell of the first study occupies lines 2-3.
    assert list(tables["studies"].typed.index) == [2, 4, 5, 6]
    assert list(tables["fractures"].typed.index) == [2, 4, 5, 6]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_reported(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expected: dict[str, Any] = yaml.safe_load(
        (BAD / case / "expected.yaml").read_text(encoding="utf-8")
    )
    script, args, outputs = set_up_case(case, tmp_path)
    code = run_entry_point(script, args, tmp_path, monkeypatch)
    err = capsys.readouterr().err
    assert code == expected["exit_code"], err
    assert "Traceback" not in err
    assert err == "error: " + "\n".join(expected["messages"]) + "\n"
    assert not any(path.exists() for path in outputs)


def test_every_problem_is_one_line(tmp_path: Path) -> None:
    problems = problems_of(raw_copy(tmp_path, "several_problems_at_once"))
    assert all("\n" not in p for p in problems)


def test_bom_is_accepted(tmp_path: Path) -> None:
    raw = raw_copy(tmp_path)
    for path in raw.glob("*.csv"):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    tables = validate_tables(raw, RAW_TABLES, SCHEMAS)
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
    tables = validate_tables(GOOD, RAW_TABLES, SCHEMAS)
    studies = tables["studies"].typed
    assert studies.loc[2, "population"] == "women ≥ 65 y\nin nursing homes"
    assert studies.loc[2, "trial_name"] == "ALPHA, phase 3"
    assert pd_isna(studies.loc[5, "calcium_mg_per_day_treat"])  # blank = unknown


def pd_isna(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_schemas_load() -> None:
    for table in RAW_TABLES:
        schema = load_schema(table, SCHEMAS)
        assert schema.table == table
        assert {"source_url", "doi_or_pmid", "quote", "provenance"} <= set(schema.names)


def test_malformed_schema_is_reported(tmp_path: Path) -> None:
    for table in RAW_TABLES:
        shutil.copyfile(
            ROOT / "workflow" / "schemas" / f"{table}.schema.yaml",
            tmp_path / f"{table}.schema.yaml",
        )
    path = tmp_path / "studies.schema.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, text in enumerate(lines) if text.startswith("  year:"))
    lines[at + 1] = lines[at + 1].replace("type: integer", "type: int")
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(DataValidationError) as caught:
        load_schema("studies", tmp_path)
    line = 1 + next(
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
    shutil.copytree(SCHEMAS, tmp_path / "schemas")
    review_config(tmp_path)
    log = tmp_path / "logs" / "validate.log"
    out = run_script(tmp_path, "--config", "config/config.yaml", "--log", str(log))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "raw/studies.csv:5: column 'vitamin_d_form':" in out.stderr
    assert "raw/fractures.csv:4: column 'events_treat': 1400 exceeds n_treat (1387)" in out.stderr
    assert "raw/studies.csv:5" in log.read_text(encoding="utf-8")
    assert not (tmp_path / "processed").exists()


def test_script_writes_processed_tables(tmp_path: Path) -> None:
    raw_copy(tmp_path)
    shutil.copytree(SCHEMAS, tmp_path / "schemas")
    review_config(tmp_path)
    out = run_script(tmp_path, "--config", "config/config.yaml", "--table", "fractures")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "processed").iterdir()) == ["fractures.csv"]


def test_table_schema_format_knows_every_cross_check() -> None:
    from evsynth.validate.tables import CROSS_CHECKS, TABLE_SCHEMA_PATH

    meta = yaml.safe_load(TABLE_SCHEMA_PATH.read_text(encoding="utf-8"))
    names = meta["properties"]["checks"]["items"]["properties"]["check"]["enum"]
    assert sorted(names) == sorted(CROSS_CHECKS)
    branches = meta["properties"]["checks"]["items"]["allOf"]
    assert sorted(b["if"]["properties"]["check"]["const"] for b in branches) == sorted(names)


def test_largest_exact_integer_is_kept_exactly(tmp_path: Path) -> None:
    raw = raw_copy(tmp_path)
    kidney = raw / "kidney_stones.csv"
    text = kidney.read_text(encoding="utf-8")
    big = str(2**53 - 1)
    kidney.write_text(
        text.replace("events,28,2000,24,2000,", f"events,28,{big},24,{big},"), encoding="utf-8"
    )
    typed = validate_tables(raw, RAW_TABLES, SCHEMAS)["kidney_stones"].typed
    assert typed.loc[3, "n_treat"] == 2**53 - 1 and str(typed["n_treat"].dtype) == "Int64"


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        # an arm of n = 0 alone (nothing else given) is not an analysable arm: not reported
        ("persons,,0,,,", []),
        # a negative n is the cell check's to report, once
        ("persons,5,-1,3,1403,", ["column 'n_treat': '-1' is below 0 (counts cannot be negative)"]),
        # n = 0 beside its own events only
        ("persons,0,0,,,", ["column 'n_treat': is 0 but events_treat is given; it must be > 0"]),
        # both arms of n = 0 beside their events: each reported
        (
            "persons,0,0,0,0,",
            [
                "column 'n_treat': is 0 but events_treat, events_control, n_control are given",
                "column 'n_control': is 0 but events_treat, n_treat, events_control are given",
            ],
        ),
    ],
)
def test_positive_when_any(tmp_path: Path, cells: str, expected: list[str]) -> None:
    raw = raw_copy(tmp_path)
    kidney = raw / "kidney_stones.csv"
    text = kidney.read_text(encoding="utf-8")
    kidney.write_text(text.replace("persons,5,1387,3,1403,", cells), encoding="utf-8")
    found = problems_of(raw)
    assert len(found) == len(expected), found
    for problem, want in zip(found, expected, strict=True):
        assert problem.startswith(f"{raw.as_posix()}/kidney_stones.csv:2: {want}"), problem
