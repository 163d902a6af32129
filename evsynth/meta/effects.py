"""Effect sizes and their sampling variances, with metafor ``escalc`` semantics.

* 2×2 tables: log risk ratio, log odds ratio, risk difference (Higgins et al., Cochrane
  Handbook 2023, §6.4; variances as in metafor's ``escalc``).
* Continuous outcomes: mean difference and standardised mean difference (Hedges' g with the
  exact small-sample correction, Hedges 1981; large-sample variance, metafor ``vtype = "LS"``).
* Generic inverse variance: a published estimate with its confidence interval or standard
  error (ratio measures on the log scale).

Every function returns :class:`EffectSizes`, a named tuple ``(yi, vi)`` of numpy arrays, so
``yi, vi = binary_effects(...)`` works.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import special

from evsynth.errors import AnalysisInputError

ArrayLike = Sequence[float] | np.ndarray

BINARY_MEASURES = ("RR", "OR", "RD")
RATIO_MEASURES = ("RR", "OR", "HR", "IRR")
DIFFERENCE_MEASURES = ("MD", "SMD", "RD")


class EffectSizes(NamedTuple):
    """Per-study effect ``yi`` (log scale for ratios) and sampling variance ``vi``."""

    yi: np.ndarray
    vi: np.ndarray


def _where(name: str | None) -> str:
    return f"analysis {name!r}: " if name else ""


def as_float_arrays(name: str | None, **arrays: ArrayLike) -> dict[str, np.ndarray]:
    """Convert inputs to 1-D float arrays of one length, or raise a clear error."""
    out: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise AnalysisInputError(f"{_where(name)}{key} is not numeric") from None
        out[key] = np.atleast_1d(array)
        if out[key].ndim != 1:
            raise AnalysisInputError(f"{_where(name)}{key} must be one-dimensional")
    lengths = {key: len(a) for key, a in out.items()}
    if len(set(lengths.values())) > 1:
        raise AnalysisInputError(f"{_where(name)}inputs have different lengths: {lengths}")
    return out


def _check_counts(name: str | None, counts: dict[str, np.ndarray]) -> None:
    for key, value in counts.items():
        bad = ~np.isfinite(value) | (value < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AnalysisInputError(
                f"{_where(name)}{key}[{i}] = {value[i]} is not a non-negative count"
            )
    for events, total in (("ai", "n1i"), ("ci", "n2i")):
        over = counts[events] > counts[total]
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise AnalysisInputError(
                f"{_where(name)}{events}[{i}] = {counts[events][i]:g} exceeds "
                f"{total}[{i}] = {counts[total][i]:g}"
            )


def binary_effects(
    ai: ArrayLike,
    n1i: ArrayLike,
    ci: ArrayLike,
    n2i: ArrayLike,
    measure: str = "RR",
    *,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool = False,
    name: str | None = None,
) -> EffectSizes:
    """Effect sizes from 2×2 tables (events ``ai``/``ci`` out of ``n1i``/``n2i``).

    Continuity correction as metafor's ``escalc``: ``to="only0"`` (default) adds ``add`` to
    every cell of a study with a zero cell; ``"all"`` to every study; ``"if0all"`` to every
    study when any has a zero cell; ``"none"`` never. ``drop00=False`` (metafor's default)
    treats studies with no events in either arm like any other study with a zero cell;
    ``drop00=True`` returns NaN for them so the caller leaves them out.

    Variances: log RR ``1/a − 1/n1 + 1/c − 1/n2``; log OR ``1/a + 1/b + 1/c + 1/d``;
    RD ``p1(1−p1)/n1 + p2(1−p2)/n2`` (Cochrane Handbook §6.4.1).
    """
    if measure not in BINARY_MEASURES:
        raise AnalysisInputError(
            f"{_where(name)}measure {measure!r} is not one of {BINARY_MEASURES}"
        )
    if to not in ("only0", "all", "if0all", "none"):
        raise AnalysisInputError(f"{_where(name)}to={to!r} is not only0, all, if0all or none")
    counts = as_float_arrays(name, ai=ai, n1i=n1i, ci=ci, n2i=n2i)
    _check_counts(name, counts)
    a, n1, c, n2 = counts["ai"], counts["n1i"], counts["ci"], counts["n2i"]
    b, d = n1 - a, n2 - c
    if ((n1 == 0) | (n2 == 0)).any():
        raise AnalysisInputError(f"{_where(name)}an arm has no participants (n = 0)")

    has_zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    if to == "only0":
        corrected = has_zero
    elif to == "all":
        corrected = np.ones_like(has_zero)
    elif to == "if0all":
        corrected = np.full_like(has_zero, has_zero.any())
    else:
        corrected = np.zeros_like(has_zero)
    shift = np.where(corrected, add, 0.0)
    a_, b_, c_, d_ = a + shift, b + shift, c + shift, d + shift
    n1_, n2_ = a_ + b_, c_ + d_

    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RR":
            yi = np.log(a_ / n1_) - np.log(c_ / n2_)
            vi = 1 / a_ - 1 / n1_ + 1 / c_ - 1 / n2_
        elif measure == "OR":
            yi = np.log(a_ * d_ / (b_ * c_))
            vi = 1 / a_ + 1 / b_ + 1 / c_ + 1 / d_
        else:
            p1, p2 = a_ / n1_, c_ / n2_
            yi = p1 - p2
            vi = p1 * (1 - p1) / n1_ + p2 * (1 - p2) / n2_
    if drop00:
        double_zero = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
        yi = np.where(double_zero, np.nan, yi)
        vi = np.where(double_zero, np.nan, vi)
    yi = np.where(np.isfinite(yi), yi, np.nan)
    vi = np.where(np.isfinite(vi), vi, np.nan)
    return EffectSizes(yi, vi)


def continuous_effects(
    m1i: ArrayLike,
    sd1i: ArrayLike,
    n1i: ArrayLike,
    m2i: ArrayLike,
    sd2i: ArrayLike,
    n2i: ArrayLike,
    measure: str = "MD",
    *,
    name: str | None = None,
) -> EffectSizes:
    """Mean difference or standardised mean difference (group 1 minus group 2).

    ``MD``: ``m1 − m2`` with variance ``sd1²/n1 + sd2²/n2`` (metafor ``vtype = "HE"`` is not
    assumed). ``SMD``: Hedges' g = c(m)·(m1 − m2)/s_pooled with the exact correction
    c(m) = Γ(m/2) / (√(m/2) Γ((m−1)/2)), m = n1 + n2 − 2 (Hedges 1981), and the large-sample
    variance 1/n1 + 1/n2 + g²/(2(n1 + n2)) (metafor ``escalc``, ``vtype = "LS"``).
    """
    if measure not in ("MD", "SMD"):
        raise AnalysisInputError(f"{_where(name)}measure {measure!r} is not MD or SMD")
    x = as_float_arrays(name, m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i)
    for key in ("sd1i", "sd2i", "n1i", "n2i"):
        if (~np.isfinite(x[key]) | (x[key] <= 0)).any():
            raise AnalysisInputError(f"{_where(name)}{key} must be positive")
    n1, n2 = x["n1i"], x["n2i"]
    if measure == "MD":
        yi = x["m1i"] - x["m2i"]
        vi = x["sd1i"] ** 2 / n1 + x["sd2i"] ** 2 / n2
        return EffectSizes(yi, vi)
    m = n1 + n2 - 2
    pooled = np.sqrt(((n1 - 1) * x["sd1i"] ** 2 + (n2 - 1) * x["sd2i"] ** 2) / m)
    correction = np.exp(special.gammaln(m / 2) - 0.5 * np.log(m / 2) - special.gammaln((m - 1) / 2))
    yi = correction * (x["m1i"] - x["m2i"]) / pooled
    vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
    return EffectSizes(yi, vi)


def generic_effects(
    estimate: ArrayLike,
    ci_low: ArrayLike | None = None,
    ci_high: ArrayLike | None = None,
    *,
    se: ArrayLike | None = None,
    measure: str = "RR",
    level: float = 0.95,
    name: str | None = None,
) -> EffectSizes:
    """Generic inverse-variance input from a published estimate and its CI (or its SE).

    Ratio measures (RR, OR, HR, IRR) are analysed on the log scale: ``yi = log(estimate)`` and
    ``SE = (log ci_high − log ci_low) / (2 z)``, z the normal quantile of ``level``
    (Cochrane Handbook §6.3.2). A hazard or rate ratio is treated as a ratio like any other.
    Difference measures (MD, SMD, RD) stay on their own scale. A given ``se`` is on the
    analysis scale (log scale for ratios).
    """
    ratio = measure in RATIO_MEASURES
    if not ratio and measure not in DIFFERENCE_MEASURES:
        raise AnalysisInputError(f"{_where(name)}measure {measure!r} is not a known measure")
    if se is None and (ci_low is None or ci_high is None):
        raise AnalysisInputError(f"{_where(name)}give either ci_low and ci_high, or se")
    values = as_float_arrays(name, estimate=estimate)
    est = values["estimate"]
    if ratio and (~(est > 0)).any():
        raise AnalysisInputError(f"{_where(name)}a {measure} must be positive")
    yi = np.log(est) if ratio else est.copy()
    if se is not None:
        s = as_float_arrays(name, estimate=est, se=se)["se"]
        if (~(s > 0)).any():
            raise AnalysisInputError(f"{_where(name)}se must be positive")
        return EffectSizes(yi, s**2)
    assert ci_low is not None and ci_high is not None  # checked above
    bounds = as_float_arrays(name, estimate=est, ci_low=ci_low, ci_high=ci_high)
    low, high = bounds["ci_low"], bounds["ci_high"]
    if ratio and ((~(low > 0)) | (~(high > 0))).any():
        raise AnalysisInputError(f"{_where(name)}the CI of a {measure} must be positive")
    if (~(low < high)).any() or (~((low <= est) & (est <= high))).any():
        raise AnalysisInputError(f"{_where(name)}the CI must satisfy ci_low <= estimate <= ci_high")
    z = special.ndtri(0.5 + level / 2)  # scipy.stats.norm.ppf
    width = np.log(high) - np.log(low) if ratio else high - low
    return EffectSizes(yi, (width / (2 * z)) ** 2)
