"""The (restricted) likelihood of the random-effects model in tau², compiled per analysis.

For the intercept-only model yᵢ ~ N(μ, vᵢ + tau²) with weights wᵢ = 1/(vᵢ + tau²), μ̂ = Σwy/Σw
and eᵢ = yᵢ − μ̂ (Viechtbauer 2005):

* log-likelihood, up to a constant (eqs. 5 and 6): ML −½Σlog(vᵢ + tau²) − ½Σwᵢeᵢ²;
  REML subtracts ½ log Σwᵢ;
* score (eqs. 9–10): ML ½[Σw²e² − Σw]; REML replaces Σw by tr(P) = Σw − Σw²/Σw;
* expected (Fisher) information: ML ½Σw²; REML ½tr(PP) = ½[Σw² − 2Σw³/Σw + (Σw²/Σw)²];
* observed information −d²ℓ/d(tau²)², from differentiating the score once more
  (dμ̂/dtau² = −Σw²e/Σw): ML Σw³e² − (Σw²e)²/Σw − ½Σw²; REML adds Σw³/Σw − ½(Σw²/Σw)².

The functions take a batch as arrays ``y`` and ``v`` of shape N × kmax whose padding cells
hold y = 0 and v = +∞, so that wᵢ = 0 there (:func:`evsynth.meta.batch.weightless_padding`), and
loop over the analyses in compiled code (numba): an analysis iterates in the CPU's registers
and stops as soon as it has converged, which a whole-array numpy iteration cannot do. Sums
may be reassociated (``fastmath={"reassoc"}``: vectorised, the same to ~1e-15 relative, and
the same bits on every run on one machine); nothing else is relaxed, so infinities and NaN
behave as in numpy.
They run on one core (no threads), so they are safe in forked worker processes and from
several threads. Each analysis is computed on its own: results do not depend on the other
analyses of the batch.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# x/0 gives inf or nan as in numpy; sums may be reassociated (vectorised), nothing else.
_compiled = njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
_inlined = njit(inline="always", cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})


@_inlined
def _weighted_mean(y: np.ndarray, v: np.ndarray, t: float) -> tuple[float, float]:
    """Σwᵢ and μ̂ = Σwᵢyᵢ/Σwᵢ with wᵢ = 1/(vᵢ + t)."""
    sw = 0.0
    swy = 0.0
    for j in range(y.shape[0]):
        w = 1.0 / (v[j] + t)
        sw += w
        swy += w * y[j]
    return sw, swy / sw


@_inlined
def _residual_sum(y: np.ndarray, v: np.ndarray, t: float, mu: float) -> float:
    """Σwᵢ(yᵢ − μ)² with wᵢ = 1/(vᵢ + t)."""
    rss = 0.0
    for j in range(y.shape[0]):
        e = y[j] - mu
        rss += e * e / (v[j] + t)
    return rss


@_inlined
def _terms(y: np.ndarray, v: np.ndarray, t: float, reml: bool) -> tuple[float, float, float]:
    """Score, expected information and observed information of one analysis at tau² = t."""
    sw, mu = _weighted_mean(y, v, t)
    sw2 = sw3 = swe2 = sw2e = sw3e2 = 0.0
    for j in range(y.shape[0]):
        w = 1.0 / (v[j] + t)
        we = w * (y[j] - mu)
        w2 = w * w
        sw2 += w2
        sw3 += w2 * w
        swe2 += we * we
        sw2e += w * we
        sw3e2 += w * we * we
    observed = sw3e2 - sw2e * sw2e / sw - 0.5 * sw2
    if reml:
        score = 0.5 * (swe2 - sw + sw2 / sw)
        info = 0.5 * (sw2 - 2.0 * sw3 / sw + (sw2 / sw) ** 2)
        observed += sw3 / sw - 0.5 * (sw2 / sw) ** 2
    else:
        score = 0.5 * (swe2 - sw)
        info = 0.5 * sw2
    return score, info, observed


@_compiled
def _log_likelihood(y: np.ndarray, v: np.ndarray, t: float, reml: bool) -> float:
    sw, mu = _weighted_mean(y, v, t)
    log_var = 0.0
    for j in range(y.shape[0]):
        if v[j] < math.inf:  # not padding
            log_var += math.log(v[j] + t)
    ll = -0.5 * log_var - 0.5 * _residual_sum(y, v, t, mu)
    return ll - 0.5 * math.log(sw) if reml else ll


@_compiled
def score(y: np.ndarray, v: np.ndarray, tau2: np.ndarray, reml: bool) -> np.ndarray:
    """The score of every analysis at its ``tau2``."""
    out = np.empty(y.shape[0])
    for i in range(y.shape[0]):
        out[i] = _terms(y[i], v[i], tau2[i], reml)[0]
    return out


@_compiled
def log_likelihood(y: np.ndarray, v: np.ndarray, tau2: np.ndarray, reml: bool) -> np.ndarray:
    """The (restricted) log-likelihood of every analysis at its ``tau2``."""
    out = np.empty(y.shape[0])
    for i in range(y.shape[0]):
        out[i] = _log_likelihood(y[i], v[i], tau2[i], reml)
    return out


@_compiled
def _gain_over_zero(y: np.ndarray, v: np.ndarray, t: float, reml: bool) -> float:
    """ℓ(t) − ℓ(0), computed as a difference of terms (more exact than of two totals):
    −½Σlog(1 + t/vᵢ) − ½[Σwᵢ(t)eᵢ(t)² − Σwᵢ(0)eᵢ(0)²] [− ½ log(Σwᵢ(t)/Σwᵢ(0))]. The log
    term takes one log per run of factors (a product is logged before it could overflow)."""
    log_ratio = 0.0
    product = 1.0
    for j in range(y.shape[0]):
        if v[j] < math.inf:  # not padding
            product *= 1.0 + t / v[j]
            if product > 1e280:
                log_ratio += math.log(product)
                product = 1.0
    log_ratio += math.log(product)
    gain = -0.5 * log_ratio
    for tau2, sign in ((t, -0.5), (0.0, 0.5)):
        sw, mu = _weighted_mean(y, v, tau2)
        gain += sign * _residual_sum(y, v, tau2, mu)
        if reml:
            gain += sign * math.log(sw)
    return gain


@_compiled
def zero_is_better(
    y: np.ndarray, v: np.ndarray, tau2: np.ndarray, check: np.ndarray, reml: bool
) -> np.ndarray:
    """For the analyses marked in ``check``: is the likelihood at tau² = 0 higher than at
    their ``tau2``? (metafor's ``ll0check``)."""
    out = np.zeros(y.shape[0], dtype=np.bool_)
    for i in range(y.shape[0]):
        if check[i]:
            out[i] = _gain_over_zero(y[i], v[i], tau2[i], reml) < 0
    return out


@_compiled
def scoring(
    y: np.ndarray,
    v: np.ndarray,
    start: np.ndarray,
    reml: bool,
    max_steps: int,
    newton_after: int,
    tolerance: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ML/REML tau² of every analysis by scoring from ``start``, as metafor's ``rma.uni``.

    Each step is tau² ← tau² + score/information. The first ``newton_after`` steps use the
    expected information (Fisher scoring); later steps use the observed information where
    it is positive, i.e. where the likelihood is concave (Newton: quadratic instead of linear
    convergence, to the same root). A step that would make tau² negative is halved until it
    does not (metafor), and tau² stays ≥ 0. An analysis has converged when a step changes
    tau² by at most ``tolerance``·max(1, tau²). Returns tau², whether each converged within
    ``max_steps`` steps, and the steps taken.
    """
    n = y.shape[0]
    tau2 = np.empty(n)
    converged = np.zeros(n, dtype=np.bool_)
    steps = np.zeros(n, dtype=np.int64)
    for i in range(n):
        t = start[i]
        for step in range(1, max_steps + 1):
            s, info, observed = _terms(y[i], v[i], t, reml)
            if step > newton_after and observed > 0:
                info = observed
            adj = s / info
            if not math.isfinite(adj):
                adj = 0.0
            new = t + adj
            if new < 0 and t > 0:  # the smallest h with t + adj/2^h >= 0
                new = t + adj * 2.0 ** -math.ceil(math.log2(-adj / t))
            new = max(new, 0.0)
            steps[i] = step
            done = abs(new - t) <= tolerance * max(1.0, new)
            t = new
            if done:
                converged[i] = True
                break
        tau2[i] = t
    return tau2, converged, steps
