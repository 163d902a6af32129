"""Derived columns from a small fixed vocabulary (``derived:`` in a review's config).

A reviewer never types a computed value into ``data/raw/``: the validate stage derives it,
under a name the review chooses, with one of these operations (no ``eval``):

* ``sum: [a, b, …]``, ``product: [a, b, …]`` — optionally with a constant factor
  ``times: c`` or ``divide_by: c`` (e.g. dose × administrations per year / 365);
* ``ratio: [a, b]`` = a / b; ``difference: [a, b]`` = a − b;
* ``column: a`` with ``times`` or ``divide_by``: a constant factor (a change of unit);
* ``greater: [a, b]``: the boolean a > b;
* ``equals: {column: a, value: v}``: the boolean a == v;
* ``cut: a`` with ``breaks: [b1, …]`` and ``labels``: labelled bands, left-closed
  ([b_i, b_{i+1})), from the unrounded value (e.g. < 800 and ≥ 800).

A result is unknown (blank) whenever an input is; nothing is imputed. Division by zero gives a
blank, never infinity.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from evsynth.validate.config import derived_inputs, derived_order


def _numbers(frame: pd.DataFrame, columns: list[str]) -> list[np.ndarray]:
    return [pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float) for c in columns]


def _factor(values: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    if "times" in spec:
        values = values * float(spec["times"])
    if "divide_by" in spec:
        values = values / float(spec["divide_by"])
    return values


def _boolean(known: np.ndarray, values: np.ndarray, index: pd.Index) -> pd.Series:
    data = [bool(v) if k else pd.NA for v, k in zip(values, known, strict=True)]
    return pd.Series(pd.array(data, dtype="boolean"), index=index)


def _cut(values: np.ndarray, spec: Mapping[str, Any], index: pd.Index) -> pd.Series:
    breaks, labels = [float(b) for b in spec["breaks"]], list(spec["labels"])
    out = [None if np.isnan(v) else labels[bisect.bisect_right(breaks, v)] for v in values.tolist()]
    return pd.Series(out, index=index, dtype=object)


def derive_column(frame: pd.DataFrame, spec: Mapping[str, Any]) -> pd.Series:
    """One derived column of ``frame`` (see the module docstring for the operations)."""
    index = frame.index
    if "sum" in spec or "product" in spec:
        columns = list(spec.get("sum") or spec.get("product") or [])
        arrays = _numbers(frame, columns)
        values = np.sum(arrays, axis=0) if "sum" in spec else np.prod(arrays, axis=0)
        return pd.Series(_factor(values, spec), index=index)
    if "column" in spec:
        return pd.Series(_factor(_numbers(frame, [spec["column"]])[0], spec), index=index)
    if "ratio" in spec or "difference" in spec:
        a, b = _numbers(frame, list(spec.get("ratio") or spec.get("difference") or []))
        with np.errstate(divide="ignore", invalid="ignore"):
            values = a / b if "ratio" in spec else a - b
        return pd.Series(np.where(np.isfinite(values), values, np.nan), index=index)
    if "greater" in spec:
        a, b = _numbers(frame, list(spec["greater"]))
        known = ~(np.isnan(a) | np.isnan(b))
        return _boolean(known, np.greater(a, b, where=known, out=np.zeros_like(known)), index)
    if "equals" in spec:
        column, value = spec["equals"]["column"], spec["equals"]["value"]
        cells = frame[column]
        known = cells.notna().to_numpy()
        same = np.array([str(c).lower() == str(value).lower() for c in cells], dtype=bool)
        return _boolean(known, same, index)
    return _cut(_numbers(frame, [spec["cut"]])[0], spec, index)


def add_derived(frame: pd.DataFrame, derived: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """``frame`` with every derived column whose inputs it holds (derived columns may read
    earlier ones), in dependency order; the others are left for a table that holds them."""
    out = frame.copy()
    for name in derived_order(derived):
        spec = derived[name]
        if name not in out.columns and set(derived_inputs(spec)) <= set(out.columns):
            out[name] = derive_column(out, spec)
    return out
