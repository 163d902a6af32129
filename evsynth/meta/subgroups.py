"""Subgroup analysis and the test for subgroup differences.

Each subgroup is pooled on its own, all in one batch (:func:`evsynth.meta.pooling.pool_many`, one
group per subgroup), and all studies together for the overall result.
The test for subgroup differences:

* ``tau2="separate"`` (default; RevMan 5): each subgroup has its own tau²; the subgroup
  estimates are compared with a fixed-effect Q, Q_between = Σ_g (θ̂_g − θ̄)²/SE_g² on G − 1 df
  (Borenstein et al. 2009, ch. 19; Cochrane Handbook §10.11.3.1), with I² = 100·max(0,
  (Q − df)/Q) as RevMan prints it.
* ``tau2="common"``: a mixed-effects meta-regression on subgroup indicators with one
  residual tau² (metafor ``rma(yi, vi, mods = ~ factor(group))``); the omnibus test QM of
  the G − 1 indicator coefficients: χ²(G − 1) with ``ci_method="z"``, and with "hksj" /
  "hksj_modified" metafor's F(G − 1, k − G) test (``test="knha"``/``"adhoc"``), whose
  statistic is then QM/(G − 1). The per-subgroup rows are the separate pools in both cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from evsynth.errors import AnalysisInputError
from evsynth.meta.effects import as_float_arrays
from evsynth.meta.pooling import FIELDS, PoolResult, pool, pool_many
from evsynth.meta.regression import REGRESSION_METHODS, meta_regression


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
    """Pool within each subgroup and test whether the subgroup effects differ.

    ``groups`` holds one label per study. Returns the per-subgroup rows (``group`` and the
    :class:`evsynth.meta.pooling.PoolResult` fields, groups sorted), the overall pool, Q_between,
    its df and p value, and I²_between = 100·max(0, (Q − df)/Q)."""
    if tau2 not in ("separate", "common"):
        raise AnalysisInputError(f"tau2 {tau2!r} is not 'separate' or 'common'")
    arrays = as_float_arrays(None, yi=yi, vi=vi)
    labels = np.asarray(groups, dtype=object)
    if len(labels) != len(arrays["yi"]):
        raise AnalysisInputError(
            f"groups has {len(labels)} labels for {len(arrays['yi'])} studies (one per study)"
        )
    if pd.isna(labels).any():
        raise AnalysisInputError("every study needs a subgroup label (found a missing one)")
    frame = pd.DataFrame({"group": labels, "yi": arrays["yi"], "vi": arrays["vi"]})
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
        if method not in REGRESSION_METHODS:
            raise AnalysisInputError(
                f"tau2='common' fits a meta-regression, which supports {REGRESSION_METHODS}, "
                f"not method {method!r}; use tau2='separate' or one of those methods"
            )
        dummies = pd.get_dummies(frame["group"], drop_first=True, dtype=float)
        model = meta_regression(frame["yi"], frame["vi"], dummies, method, ci_method, level)
        q, df, p = model.qm, model.qm_df, model.qm_pvalue
    i2 = 100 * max(0.0, (q - df) / q) if q > 0 else 0.0
    return SubgroupResult(per_group[["group", *FIELDS]], overall, q, df, p, i2, tau2)
