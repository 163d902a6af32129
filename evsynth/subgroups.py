"""Subgroup analysis and the test for subgroup differences.

Each subgroup is pooled on its own (one batch through :func:`evsynth.pooling.pool_batch`).
The test for subgroup differences:

* ``tau2="separate"`` (default; RevMan 5): each subgroup has its own tau²; the subgroup
  estimates are compared with a fixed-effect Q, Q_between = Σ_g (θ̂_g − θ̄)²/SE_g² on G − 1 df
  (Borenstein et al. 2009, ch. 19; Cochrane Handbook §10.11.3.1), with I² = 100·max(0,
  (Q − df)/Q) as RevMan prints it.
* ``tau2="common"``: a mixed-effects meta-regression on subgroup indicators with one
  residual tau² (metafor ``rma(yi, vi, mods = ~ factor(group))``); the omnibus test QM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from evsynth.effects import as_float_arrays
from evsynth.errors import AnalysisInputError
from evsynth.pooling import FIELDS, PoolResult, pool, pool_many
from evsynth.regression import meta_regression


@dataclass(frozen=True)
class SubgroupResult:
    """Per-subgroup pooled rows, the overall result and the test for subgroup differences."""

    groups: pd.DataFrame
    overall: PoolResult
    q_between: float
    df: int
    p_value: float
    i2_between: float
    tau2: str


def subgroup_analysis(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    groups: Sequence[object] | np.ndarray,
    method: str = "REML",
    ci_method: str = "z",
    tau2: str = "separate",
    level: float = 0.95,
) -> SubgroupResult:
    """Pool within each subgroup and test whether the subgroup effects differ."""
    if tau2 not in ("separate", "common"):
        raise AnalysisInputError(f"tau2 {tau2!r} is not 'separate' or 'common'")
    arrays = as_float_arrays(None, yi=yi, vi=vi)
    labels = np.asarray(groups, dtype=object)
    if len(labels) != len(arrays["yi"]):
        raise AnalysisInputError("groups must have one label per study")
    if pd.isna(labels).any():
        raise AnalysisInputError("every study needs a subgroup label (found a missing one)")
    frame = pd.DataFrame({"group": labels.astype(str), "yi": arrays["yi"], "vi": arrays["vi"]})
    per_group = pool_many(frame, "group", method=method, ci_method=ci_method, level=level)
    overall = pool(arrays["yi"], arrays["vi"], method, ci_method, level)
    n_groups = len(per_group)
    if n_groups < 2:
        raise AnalysisInputError("a subgroup analysis needs at least two subgroups")

    if tau2 == "separate":
        est = per_group["estimate"].to_numpy()
        w = 1 / per_group["se"].to_numpy() ** 2
        mean = (w * est).sum() / w.sum()
        q = float((w * (est - mean) ** 2).sum())
        df = n_groups - 1
        p = float(stats.chi2.sf(q, df))
    else:
        dummies = pd.get_dummies(frame["group"], drop_first=True, dtype=float)
        reg_method = method if method in ("REML", "ML", "DL", "EE") else "REML"
        model = meta_regression(
            frame["yi"],
            frame["vi"],
            dummies,
            reg_method,
            "hksj" if ci_method != "z" else "z",
            level,
        )
        q, df, p = model.qm, model.qm_df, model.qm_pvalue
    i2 = 100 * max(0.0, (q - df) / q) if q > 0 else 0.0
    return SubgroupResult(per_group[["group", *FIELDS]], overall, q, df, p, i2, tau2)
