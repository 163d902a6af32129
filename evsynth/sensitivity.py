"""Leave-one-out and cumulative meta-analysis (metafor ``leave1out`` and ``cumul``).

Both are built as one batch of sub-analyses and pooled together by
:func:`evsynth.pooling.pool_batch`: row i of leave-one-out omits study i; row i of the
cumulative analysis pools the first i studies in the given order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evsynth.effects import as_float_arrays
from evsynth.errors import AnalysisInputError
from evsynth.pooling import FIELDS, pool_batch
from evsynth.tau2 import Batch

COLUMNS = ["label", *FIELDS]


def _labels(labels: Sequence[str] | None, k: int) -> list[str]:
    if labels is None:
        return [str(i + 1) for i in range(k)]
    if len(labels) != k:
        raise AnalysisInputError(f"labels has {len(labels)} entries for {k} studies")
    return [str(x) for x in labels]


def _frame(out: dict[str, np.ndarray], labels: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({key: out[key] for key in FIELDS})
    frame.insert(0, "label", labels)
    return frame


def leave_one_out(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    labels: Sequence[str] | None = None,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per omitted study (``label`` names the study left out)."""
    arrays = as_float_arrays(None, yi=yi, vi=vi)
    y, v = arrays["yi"], arrays["vi"]
    k = len(y)
    if k < 2:
        raise AnalysisInputError("leave-one-out needs at least two studies")
    keep = ~np.eye(k, dtype=bool)
    index = np.array([np.flatnonzero(row) for row in keep])
    batch = Batch(y[index], v[index], np.ones((k, k - 1), dtype=bool))
    return _frame(pool_batch(batch, method, ci_method, level), _labels(labels, k))


def cumulative(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    order: Sequence[float] | np.ndarray | None = None,
    labels: Sequence[str] | None = None,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per added study, in ``order`` (stable; e.g. publication year)."""
    arrays = as_float_arrays(None, yi=yi, vi=vi)
    y, v = arrays["yi"], arrays["vi"]
    k = len(y)
    names = _labels(labels, k)
    sequence = (
        np.argsort(np.asarray(order, dtype=float), kind="stable")
        if order is not None
        else np.arange(k)
    )
    y, v = y[sequence], v[sequence]
    mask = np.tri(k, dtype=bool)
    batch = Batch(np.where(mask, y, 0.0), np.where(mask, v, 1.0), mask)
    return _frame(pool_batch(batch, method, ci_method, level), [names[i] for i in sequence])
