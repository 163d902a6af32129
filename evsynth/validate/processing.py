"""Harmonised tables for ``data/processed/``: typed columns, joined tables, derived columns,
provenance keys.

* Every processed row has ``row_id`` = ``<raw file>:<editor line>``, e.g. ``trials.csv:14``,
  so each pooled number can be traced to the raw rows behind it.
* A table with a foreign key into another table (an outcome table into a study table) carries
  the referenced row's columns on every row (a many-to-one left join on the key). Columns of the
  referenced table whose names the table also has get the referenced table's name as a prefix
  (``studies_row_id``, ``studies_quote``).
* The review's derived columns (:mod:`evsynth.validate.derive`) are added to every table that
  holds their inputs, after the joins.

The functions that compute are pure (DataFrames in, DataFrames out); :func:`write_processed`
and :func:`validate_and_write` do the file I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from evsynth.io.safe_io import write_csv
from evsynth.validate.derive import add_derived
from evsynth.validate.tables import RawTable, validate_tables


def with_row_id(frame: pd.DataFrame, file_name: str) -> pd.DataFrame:
    """Put ``row_id`` = ``<file_name>:<line>`` first; ``frame`` is indexed by editor line."""
    out = frame.copy()
    out.insert(0, "row_id", [f"{file_name}:{int(line)}" for line in frame.index])
    return out.reset_index(drop=True)


def join_table(
    frame: pd.DataFrame,
    other: pd.DataFrame,
    columns: list[str],
    ref_columns: list[str],
    prefix: str,
) -> pd.DataFrame:
    """Copy each row's matching ``other`` row onto it (left join of ``columns`` on
    ``ref_columns``, many to one). Columns of ``other`` that ``frame`` has too get ``prefix``.
    The rows keep their order; validation has already checked that every key exists."""
    key = dict(zip(ref_columns, columns, strict=True))
    renames = {
        c: key.get(c, f"{prefix}_{c}") for c in other.columns if c in key or c in frame.columns
    }
    joined = frame.merge(
        other.rename(columns=renames), on=columns, how="left", validate="many_to_one"
    )
    return joined.reset_index(drop=True)


def harmonise(
    tables: Mapping[str, RawTable], typed: Mapping[str, pd.DataFrame], derived: Mapping[str, Any]
) -> dict[str, pd.DataFrame]:
    """Processed tables from validated tables (``typed``: their typed frames with ``row_id``),
    in the order given (referenced tables before the tables that join them)."""
    out: dict[str, pd.DataFrame] = {}
    for name, frame in typed.items():
        result = add_derived(frame, derived)
        for fk in tables[name].schema.foreign_keys:
            target = fk["table"]
            if target not in out:
                continue
            columns = list(fk["columns"])
            result = join_table(
                result, out[target], columns, list(fk.get("ref_columns", columns)), target
            )
        out[name] = add_derived(result, derived)
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
    names: Iterable[str],
    schema_dir: str | Path,
    derived: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Validate ``names`` (plus the tables they join) and write their processed tables.

    Raises :class:`~evsynth.errors.DataValidationError` with every problem before anything is
    written.
    """
    names = list(names)
    validated = validate_tables(raw_dir, names, schema_dir)
    processed = harmonise(validated, typed_tables(validated), derived or {})
    return write_processed(processed, out_dir, names)
