"""Processed tables: derived columns named after their formula, study facts, provenance keys."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from evsynth.io.safe_io import read_processed
from evsynth.validate.processing import (
    calcium_coadministered,
    daily_equivalent_iu,
    dose_band,
    harmonise,
    join_studies,
    typed_tables,
    validate_and_write,
)
from evsynth.validate.tables import RAW_TABLES, validate_tables

GOOD = Path(__file__).resolve().parent / "data" / "good"


@pytest.fixture(scope="module")
def processed() -> dict[str, pd.DataFrame]:
    tables = validate_tables(GOOD)
    return harmonise(typed_tables(tables), ["fractures", "kidney_stones"])


def test_daily_equivalent_is_unrounded() -> None:
    daily = daily_equivalent_iu(pd.Series([100_000.0, 800.0]), pd.Series([3.0, 365.0]))
    assert daily.iloc[0] == pytest.approx(100_000 * 3 / 365, rel=1e-15)
    assert daily.iloc[1] == 800.0


def test_dose_band_uses_the_unrounded_value() -> None:
    bands = dose_band(pd.Series([799.999, 800.0, 821.9178, math.nan]))
    assert bands.tolist() == ["<800 IU/day", "≥800 IU/day", "≥800 IU/day", None]


def test_calcium_coadministered_is_unknown_when_a_dose_is() -> None:
    result = calcium_coadministered(pd.Series([1200.0, 0.0, math.nan]), pd.Series([0.0, 0.0, 0.0]))
    assert result.tolist()[:2] == [True, False]
    assert result.isna().tolist() == [False, False, True]


def test_studies_gain_derived_columns(processed: dict[str, pd.DataFrame]) -> None:
    studies = processed["studies"].set_index("study_id")
    assert studies.loc["Beta2010", "daily_equivalent_iu"] == 100_000 * 3 / 365
    assert studies.loc["Beta2010", "dose_band"] == "≥800 IU/day"
    assert bool(studies.loc["Alpha2001", "calcium_coadministered"]) is True
    assert pd.isna(studies.loc["Gamma2015", "calcium_coadministered"])


def test_row_ids_are_file_and_editor_line(processed: dict[str, pd.DataFrame]) -> None:
    assert processed["studies"]["row_id"].tolist() == [
        "studies.csv:2",
        "studies.csv:4",
        "studies.csv:5",
        "studies.csv:6",
    ]
    assert processed["fractures"]["row_id"].tolist()[1] == "fractures.csv:4"
    assert processed["fractures"]["study_row_id"].tolist()[1] == "studies.csv:2"
    for frame in processed.values():
        assert frame["row_id"].is_unique
        assert frame.columns[0] == "row_id"


def test_outcomes_carry_study_facts(processed: dict[str, pd.DataFrame]) -> None:
    fractures = processed["fractures"]
    assert len(fractures) == 4
    row = fractures.iloc[2]
    assert row["study_id"] == "Beta2010"
    assert row["year"] == 2010 and row["dose_band"] == "≥800 IU/day"
    # clashing study columns are prefixed; the outcome's own provenance keeps its name
    assert row["quote"] == "RR 0.78, 95% CI 0.61 to 0.99"
    assert row["study_quote"] == "100,000 IU every 4 months"
    assert "study_source_url" in fractures.columns


def test_join_keeps_outcome_order_and_rows() -> None:
    outcomes = pd.DataFrame(
        {"study_id": ["B", "A", "A"], "comparison": ["x", "y", "y"], "v": [1, 2, 3]}
    )
    studies = pd.DataFrame({"study_id": ["A", "B"], "comparison": ["y", "x"], "v": [9, 8]})
    joined = join_studies(outcomes, studies)
    assert joined["v"].tolist() == [1, 2, 3]
    assert joined["study_v"].tolist() == [8, 9, 9]


def test_include_is_boolean(processed: dict[str, pd.DataFrame]) -> None:
    assert processed["fractures"]["include"].tolist() == [True, True, True, False]


def test_written_tables_read_back_typed(tmp_path: Path) -> None:
    validate_and_write(GOOD, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{t}.csv" for t in RAW_TABLES)
    fractures = read_processed(tmp_path / "fractures.csv")
    assert fractures["include"].dtype == bool
    assert fractures["events_treat"].tolist()[:2] == [80, 160]
    assert fractures.loc[2, "effect"] == 0.78
    assert (
        fractures.loc[0, "quote"]
        == "The total incidence of hip fracture is 80/1387\n(intervention), 110/1403 (control)"
    )
    studies = read_processed(tmp_path / "studies.csv")
    assert studies.loc[1, "daily_equivalent_iu"] == 100_000 * 3 / 365
    markers = read_processed(tmp_path / "avadec_markers.csv")
    assert markers.loc[1, "quote"] == "-212 pmol/L vs. 45 pmol/L; P<0.001"
    assert markers.loc[0, "md_ci_low"] == -86.0


def test_processing_is_deterministic(tmp_path: Path) -> None:
    validate_and_write(GOOD, tmp_path / "one")
    validate_and_write(GOOD, tmp_path / "two")
    for table in RAW_TABLES:
        one = (tmp_path / "one" / f"{table}.csv").read_bytes()
        assert one == (tmp_path / "two" / f"{table}.csv").read_bytes()
        assert b"\r\n" not in one
