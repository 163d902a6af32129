"""Fixed-effect Mantel–Haenszel and Peto methods for 2×2 tables, as metafor's ``rma.mh`` and
``rma.peto``: no continuity correction enters the pooled estimate.

* MH odds ratio (Mantel & Haenszel 1959) with the variance of Robins, Breslow & Greenland
  (1986).
* MH risk ratio (Greenland & Robins 1985, eq. 8 variance; Rothman, Greenland & Lash 2008).
* MH risk difference with the variance of Sato, Greenland & Robins (1989).
* Peto's one-step odds ratio (Yusuf et al. 1985): Σ(O − E)/ΣV, variance 1/ΣV.

The heterogeneity test follows metafor: for MH, Q = Σ (yᵢ − θ̂_MH)²/vᵢ with each study's
escalc effect (0.5 added to the cells of tables with a zero cell); for Peto, Q = Σ(O − E)²/V −
(Σ(O − E))²/ΣV. I² = 100·max(0, (Q − df)/Q), H² = Q/df.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from evsynth.errors import AnalysisInputError, NotEstimableError
from evsynth.meta.effects import binary_effects

ArrayLike = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class FixedEffectResult:
    """A fixed-effect pooled estimate (log scale for RR and OR) with its heterogeneity test."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    q: float
    q_df: int
    q_pvalue: float
    i2: float
    h2: float
    k: int
    measure: str
    method: str


def _tables(ai: ArrayLike, n1i: ArrayLike, ci: ArrayLike, n2i: ArrayLike) -> tuple[np.ndarray, ...]:
    # binary_effects validates the counts (non-negative, events <= n, equal lengths).
    binary_effects(ai, n1i, ci, n2i, "RD", to="none")
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (ai, n1i, ci, n2i))
    return a, n1 - a, c, n2 - c, n1, n2, n1 + n2


def _result(
    estimate: float,
    variance: float,
    q: float,
    q_df: int,
    k: int,
    measure: str,
    method: str,
    level: float,
) -> FixedEffectResult:
    if not (np.isfinite(estimate) and np.isfinite(variance) and variance > 0):
        raise NotEstimableError(
            f"{method} {measure}: the tables carry no information (no events in any study?)"
        )
    se = float(np.sqrt(variance))
    z = stats.norm.ppf(0.5 + level / 2)
    statistic = estimate / se
    q_p = float(stats.chi2.sf(q, q_df)) if q_df > 0 else 1.0
    i2 = 100 * max(0.0, (q - q_df) / q) if q_df > 0 and q > 0 else 0.0
    h2 = q / q_df if q_df > 0 else 1.0
    return FixedEffectResult(
        estimate=float(estimate),
        se=se,
        ci_low=float(estimate - z * se),
        ci_high=float(estimate + z * se),
        statistic=float(statistic),
        p_value=float(2 * stats.norm.sf(abs(statistic))),
        q=float(q),
        q_df=int(q_df),
        q_pvalue=q_p,
        i2=float(i2),
        h2=float(h2),
        k=k,
        measure=measure,
        method=method,
    )


def mantel_haenszel(
    ai: ArrayLike,
    n1i: ArrayLike,
    ci: ArrayLike,
    n2i: ArrayLike,
    measure: str = "RR",
    level: float = 0.95,
) -> FixedEffectResult:
    """Mantel–Haenszel pooled RR, OR or RD (metafor ``rma.mh``)."""
    if measure not in ("RR", "OR", "RD"):
        raise AnalysisInputError(f"Mantel-Haenszel measure {measure!r} is not RR, OR or RD")
    a, b, c, d, n1, n2, n = _tables(ai, n1i, ci, n2i)
    # An arm with no events (or no non-events) in every study makes R or S zero: the
    # estimate is then ±inf/NaN and _result raises an AnalysisInputError.
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "OR":
            r, s = a * d / n, b * c / n
            p, q_ = (a + d) / n, (b + c) / n
            R, S = r.sum(), s.sum()
            estimate = np.log(R / S)
            variance = (
                (p * r).sum() / (2 * R**2)
                + (p * s + q_ * r).sum() / (2 * R * S)
                + (q_ * s).sum() / (2 * S**2)
            )
        elif measure == "RR":
            R, S = (a * n2 / n).sum(), (c * n1 / n).sum()
            estimate = np.log(R / S)
            variance = ((n1 * n2 * (a + c) - a * c * n) / n**2).sum() / (R * S)
        else:
            w = (n1 * n2 / n).sum()
            estimate = ((a * n2 - c * n1) / n).sum() / w
            p_term = ((n1**2 * c - n2**2 * a + n1 * n2 * (n2 - n1) / 2) / n**2).sum()
            q_term = ((a * (n2 - c) + c * (n1 - a)) / (2 * n)).sum()
            variance = (estimate * p_term + q_term) / w**2

    # metafor's rma.mh computes Q from escalc values with drop00=TRUE (its default there).
    yi, vi = binary_effects(ai, n1i, ci, n2i, measure, drop00=True)
    usable = np.isfinite(yi) & np.isfinite(vi) & (vi > 0)
    with np.errstate(invalid="ignore"):
        q = float(((yi[usable] - estimate) ** 2 / vi[usable]).sum())
    return _result(
        float(estimate), float(variance), q, int(usable.sum()) - 1, len(a), measure, "MH", level
    )


def peto(
    ai: ArrayLike, n1i: ArrayLike, ci: ArrayLike, n2i: ArrayLike, level: float = 0.95
) -> FixedEffectResult:
    """Peto's one-step odds ratio (metafor ``rma.peto``); log scale."""
    a, _b, c, _d, n1, n2, n = _tables(ai, n1i, ci, n2i)
    events = a + c
    expected = n1 * events / n
    with np.errstate(invalid="ignore", divide="ignore"):
        variance_i = n1 * n2 * events * (n - events) / (n**2 * (n - 1))
    informative = variance_i > 0
    if not informative.any():
        raise NotEstimableError(
            "Peto OR: the tables carry no information (no events, or only events, in every study)"
        )
    o_e = (a - expected)[informative]
    v = variance_i[informative]
    estimate = o_e.sum() / v.sum()
    q = float((o_e**2 / v).sum() - o_e.sum() ** 2 / v.sum())
    return _result(
        float(estimate),
        float(1 / v.sum()),
        q,
        int(informative.sum()) - 1,
        len(a),
        "OR",
        "Peto",
        level,
    )
