"""Leave-one-out and cumulative meta-analysis (metafor ``leave1out`` and ``cumul``).

Both are one batch for :func:`evsynth.meta.pooling.pool_many`, not a loop of ``pool`` calls: the
sub-analyses are stacked into a long table in which each sub-analysis is one group.

* Leave-one-out (Viechtbauer & Cheung 2010, §3.4; metafor ``leave1out``): row i pools the
  k − 1 studies other than study i, in input order.
* Cumulative (Lau et al. 1992; metafor ``cumul``): the studies are sorted by ``order``
  (a stable sort, so ties keep their input order) and row i pools the first i studies.

Every row carries the :class:`evsynth.meta.pooling.PoolResult` fields (estimate, se, ci_low,
ci_high, statistic, p_value, q, q_pvalue, tau2, i2, h2, k, ...) after ``label``: the study
left out, or the study added.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evsynth.errors import AnalysisInputError
from evsynth.meta.effects import as_float_arrays
from evsynth.meta.pooling import FIELDS, pool_many

COLUMNS = ["label", *FIELDS]


def _inputs(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    labels: Sequence[object] | None,
    what: str,
    minimum: int,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    arrays = as_float_arrays(None, yi=yi, vi=vi)
    y, v = arrays["yi"], arrays["vi"]
    k = len(y)
    if k < minimum:
        raise AnalysisInputError(f"{what} needs at least {minimum} studies (got {k})")
    for name, values in (("yi", y), ("vi", v)):
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise AnalysisInputError(
                f"{what}: {name}[{bad[0]}] is {values[bad[0]]}, not a finite number"
            )
    if (v <= 0).any():
        i = int(np.flatnonzero(v <= 0)[0])
        raise AnalysisInputError(f"{what}: vi[{i}] = {v[i]} is not positive")
    if labels is None:
        names = [str(i + 1) for i in range(k)]
    else:
        if len(labels) != k:
            raise AnalysisInputError(f"{what}: labels has {len(labels)} entries for {k} studies")
        names = [str(x) for x in labels]
    return y, v, names


def _pool_sets(
    y: np.ndarray,
    v: np.ndarray,
    members: np.ndarray,
    labels: list[str],
    method: str,
    ci_method: str,
    level: float,
) -> pd.DataFrame:
    """Pool each row of the boolean matrix ``members`` (set × study) as one group."""
    set_id, study = np.nonzero(members)
    long = pd.DataFrame({"set": set_id, "yi": y[study], "vi": v[study]})
    pooled = pool_many(long, "set", method=method, ci_method=ci_method, level=level)
    pooled = pooled.sort_values("set").reset_index(drop=True)
    frame = pooled[FIELDS].copy()
    frame.insert(0, "label", labels)
    return frame


def leave_one_out(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    labels: Sequence[object] | None = None,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per omitted study, in input order (``label`` names the study left out).

    Row i equals ``pool`` on the data without study i (metafor ``leave1out``)."""
    y, v, names = _inputs(yi, vi, labels, "leave-one-out", 2)
    members = ~np.eye(len(y), dtype=bool)
    return _pool_sets(y, v, members, names, method, ci_method, level)


def cumulative(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    order: Sequence[float] | np.ndarray | None = None,
    labels: Sequence[object] | None = None,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per added study, sorted by ``order`` (stable; e.g. publication year; ``None``
    keeps the input order). Row i pools the first i studies (metafor ``cumul``)."""
    y, v, names = _inputs(yi, vi, labels, "cumulative meta-analysis", 1)
    k = len(y)
    if order is None:
        sequence = np.arange(k)
    else:
        key = np.asarray(order)
        if len(key) != k:
            raise AnalysisInputError(
                f"cumulative meta-analysis: order has {len(key)} entries for {k} studies"
            )
        if pd.isna(key).any():
            raise AnalysisInputError("cumulative meta-analysis: order has missing values")
        sequence = np.argsort(key, kind="stable")
    members = np.tri(k, dtype=bool)
    return _pool_sets(
        y[sequence], v[sequence], members, [names[i] for i in sequence], method, ci_method, level
    )
