"""Heterogeneity: Cochran's Q, I², H² and a Q-profile confidence interval for tau².

Definitions as metafor (Viechtbauer 2010; Higgins & Thompson 2002):

* Q = Σ wᵢ(yᵢ − μ̂)² with fixed-effect weights wᵢ = 1/vᵢ, on k − 1 df.
* Random-effects models: I² = 100·tau²/(tau² + s²) and H² = (tau² + s²)/s² with the "typical"
  within-study variance s² = (k − 1)Σw / ((Σw)² − Σw²) (Higgins & Thompson 2002, eq. 9).
* Equal-effects model: I² = 100·max(0, (Q − (k − 1))/Q), H² = Q/(k − 1).
* Q-profile interval (Viechtbauer 2007): the tau² values at which the generalised
  Q(tau²) = Σ (yᵢ − μ̂(tau²))²/(vᵢ + tau²) equals the χ²(k − 1) quantiles 1 − α/2 (lower bound)
  and α/2 (upper bound); a bound is 0 when Q(0) is already below its quantile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import special, stats

from evsynth.errors import AnalysisInputError
from evsynth.meta.batch import Batch, by_rows
from evsynth.meta.effects import as_float_arrays
from evsynth.meta.tau2 import (
    METHODS,
    estimate_tau2,
    fixed_weight_sums,
    generalised_q,
    solve_generalised_q,
)


class Tau2Interval(NamedTuple):
    """Confidence interval for tau²."""

    low: float
    high: float


def q_statistic(batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cochran's Q, its df (k − 1) and p value per analysis (p = 1 when k = 1)."""
    k = batch.k
    q = generalised_q(batch, np.zeros(len(k)))
    q_df = k - 1
    with np.errstate(invalid="ignore"):
        # χ² tail: scipy.stats.chi2.sf is special.chdtrc; called directly, it splits over threads
        p = np.where(q_df > 0, by_rows(special.chdtrc, np.maximum(q_df, 1), q), 1.0)
    return q, q_df, p


def i2_h2(
    batch: Batch, tau2: np.ndarray, q: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """I² (percent) and H² per analysis; I² = 0 and H² = 1 when k = 1."""
    k = batch.k
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "EE":
            i2 = 100 * np.maximum(0.0, (q - (k - 1)) / q)
            h2 = q / (k - 1)
        else:
            sw, sw2 = fixed_weight_sums(batch)
            s2 = (k - 1) * sw / (sw**2 - sw2)
            i2 = 100 * tau2 / (tau2 + s2)
            h2 = (tau2 + s2) / s2
    single = k <= 1
    i2 = np.where(single, 0.0, np.where(np.isfinite(i2), i2, 0.0))
    h2 = np.where(single, 1.0, np.where(np.isfinite(h2), h2, 1.0))
    return i2, h2


def tau2_ci(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    method: str = "REML",
    level: float = 0.95,
) -> Tau2Interval:
    """Q-profile confidence interval for tau² (Viechtbauer 2007, eqs. 6–7), as metafor's
    ``confint.rma.uni``.

    The bounds solve Q(tau²) = χ²(k − 1) quantiles and do not depend on the point estimator,
    except through metafor's search range [0, tau²_max] with tau²_max = max(100, 10·taû²)
    (taû² by ``method``): a bound beyond the range is reported as tau²_max, a bound below 0
    as 0 (both bounds are 0 when Q(0) is below the upper χ² quantile).
    """
    if method not in METHODS:
        raise AnalysisInputError(f"tau2_ci: method {method!r} is not one of {METHODS}")
    if not 0 < level < 1:
        raise AnalysisInputError(f"tau2_ci: level {level!r} must lie between 0 and 1")
    arrays = as_float_arrays(None, yi=yi, vi=vi)
    y, v = arrays["yi"], arrays["vi"]
    if len(y) < 2:
        raise AnalysisInputError("tau2_ci needs at least two studies")
    if not (np.isfinite(y).all() and np.isfinite(v).all() and (v > 0).all()):
        raise AnalysisInputError("tau2_ci: yi and vi must be finite and vi positive")
    batch = Batch.single(y, v)
    tau2_max = max(100.0, 10.0 * float(estimate_tau2(batch, method).tau2[0]))
    df = len(y) - 1
    alpha = 1 - level
    targets = np.array([stats.chi2.ppf(1 - alpha / 2, df), stats.chi2.ppf(alpha / 2, df)])
    two = Batch(
        np.repeat(batch.y, 2, axis=0),
        np.repeat(batch.v, 2, axis=0),
        np.repeat(batch.mask, 2, axis=0),
    )
    low, high = np.minimum(solve_generalised_q(two, targets), tau2_max)
    return Tau2Interval(float(low), float(high))
