"""Small-study effects: Egger's regression test, funnel-plot data and trim-and-fill.

* :func:`egger_test`: metafor's ``regtest`` default (Egger et al. 1997 in the random-effects
  form of Sterne & Egger 2005): a mixed-effects meta-regression of yᵢ on SEᵢ by REML; the
  z test of the SE coefficient. The intercept is the "limit estimate" as SE → 0.
* :func:`funnel_data`: points and pseudo 95% confidence limits θ̂ ± 1.96·SE (Sterne et al.
  2011, BMJ 343:d4002).
* :func:`trim_and_fill`: Duval & Tweedie (2000) with the L0 (default) or R0 estimator, as
  metafor's ``trimfill``: the side of the missing studies is chosen from the sign of the
  Egger slope; the k0 most extreme studies are trimmed, the centre re-estimated until k0 is
  stable, and their mirror images about the centre are filled in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from evsynth.effects import as_float_arrays
from evsynth.errors import AnalysisInputError
from evsynth.pooling import PoolResult, pool
from evsynth.regression import meta_regression


@dataclass(frozen=True)
class EggerResult:
    """Egger's test: z for the SE slope, its p value, and the limit estimate (intercept)."""

    statistic: float
    p_value: float
    slope: float
    limit_estimate: float
    limit_ci_low: float
    limit_ci_high: float
    k: int


@dataclass(frozen=True)
class TrimFillResult:
    """Trim-and-fill: k0 filled studies on ``side`` and the analysis of the filled data."""

    k0: int
    side: str
    filled_yi: np.ndarray
    filled_vi: np.ndarray
    pooled: PoolResult


def _inputs(
    yi: Sequence[float] | np.ndarray, vi: Sequence[float] | np.ndarray, what: str
) -> tuple[np.ndarray, np.ndarray]:
    arrays = as_float_arrays(None, yi=yi, vi=vi)
    y, v = arrays["yi"], arrays["vi"]
    if len(y) < 3:
        raise AnalysisInputError(f"{what} needs at least three studies")
    if not (np.isfinite(y).all() and np.isfinite(v).all() and (v > 0).all()):
        raise AnalysisInputError(f"{what}: yi must be finite and vi positive")
    return y, v


def egger_test(
    yi: Sequence[float] | np.ndarray, vi: Sequence[float] | np.ndarray, method: str = "REML"
) -> EggerResult:
    """Regression test for funnel-plot asymmetry (metafor ``regtest``, predictor = SE)."""
    y, v = _inputs(yi, vi, "Egger's test")
    fit = meta_regression(
        y, v, np.sqrt(v), method=method, ci_method="z", names=["intercept", "sei"]
    )
    return EggerResult(
        statistic=float(fit.statistic[1]),
        p_value=float(fit.p_value[1]),
        slope=float(fit.coef[1]),
        limit_estimate=float(fit.coef[0]),
        limit_ci_low=float(fit.ci_low[0]),
        limit_ci_high=float(fit.ci_high[0]),
        k=fit.k,
    )


def funnel_data(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    estimate: float,
    level: float = 0.95,
) -> pd.DataFrame:
    """Funnel points (yi, se) and the pseudo confidence limits around ``estimate`` at each SE."""
    arrays = as_float_arrays(None, yi=yi, vi=vi)
    se = np.sqrt(arrays["vi"])
    z = stats.norm.ppf(0.5 + level / 2)
    return pd.DataFrame(
        {
            "yi": arrays["yi"],
            "se": se,
            "limit_low": estimate - z * se,
            "limit_high": estimate + z * se,
        }
    )


def _k0(centred: np.ndarray, estimator: str) -> int:
    k = len(centred)
    ranks = stats.rankdata(np.abs(centred), method="ordinal")
    signed = np.sign(centred) * ranks
    if estimator == "L0":
        s_r = signed[signed > 0].sum()
        value = (4 * s_r - k * (k + 1)) / (2 * k - 1)
    else:
        negatives = signed[signed < 0]
        gamma = k - (np.max(-negatives) if len(negatives) else 0)
        value = gamma - 1
    return int(max(0, np.round(value)))


def trim_and_fill(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    method: str = "REML",
    estimator: str = "L0",
    side: str | None = None,
    ci_method: str = "z",
    level: float = 0.95,
    max_iter: int = 100,
) -> TrimFillResult:
    """Trim-and-fill analysis (Duval & Tweedie 2000) as metafor's ``trimfill``."""
    if estimator not in ("L0", "R0"):
        raise AnalysisInputError(f"estimator {estimator!r} is not L0 or R0")
    y, v = _inputs(yi, vi, "trim-and-fill")
    if side is None:
        slope = meta_regression(y, v, np.sqrt(v), method=method).coef[1]
        side = "right" if slope < 0 else "left"
    if side not in ("left", "right"):
        raise AnalysisInputError(f"side {side!r} is not left or right")
    flip = -1.0 if side == "right" else 1.0
    order = np.argsort(flip * y, kind="stable")
    ys, vs = flip * y[order], v[order]
    k = len(ys)
    k0, previous = 0, -1
    centre = 0.0
    for _ in range(max_iter):
        if k0 == previous:
            break
        previous = k0
        centre = pool(ys[: k - k0], vs[: k - k0], method).estimate
        k0 = min(_k0(ys - centre, estimator), k - 1)
    if k0 > 0:
        filled_y = flip * (2 * centre - ys[k - k0 :])
        filled_v = vs[k - k0 :]
    else:
        filled_y, filled_v = np.array([]), np.array([])
    all_y = np.concatenate([y, filled_y])
    all_v = np.concatenate([v, filled_v])
    pooled = pool(all_y, all_v, method, ci_method, level)
    return TrimFillResult(k0, side, filled_y, filled_v, pooled)
