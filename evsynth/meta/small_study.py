"""Small-study effects: Egger's regression test, funnel-plot data and trim-and-fill.

* :func:`egger_test`: metafor's ``regtest`` default (Egger et al. 1997 in the random-effects
  form of Sterne & Egger 2005): a mixed-effects meta-regression of yᵢ on SEᵢ by REML; the
  z test of the SE coefficient. The intercept is the "limit estimate" as SE → 0.
* :func:`funnel_data`: points and pseudo 95% confidence limits θ̂ ± 1.96·SE (Sterne et al.
  2011, BMJ 343:d4002).
* :func:`trim_and_fill`: Duval & Tweedie (2000) with the L0 (default), R0 or Q0 estimator, as
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

from evsynth.errors import AnalysisInputError
from evsynth.meta.effects import as_float_arrays
from evsynth.meta.pooling import PoolResult, pool
from evsynth.meta.regression import REGRESSION_METHODS, meta_regression


@dataclass(frozen=True)
class EggerResult:
    """Egger's regression test (metafor ``regtest`` default).

    ``statistic``: z of the SE coefficient (metafor ``zval``); ``p_value``: its two-sided p;
    ``df``: NaN (a z test; metafor ``dfs`` is NULL); ``slope``: the SE coefficient;
    ``intercept`` with ``intercept_ci_low``/``intercept_ci_high``: the limit estimate as
    SE → 0 and its CI (metafor ``est``, ``ci.lb``, ``ci.ub``); ``k``: studies;
    ``tau2``: residual tau² of the regression."""

    statistic: float
    p_value: float
    df: float
    slope: float
    intercept: float
    intercept_ci_low: float
    intercept_ci_high: float
    tau2: float
    k: int


@dataclass(frozen=True)
class TrimFillResult:
    """Trim-and-fill (metafor ``trimfill``).

    ``k0``: studies filled; ``se_k0``: its standard error (Duval & Tweedie 2000);
    ``side``: "left"/"right", the side the missing studies are imputed on; ``estimator``;
    ``filled_yi``/``filled_vi``: the imputed studies only (on the input scale); ``pooled``:
    the :class:`evsynth.meta.pooling.PoolResult` of observed + filled studies (``pooled.k``
    counts both). With k0 = 0 ``pooled`` is the analysis of the observed studies."""

    k0: int
    se_k0: float
    side: str
    estimator: str
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
    """Regression test for funnel-plot asymmetry: metafor ``regtest(rma(yi, vi))``, i.e.
    model="rma", predictor="sei": yᵢ = β₀ + β₁·SEᵢ + uᵢ + εᵢ fitted by
    :func:`evsynth.meta.regression.meta_regression` (REML), z = β̂₁/SE(β̂₁) (Egger et al. 1997;
    Sterne & Egger 2005). Needs k ≥ 3."""
    y, v = _inputs(yi, vi, "Egger's test")
    fit = meta_regression(
        y, v, np.sqrt(v), method=method, ci_method="z", names=["intercept", "sei"]
    )
    return EggerResult(
        statistic=float(fit.statistic[1]),
        p_value=float(fit.p_value[1]),
        df=float("nan"),
        slope=float(fit.coef[1]),
        intercept=float(fit.coef[0]),
        intercept_ci_low=float(fit.ci_low[0]),
        intercept_ci_high=float(fit.ci_high[0]),
        tau2=fit.tau2,
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


def _k0(centred: np.ndarray, estimator: str) -> tuple[int, float]:
    """Duval & Tweedie (2000) estimators of the number of missing studies and their SE, from
    the signed ranks of |yᵢ − θ̂| (ties broken by position, R's ``ties.method="first"``):
    L0 = (4·Sᵣ − k(k + 1))/(2k − 1), R0 = γ* − 1 (γ* the rightmost run of positive ranks),
    Q0 = k − 1/2 − √(2k² − 4·Sᵣ + 1/4); rounded half to even and kept ≥ 0 (as R)."""
    k = len(centred)
    ranks = stats.rankdata(np.abs(centred), method="ordinal")
    signed = np.sign(centred) * ranks
    s_r = float(signed[signed > 0].sum())
    if estimator == "R0":
        negatives = signed[signed < 0]
        value = k - (np.max(-negatives) if len(negatives) else 0) - 1.0
        se = np.sqrt(2 * max(0.0, value) + 2)
    else:
        if estimator == "L0":
            value = (4 * s_r - k * (k + 1)) / (2 * k - 1)
        else:
            value = k - 0.5 - np.sqrt(2 * k**2 - 4 * s_r + 0.25)
        var_sr = (
            k * (k + 1) * (2 * k + 1)
            + 10 * value**3
            + 27 * value**2
            + 17 * value
            - 18 * k * value**2
            - 18 * k * value
            + 6 * k**2 * value
        ) / 24
        if estimator == "L0":
            se = 4 * np.sqrt(max(var_sr, 0.0)) / (2 * k - 1)
        else:
            se = (
                2
                * np.sqrt(max(var_sr, 0.0))
                / np.sqrt((k - 0.5) ** 2 - value * (2 * k - value - 1))
            )
    return int(max(0, np.round(value))), float(max(0.0, se))


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
    """Trim-and-fill analysis (Duval & Tweedie 2000) as metafor's ``trimfill``.

    ``side=None``: the missing studies are on the left unless the Egger-type slope of yᵢ on
    SEᵢ (a meta-regression with ``method``) is negative, then on the right (metafor). The
    studies are sorted (mirrored first for the right side); repeatedly the k − k0 least
    extreme are pooled with ``method``, k0 re-estimated from the ranks of the centred values,
    until k0 repeats; the k0 most extreme studies are mirrored about the last centre. The
    filled data are pooled with ``method``, ``ci_method`` and ``level`` (metafor refits
    with its default z test). Raises :class:`AnalysisInputError` if k0 does not settle in
    ``max_iter`` iterations."""
    if estimator not in ("L0", "R0", "Q0"):
        raise AnalysisInputError(f"estimator {estimator!r} is not L0, R0 or Q0")
    y, v = _inputs(yi, vi, "trim-and-fill")
    if side is None:
        if method not in REGRESSION_METHODS:
            raise AnalysisInputError(
                f"trim-and-fill chooses the side by a meta-regression, which supports "
                f"{REGRESSION_METHODS}, not {method!r}: pass side='left' or 'right'"
            )
        slope = meta_regression(y, v, np.sqrt(v), method=method).coef[1]
        side = "right" if slope < 0 else "left"
    if side not in ("left", "right"):
        raise AnalysisInputError(f"side {side!r} is not left or right")
    flip = -1.0 if side == "right" else 1.0
    order = np.argsort(flip * y, kind="stable")
    ys, vs = flip * y[order], v[order]
    k = len(ys)
    k0, se_k0 = 0, float("nan")
    centre = 0.0
    for _ in range(max_iter):
        previous = k0
        centre = pool(ys[: k - k0], vs[: k - k0], method).estimate
        k0, se_k0 = _k0(ys - centre, estimator)
        k0 = min(k0, k - 1)
        if k0 == previous:
            break
    else:
        raise AnalysisInputError(f"trim-and-fill: k0 did not settle in {max_iter} iterations")
    if k0 > 0:
        filled_y = flip * (2 * centre - ys[k - k0 :])
        filled_v = vs[k - k0 :]
    else:
        filled_y, filled_v = np.array([]), np.array([])
    all_y = np.concatenate([y, filled_y])
    all_v = np.concatenate([v, filled_v])
    pooled = pool(all_y, all_v, method, ci_method, level)
    return TrimFillResult(k0, se_k0, side, estimator, filled_y, filled_v, pooled)
