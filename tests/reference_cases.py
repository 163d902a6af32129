"""Load the metafor reference fixtures in ``tests/reference/*.json``.

The fixtures are written by ``tests/reference/make_reference.R``; each case holds its inputs
and the expected values, so no R is needed at test time. JSON ``null`` (metafor NA/NaN)
is returned as ``None`` and converted to NaN by :func:`as_float`.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REFERENCE_DIR = Path(__file__).parent / "reference"


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed fixture ``tests/reference/<name>.json``."""
    with open(REFERENCE_DIR / f"{name}.json", encoding="utf-8") as fh:
        return json.load(fh)


def params(name: str, prefix: str | None = None) -> list[Any]:
    """One ``pytest.param`` per case, with id ``"<prefix>-<case id>"``."""
    prefix = prefix or name
    return [pytest.param(case, id=f"{prefix}-{case['id']}") for case in load(name)["cases"]]


def as_float(value: Any) -> float:
    return math.nan if value is None else float(value)


def as_array(value: Any) -> np.ndarray:
    """A 1-D float array; fixtures write length-1 vectors as scalars and NaN as null."""
    arr = np.atleast_1d(np.asarray(value, dtype=object))
    return np.array([as_float(v) for v in arr], dtype=float)
