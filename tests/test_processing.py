"""Processed tables: derived columns from the config's vocabulary, joins along foreign keys,
``row_id`` provenance keys, and the files the validate stage writes.

The review here is made up for the tests (supervised exercise for low back pain): two raw
tables, ``trials`` (one row per trial) and ``pain`` (outcome rows with a foreign key into
``trials``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evsynth.io.safe_io import read_processed
from evsynth.validate.derive import add_derived, derive_column
from evsynth.validate.processing import (
    harmonise,
    join_table,
    typed_tables,
    validate_and_write,
    with_row_id,
)
from evsynth.validate.tables import validate_tables

TRIALS_SCHEMA = """\
table: trials
columns:
  study_id: {type: string, nullable: false}
  year: {type: integer}
  sessions_per_week: {type: number}
  weeks: {type: integer}
  supervised: {type: boolean}
  quote: {type: string}
unique: [study_id]
foreign_keys: []
checks: []
"""

PAIN_SCHEMA = """\
table: pain
columns:
  study_id: {type: string, nullable: false}
  outcome: {type: string, nullable: false}
  events_treat: {type: integer, min: 0}
  n_treat: {type: integer, min: 0}
  events_control: {type: integer, min: 0}
  n_control: {type: integer, min: 0}
  quote: {type: string}
unique: [study_id, outcome]
foreign_keys:
  - {columns: [study_id], table: trials, ref_columns: [study_id]}
checks: []
"""

# Line 1 is the header; Hansen's quote spans lines 3-4, so Kim's row is on line 5.
TRIALS_CSV = """\
study_id,year,sessions_per_week,weeks,supervised,quote
Ahmed2004,2004,2,12,true,twice weekly for 12 weeks
Hansen2011,2011,3,7,false,"three sessions a week
for seven weeks"
Kim2019,2019,,10,true,sessions not reported
"""

PAIN_CSV = """\
study_id,outcome,events_treat,n_treat,events_control,n_control,quote
Hansen2011,chronic pain,12,60,20,58,12/60 vs 20/58
Ahmed2004,chronic pain,9,40,0,0,9/40 (no control events reported)
Kim2019,chronic pain,15,75,22,77,15/75 vs 22/77
"""

DERIVED = {
    # declared before the column it reads: the order must come from the dependencies
    "dose_band": {"cut": "total_sessions", "breaks": [24], "labels": ["<24", "≥24"]},
    "total_sessions": {"product": ["sessions_per_week", "weeks"]},
    "control_risk": {"ratio": ["events_control", "n_control"]},
}


@pytest.fixture
def review(tmp_path: Path) -> Path:
    """A review folder with the two raw tables and their schemas."""
    (tmp_path / "schemas").mkdir()
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "schemas" / "trials.schema.yaml").write_text(TRIALS_SCHEMA, encoding="utf-8")
    (tmp_path / "schemas" / "pain.schema.yaml").write_text(PAIN_SCHEMA, encoding="utf-8")
    (tmp_path / "data" / "raw" / "trials.csv").write_text(TRIALS_CSV, encoding="utf-8")
    (tmp_path / "data" / "raw" / "pain.csv").write_text(PAIN_CSV, encoding="utf-8")
    return tmp_path


@pytest.fixture
def processed(review: Path) -> dict[str, pd.DataFrame]:
    tables = validate_tables(review / "data" / "raw", ["pain"], review / "schemas")
    return harmonise(tables, typed_tables(tables), DERIVED)


# --------------------------------------------------------------------------- derived columns


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [2.0, 3.0, np.nan, 5.0],
            "b": [4.0, 0.0, 1.0, 5.0],
            "c": [10.0, 1.0, 1.0, 2.0],
            "arm": ["Supervised", "home", None, "supervised"],
        }
    )


def values(series: pd.Series) -> list[object]:
    """Cells as plain values, NaN and NA as None (so lists compare exactly)."""
    return [None if pd.isna(v) else v for v in series.tolist()]


def test_sum_adds_and_a_blank_input_gives_a_blank() -> None:
    assert values(derive_column(frame(), {"sum": ["a", "b", "c"]})) == [16.0, 4.0, None, 12.0]


def test_product_with_divide_by_and_times() -> None:
    got = derive_column(frame(), {"product": ["a", "c"], "divide_by": 4})
    assert values(got) == [5.0, 0.75, None, 2.5]
    got = derive_column(frame(), {"product": ["a", "b"], "times": 0.5})
    assert values(got) == [4.0, 0.0, None, 12.5]


def test_ratio_by_zero_is_blank_never_infinite() -> None:
    got = derive_column(frame(), {"ratio": ["a", "b"]})
    assert values(got) == [0.5, None, None, 1.0]
    assert not np.isinf(got.to_numpy(dtype=float)).any()


def test_difference_is_first_minus_second() -> None:
    assert values(derive_column(frame(), {"difference": ["b", "a"]})) == [2.0, -3.0, None, 0.0]


def test_greater_is_a_boolean_and_unknown_when_an_input_is_blank() -> None:
    got = derive_column(frame(), {"greater": ["a", "b"]})
    assert str(got.dtype) == "boolean"
    assert values(got) == [False, True, None, False]


def test_equals_compares_text_ignoring_case_and_keeps_blanks_unknown() -> None:
    got = derive_column(frame(), {"equals": {"column": "arm", "value": "supervised"}})
    assert values(got) == [True, False, None, True]
    flags = pd.DataFrame({"f": pd.array([True, False, None], dtype="boolean")})
    assert values(derive_column(flags, {"equals": {"column": "f", "value": True}})) == [
        True,
        False,
        None,
    ]


def test_cut_bands_are_left_closed_and_read_the_unrounded_value() -> None:
    spec = {"cut": "x", "breaks": [24, 36], "labels": ["low", "middle", "high"]}
    x = pd.DataFrame({"x": [23.9999999, 24.0, 35.99, 36.0, 100.0, -1.0, np.nan]})
    assert values(derive_column(x, spec)) == [
        "low",
        "middle",
        "middle",
        "high",
        "high",
        "low",
        None,
    ]
    # A value that prints as 24.0 at 6 digits but is below 24 stays in the lower band.
    product = pd.DataFrame({"per_week": [2.9999999], "weeks": [8.0]})
    derived = {
        "sessions": {"product": ["per_week", "weeks"]},
        "band": {"cut": "sessions", "breaks": [24], "labels": ["<24", "≥24"]},
    }
    out = add_derived(product, derived)
    assert f"{out.loc[0, 'sessions']:.6g}" == "24"
    assert out.loc[0, "band"] == "<24"


def test_column_with_times_changes_the_unit() -> None:
    got = derive_column(frame(), {"column": "c", "times": 7})
    assert values(got) == [70.0, 7.0, 7.0, 14.0]
    got = derive_column(frame(), {"column": "a", "divide_by": 2})
    assert values(got) == [1.0, 1.5, None, 2.5]


def test_a_derived_column_can_read_a_derived_column_declared_after_it() -> None:
    derived = {
        "doubled_total": {"column": "total", "times": 2},
        "total": {"sum": ["a", "b"]},
    }
    out = add_derived(frame(), derived)
    assert values(out["total"]) == [6.0, 3.0, None, 10.0]
    assert values(out["doubled_total"]) == [12.0, 6.0, None, 20.0]


def test_blanks_propagate_through_a_chain_and_nothing_is_imputed() -> None:
    derived = {
        "total": {"sum": ["a", "b"]},
        "per_c": {"ratio": ["total", "c"]},
        "band": {"cut": "per_c", "breaks": [1], "labels": ["<1", "≥1"]},
        "bigger": {"greater": ["per_c", "b"]},
    }
    out = add_derived(frame(), derived)
    row = out.iloc[2]  # a is blank
    assert all(pd.isna(row[c]) for c in ("total", "per_c", "band", "bigger"))
    assert out.loc[0, "per_c"] == pytest.approx(0.6) and out.loc[0, "band"] == "<1"
    # the input cells are untouched
    assert math.isnan(out.loc[2, "a"]) and values(out["a"]) == values(frame()["a"])


def test_a_derived_column_whose_inputs_are_absent_is_left_for_another_table() -> None:
    out = add_derived(frame(), {"total": {"sum": ["a", "missing"]}})
    assert "total" not in out.columns
    assert list(out.columns) == list(frame().columns)


# --------------------------------------------------------------------------- joins, row ids


def test_row_id_is_file_and_editor_line(processed: dict[str, pd.DataFrame]) -> None:
    assert processed["trials"]["row_id"].tolist() == [
        "trials.csv:2",
        "trials.csv:3",
        "trials.csv:5",  # after a quoted cell spanning lines 3-4
    ]
    assert processed["pain"]["row_id"].tolist() == ["pain.csv:2", "pain.csv:3", "pain.csv:4"]
    for table in processed.values():
        assert table.columns[0] == "row_id"


def test_with_row_id_reads_the_index_as_the_line() -> None:
    out = with_row_id(pd.DataFrame({"v": [1, 2]}, index=[7, 12]), "x.csv")
    assert out["row_id"].tolist() == ["x.csv:7", "x.csv:12"]
    assert list(out.index) == [0, 1]


def test_a_table_with_a_foreign_key_gets_the_referenced_rows_columns(
    processed: dict[str, pd.DataFrame],
) -> None:
    pain = processed["pain"].set_index("study_id")
    assert pain.loc["Hansen2011", "year"] == 2011
    assert pain.loc["Ahmed2004", "weeks"] == 12
    assert bool(pain.loc["Hansen2011", "supervised"]) is False
    # the rows keep the raw table's order
    assert processed["pain"]["study_id"].tolist() == ["Hansen2011", "Ahmed2004", "Kim2019"]


def test_clashing_columns_get_the_referenced_tables_prefix(
    processed: dict[str, pd.DataFrame],
) -> None:
    pain = processed["pain"].set_index("study_id")
    assert pain.loc["Hansen2011", "quote"] == "12/60 vs 20/58"
    assert pain.loc["Hansen2011", "trials_quote"] == "three sessions a week\nfor seven weeks"
    assert pain.loc["Kim2019", "row_id"] == "pain.csv:4"
    assert pain.loc["Kim2019", "trials_row_id"] == "trials.csv:5"
    # the key itself is not duplicated
    assert "trials_study_id" not in pain.columns


def test_derived_columns_after_the_join(processed: dict[str, pd.DataFrame]) -> None:
    pain = processed["pain"].set_index("study_id")
    assert pain.loc["Ahmed2004", "total_sessions"] == 24.0
    assert pain.loc["Ahmed2004", "dose_band"] == "≥24"
    assert pain.loc["Hansen2011", "dose_band"] == "<24"
    assert pd.isna(pain.loc["Kim2019", "total_sessions"])  # sessions not reported
    assert pd.isna(pain.loc["Kim2019", "dose_band"])
    assert pain.loc["Hansen2011", "control_risk"] == 20 / 58
    assert pd.isna(pain.loc["Ahmed2004", "control_risk"])  # 0 / 0
    # trials has no counts: control_risk belongs to the table that holds its inputs
    assert "control_risk" not in processed["trials"].columns
    assert "total_sessions" in processed["trials"].columns


def test_join_table_prefixes_only_clashing_columns() -> None:
    left = pd.DataFrame({"id": ["B", "A", "A"], "v": [1, 2, 3]})
    right = pd.DataFrame({"key": ["A", "B"], "v": [9, 8], "w": ["a", "b"]})
    joined = join_table(left, right, ["id"], ["key"], "other")
    assert joined["v"].tolist() == [1, 2, 3]
    assert joined["other_v"].tolist() == [8, 9, 9]
    assert joined["w"].tolist() == ["b", "a", "a"]
    assert list(joined.columns) == ["id", "v", "other_v", "w"]


# --------------------------------------------------------------------------- writing


def test_validate_and_write_writes_the_processed_tables(review: Path, tmp_path: Path) -> None:
    out = tmp_path / "processed"
    written = validate_and_write(
        review / "data" / "raw", out, ["pain", "trials"], review / "schemas", DERIVED
    )
    assert [p.name for p in written] == ["pain.csv", "trials.csv"]
    pain = read_processed(out / "pain.csv")
    assert pain["row_id"].tolist() == ["pain.csv:2", "pain.csv:3", "pain.csv:4"]
    assert pain["events_treat"].tolist() == [12, 9, 15]
    assert pain["trials_quote"].tolist()[0] == "three sessions a week\nfor seven weeks"
    assert values(pain["dose_band"]) == ["<24", "≥24", None]
    assert pain["control_risk"].tolist()[0] == 20 / 58
    trials = read_processed(out / "trials.csv")
    assert trials["supervised"].tolist() == [True, False, True]


def test_validate_and_write_writes_only_the_tables_named(review: Path, tmp_path: Path) -> None:
    out = tmp_path / "processed"
    validate_and_write(review / "data" / "raw", out, ["pain"], review / "schemas", DERIVED)
    assert sorted(p.name for p in out.iterdir()) == ["pain.csv"]


def test_processing_is_byte_identical_when_repeated(review: Path, tmp_path: Path) -> None:
    for name in ("one", "two"):
        validate_and_write(
            review / "data" / "raw", tmp_path / name, ["pain"], review / "schemas", DERIVED
        )
    one = (tmp_path / "one" / "pain.csv").read_bytes()
    assert one == (tmp_path / "two" / "pain.csv").read_bytes()
    assert b"\r\n" not in one
