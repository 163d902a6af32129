"""File output that is atomic, deterministic and safe to open in a spreadsheet.

* Every file is written to a temporary file in the destination directory and moved into place
  with :func:`os.replace`, so a reader (or a crashed run) never sees half a file.
* CSV output is deterministic: the frame's column order, ``\\n`` line endings, UTF-8, floats
  written as Python's ``repr`` (the shortest text that reads back as the same double),
  integers as integers, booleans as ``true``/``false``, missing values as blank cells.
* CSV-injection neutralisation (OWASP): a *text* cell starting with ``=``, ``+``, ``-``,
  ``@``, tab or carriage return would be run as a formula by a spreadsheet, so it gets a
  leading apostrophe. A text cell that already starts with an apostrophe gets one too, which
  makes the change reversible (:func:`restore_text` drops exactly one). Numeric cells are
  never touched, so ``-0.5`` stays a number.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # imported where a table is read: the report and gallery need no pandas
    import pandas as pd

#: First characters that make a spreadsheet treat a text cell as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.[0-9]*([eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+|inf|nan)")


def write_bytes_atomic(path: str | Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and ``os.replace``.

    A reader sees the old file or the new one, never a part. ``durable`` also flushes the data
    to disk before the replace (``fsync``), so that the new file survives a crash of the
    machine as well. That can wait seconds for the file system's journal; outputs the
    workflow can regenerate (processed tables, analyses, manifests) are written without it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text_atomic(
    path: str | Path, text: str, encoding: str = "utf-8", *, durable: bool = True
) -> None:
    """Write ``text`` (line endings as given) atomically; see :func:`write_bytes_atomic`."""
    write_bytes_atomic(path, text.encode(encoding), durable=durable)


def neutralise_text(value: str) -> str:
    """Prefix an apostrophe to a text cell a spreadsheet would run as a formula."""
    if value.startswith((*FORMULA_TRIGGERS, "'")):
        return "'" + value
    return value


def restore_text(value: str) -> str:
    """Undo :func:`neutralise_text`."""
    if value.startswith("'") and value[1:].startswith((*FORMULA_TRIGGERS, "'")):
        return value[1:]
    return value


def parse_json(text: str | bytes) -> Any:
    """``json.loads(text)`` with the cyclic garbage collector paused, and the parsed objects
    then moved out of its reach (``gc.freeze``). A parsed JSON tree holds no reference cycles,
    yet the collector's passes over its millions of new objects (a results file of 10,000
    analyses) cost more than the parse; the results a stage reads live until it ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return json.loads(text)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _pandas_missing(value: Any) -> bool:
    """``pd.NA`` or ``pd.NaT`` (only possible once pandas has been imported)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and (value is pandas.NA or value is pandas.NaT)


def format_cell(value: Any) -> str:
    """The deterministic CSV text of one cell (text cells neutralised)."""
    if value is None or _pandas_missing(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return "" if math.isnan(number) else repr(number)
    if isinstance(value, str):
        return neutralise_text(value)
    return neutralise_text(str(value))


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as deterministic CSV text (header + rows, ``\\n`` line endings, no index)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([str(c) for c in frame.columns])
    columns = [_formatted(frame[c].tolist()) for c in frame.columns]
    writer.writerows(zip(*columns, strict=True))
    return buffer.getvalue()


def _formatted(values: list[Any]) -> list[str]:
    """:func:`format_cell` of every value, each distinct (type, value) formatted once (text
    columns repeat a trial's source and quote on every outcome row)."""
    memo: dict[tuple[type, Any], str] = {}
    out = []
    for value in values:
        key = (type(value), value)
        try:
            cell = memo[key]
        except KeyError:
            cell = memo[key] = format_cell(value)
        except TypeError:  # unhashable
            cell = format_cell(value)
        out.append(cell)
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, *, durable: bool = True) -> None:
    """Write ``frame`` as deterministic, injection-safe UTF-8 CSV, atomically (see
    :func:`write_bytes_atomic` for ``durable``)."""
    write_text_atomic(path, csv_text(frame), durable=durable)


def _column(values: pd.Series) -> pd.Series:
    """Type one column of processed text: boolean, integer, float or text."""
    import pandas as pd

    present = values.dropna()
    if present.empty:
        return pd.Series([None] * len(values), index=values.index, dtype=object)
    if all(v in ("true", "false") for v in present):
        mapped = values.map({"true": True, "false": False})
        if values.notna().all():
            return mapped.astype(bool)
        return mapped.astype("boolean")
    if all(_INTEGER.fullmatch(v) is not None for v in present):
        return pd.Series(
            pd.array([int(v) if isinstance(v, str) else pd.NA for v in values], "Int64"),
            index=values.index,
        )
    if all(_INTEGER.fullmatch(v) is not None or _FLOAT.fullmatch(v) is not None for v in present):
        return values.map(lambda v: float(v) if isinstance(v, str) else math.nan).astype("float64")
    return values.map(lambda v: restore_text(v) if isinstance(v, str) else None).astype(object)


def read_processed(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_csv` back with its types.

    ``true``/``false`` columns become booleans (``boolean`` when some are blank), whole-number
    columns ``Int64``, other numeric columns ``float64``, text columns ``object`` with ``None``
    for blank cells and the injection apostrophe removed.
    """
    import pandas as pd

    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    raw = raw.astype(object).where(raw != "", None)
    return pd.DataFrame({c: _column(raw[c]) for c in raw.columns}, index=raw.index)
