"""Harmonised tables for ``data/processed/``: typed columns, derived columns, provenance keys.

Derived columns are named after their formula (see ``data/README.md``):

* ``daily_equivalent_iu = dose_iu × doses_per_year / 365`` (unrounded; 100,000 IU every
  4 months is 100,000 × 3 / 365 = 821.9 IU/day);
* ``dose_band``: ``"<800 IU/day"`` or ``"≥800 IU/day"`` from the unrounded
  ``daily_equivalent_iu`` (blank when it is unknown);
* ``calcium_coadministered = calcium_mg_per_day_treat > calcium_mg_per_day_control`` (blank
  when either is unknown).

The outcome tables (``fractures``, ``kidney_stones``) carry their study's facts on every row;
study columns whose names clash with outcome columns (the provenance columns, ``row_id``) get
the prefix ``study_``. Every processed row has ``row_id`` = ``<raw file>:<editor line>``, e.g.
``fractures.csv:14``, so each pooled number can be traced to the raw rows behind it.

The functions that compute are pure (DataFrames in, DataFrames out); :func:`write_processed`
and :func:`validate_and_write` do the file I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from evsynth.io.safe_io import write_csv
from evsynth.validate.tables import RAW_TABLES, RawTable, validate_tables

DOSE_BAND_CUTOFF_IU = 800.0
DOSE_BANDS = ("<800 IU/day", "≥800 IU/day")
STUDY_KEY = ["study_id", "comparison"]
#: Outcome tables that join ``studies.csv`` on :data:`STUDY_KEY`.
STUDY_PREFIX = "study_"


def with_row_id(frame: pd.DataFrame, file_name: str) -> pd.DataFrame:
    """Put ``row_id`` = ``<file_name>:<line>`` first; ``frame`` is indexed by editor line."""
    out = frame.copy()
    out.insert(0, "row_id", [f"{file_name}:{int(line)}" for line in frame.index])
    return out.reset_index(drop=True)


def daily_equivalent_iu(dose_iu: pd.Series, doses_per_year: pd.Series) -> pd.Series:
    """``dose_iu × doses_per_year / 365``, unrounded (NaN when either is unknown)."""
    return dose_iu.astype("float64") * doses_per_year.astype("float64") / 365.0


def dose_band(daily_iu: pd.Series) -> pd.Series:
    """``"<800 IU/day"`` or ``"≥800 IU/day"`` from the unrounded daily equivalent."""
    values = daily_iu.astype("float64")
    band = np.where(values < DOSE_BAND_CUTOFF_IU, DOSE_BANDS[0], DOSE_BANDS[1])
    return pd.Series(band, index=daily_iu.index, dtype=object).where(values.notna(), None)


def calcium_coadministered(treat_mg: pd.Series, control_mg: pd.Series) -> pd.Series:
    """``calcium_mg_per_day_treat > calcium_mg_per_day_control`` (NA when either is unknown)."""
    known = treat_mg.notna() & control_mg.notna()
    result = pd.array(
        [bool(t > c) if k else pd.NA for t, c, k in zip(treat_mg, control_mg, known, strict=True)],
        dtype="boolean",
    )
    return pd.Series(result, index=treat_mg.index)


def harmonise_studies(studies: pd.DataFrame) -> pd.DataFrame:
    """Typed ``studies`` rows (with ``row_id``) plus the derived study-level columns."""
    out = studies.copy()
    out["daily_equivalent_iu"] = daily_equivalent_iu(out["dose_iu"], out["doses_per_year"])
    out["dose_band"] = dose_band(out["daily_equivalent_iu"])
    out["calcium_coadministered"] = calcium_coadministered(
        out["calcium_mg_per_day_treat"], out["calcium_mg_per_day_control"]
    )
    return out


def join_studies(outcomes: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """Copy each outcome row's study facts onto it (left join on study_id and comparison).

    Study columns whose names the outcome table also has get the prefix ``study_``. The
    outcome rows keep their order; validation has already guaranteed that every key exists.
    """
    renames = {
        c: f"{STUDY_PREFIX}{c}"
        for c in studies.columns
        if c not in STUDY_KEY and c in outcomes.columns
    }
    joined = outcomes.merge(
        studies.rename(columns=renames), on=STUDY_KEY, how="left", validate="many_to_one"
    )
    return joined.reset_index(drop=True)


def harmonise(
    tables: Mapping[str, pd.DataFrame], joined: Iterable[str] = ()
) -> dict[str, pd.DataFrame]:
    """Processed tables from validated typed tables that already carry ``row_id``.

    ``studies`` gains the derived columns; the tables named in ``joined`` (those whose schema
    has a foreign key into ``studies``: the outcome tables) are joined with it; any other
    table (``avadec_markers``) is passed through typed.
    """
    joined = set(joined)
    out: dict[str, pd.DataFrame] = {}
    studies = harmonise_studies(tables["studies"]) if "studies" in tables else None
    for name, frame in tables.items():
        if name == "studies":
            out[name] = studies  # type: ignore[assignment]
        elif name in joined and studies is not None:
            out[name] = join_studies(frame, studies)
        else:
            out[name] = frame.copy()
    return out


def typed_tables(tables: Mapping[str, RawTable]) -> dict[str, pd.DataFrame]:
    """Each validated table's typed frame with its ``row_id`` (``<name>.csv:<line>``)."""
    return {name: with_row_id(table.typed, Path(table.path).name) for name, table in tables.items()}


def write_processed(
    tables: Mapping[str, pd.DataFrame], out_dir: str | Path, names: Iterable[str]
) -> list[Path]:
    """Write ``<out_dir>/<name>.csv`` for each of ``names`` (atomically, deterministically;
    not flushed to disk: the workflow regenerates them)."""
    written = []
    for name in names:
        path = Path(out_dir) / f"{name}.csv"
        write_csv(tables[name], path, durable=False)
        written.append(path)
    return written


def validate_and_write(
    raw_dir: str | Path,
    out_dir: str | Path,
    names: Iterable[str] = RAW_TABLES,
    schema_dir: str | Path | None = None,
) -> list[Path]:
    """Validate ``names`` (plus the tables they join) and write their processed tables.

    Raises :class:`~evsynth.errors.DataValidationError` with every problem before anything is
    written.
    """
    names = list(names)
    validated = validate_tables(raw_dir, names, schema_dir)
    joined = [
        name
        for name, table in validated.items()
        if any(fk["table"] == "studies" for fk in table.schema.foreign_keys)
    ]
    processed = harmonise(typed_tables(validated), joined)
    return write_processed(processed, out_dir, names)
