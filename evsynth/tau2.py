"""Between-study variance (tau²) estimators, vectorised over many meta-analyses at once.

A batch holds N meta-analyses padded to the largest k: arrays ``y`` and ``v`` of shape
(N, kmax) and a boolean ``mask`` marking real studies. Every estimator works on the whole
batch with numpy; only analyses whose Fisher scoring fails to converge fall back to a
per-analysis bracketing root search. Definitions follow metafor's ``rma.uni`` (Viechtbauer
2010) for the intercept-only model:

* ``EE``: equal effects, tau² = 0.
* ``DL``: DerSimonian & Laird (1986), method of moments with inverse-variance weights.
* ``HE``: Hedges (1983) / Hedges & Olkin (1985), unweighted method of moments.
* ``SJ``: Sidik & Jonkman (2005), one step from the start value Σ(y − ȳ)²/k.
* ``PM``: Paule & Mandel (1982): the tau² at which the generalised Q equals k − 1.
* ``ML`` / ``REML``: (restricted) maximum likelihood (Viechtbauer 2005): the root of the
  score in tau² ≥ 0 (eqs. 9–10), found for the whole batch by a bracketing search started
  with a Fisher-scoring step from the HE estimate; 0 when the score is not positive at 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

METHODS = ("EE", "DL", "HE", "SJ", "PM", "ML", "REML")
#: Convergence tolerance on tau² for the iterative estimators (metafor's default is 1e-5;
#: we converge much tighter so results agree with metafor to 1e-6 or better).
TOLERANCE = 1e-12
MAX_ITER = 1000


@dataclass(frozen=True)
class Batch:
    """N meta-analyses padded to the largest k. Padding cells hold y = 0, v = 1, mask False."""

    y: np.ndarray
    v: np.ndarray
    mask: np.ndarray

    @property
    def k(self) -> np.ndarray:
        return self.mask.sum(axis=1)

    @classmethod
    def single(cls, yi: np.ndarray, vi: np.ndarray) -> Batch:
        return cls(yi[None, :].copy(), vi[None, :].copy(), np.ones((1, len(yi)), dtype=bool))


@dataclass(frozen=True)
class Tau2Estimate:
    """tau² per analysis, whether the iterative estimator converged, and its iterations."""

    tau2: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def weighted_mean(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Σ w y / Σ w per row (padding rows carry w = 0)."""
    return (w * y).sum(axis=1) / w.sum(axis=1)


def weights(batch: Batch, tau2: np.ndarray | float) -> np.ndarray:
    """Random-effects weights 1 / (v + tau²), zero on padding."""
    return np.where(batch.mask, 1.0 / (batch.v + np.asarray(tau2)[..., None]), 0.0)


def generalised_q(batch: Batch, tau2: np.ndarray) -> np.ndarray:
    """Q(tau²) = Σ w (y − μ̂_w)², w = 1/(v + tau²) (DerSimonian & Kacker 2007)."""
    w = weights(batch, tau2)
    mu = weighted_mean(batch.y, w)
    return (w * (batch.y - mu[:, None]) ** 2).sum(axis=1)


def _dl(batch: Batch) -> np.ndarray:
    w = weights(batch, 0.0)
    q = generalised_q(batch, np.zeros(len(w)))
    sw = w.sum(axis=1)
    denom = sw - (w**2).sum(axis=1) / sw
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = (q - (batch.k - 1)) / denom
    return np.where(batch.k > 1, np.maximum(0.0, tau2), 0.0)


def _he(batch: Batch) -> np.ndarray:
    k = batch.k
    ybar = np.where(batch.mask, batch.y, 0.0).sum(axis=1) / k
    rss = np.where(batch.mask, (batch.y - ybar[:, None]) ** 2, 0.0).sum(axis=1)
    vsum = np.where(batch.mask, batch.v, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = rss / (k - 1) - vsum / k
    return np.where(k > 1, np.maximum(0.0, tau2), 0.0)


def _sj(batch: Batch) -> np.ndarray:
    k = batch.k
    ybar = np.where(batch.mask, batch.y, 0.0).sum(axis=1) / k
    tau0 = np.where(batch.mask, (batch.y - ybar[:, None]) ** 2, 0.0).sum(axis=1) / k
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = tau0 * generalised_q(batch, tau0) / (k - 1)
    return np.where(k > 1, np.maximum(0.0, tau2), 0.0)


def _upper_bracket(batch: Batch, target: np.ndarray) -> np.ndarray:
    """A tau² at which the (decreasing) generalised Q is below ``target``, per row."""
    spread = np.where(batch.mask, batch.y, np.nan)
    upper = np.maximum(np.nanvar(spread, axis=1) * 10.0, 1.0) + np.nanmax(
        np.where(batch.mask, batch.v, np.nan), axis=1
    )
    for _ in range(200):
        high = generalised_q(batch, upper) > target
        if not high.any():
            break
        upper = np.where(high, upper * 4.0, upper)
    return upper


def solve_generalised_q(batch: Batch, target: np.ndarray) -> np.ndarray:
    """The tau² ≥ 0 at which Q(tau²) = target (0 when Q(0) < target), by vectorised bisection
    followed by Newton polishing. Q is strictly decreasing in tau², so the root is unique."""
    low = np.zeros(len(target))
    at_zero = generalised_q(batch, low)
    active = at_zero > target
    high = _upper_bracket(batch, target)
    for _ in range(200):
        mid = 0.5 * (low + high)
        above = generalised_q(batch, mid) > target
        low = np.where(active & above, mid, low)
        high = np.where(active & ~above, mid, high)
        if np.all((high - low) <= TOLERANCE * np.maximum(1.0, high)):
            break
    return np.where(active, 0.5 * (low + high), 0.0)


def _pm(batch: Batch) -> np.ndarray:
    return np.where(batch.k > 1, solve_generalised_q(batch, (batch.k - 1).astype(float)), 0.0)


def _score_and_information(batch: Batch, tau2: np.ndarray, reml: bool) -> tuple[np.ndarray, ...]:
    """Score (derivative of the (restricted) log-likelihood in tau²) and Fisher information."""
    w = weights(batch, tau2)
    sw = w.sum(axis=1)
    mu = (w * batch.y).sum(axis=1) / sw
    e2 = np.where(batch.mask, (batch.y - mu[:, None]) ** 2, 0.0)
    sw2 = (w**2).sum(axis=1)
    we2 = (w**2 * e2).sum(axis=1)
    if reml:
        # P = W − w wᵀ/Σw: tr(P) and tr(PP) for the intercept-only model.
        sw3 = (w**3).sum(axis=1)
        tr_p = sw - sw2 / sw
        tr_pp = sw2 - 2 * sw3 / sw + sw2**2 / sw**2
        return 0.5 * (we2 - tr_p), 0.5 * tr_pp
    return 0.5 * (we2 - sw), 0.5 * sw2


def _subset(batch: Batch, rows: np.ndarray) -> Batch:
    return Batch(batch.y[rows], batch.v[rows], batch.mask[rows])


def _score(batch: Batch, tau2: np.ndarray, reml: bool) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return _score_and_information(batch, tau2, reml)[0]


def _solve_score(batch: Batch, reml: bool) -> Tau2Estimate:
    """Root of the (restricted) likelihood's score in tau² ≥ 0, for every analysis at once.

    Like metafor's Fisher scoring, the search starts at the HE estimate and follows the sign
    of the score: upwards when the score is positive there, downwards otherwise. The bracket
    is widened (doubling up, halving down) until the score changes sign, then narrowed by the
    Illinois variant of regula falsi (superlinear, never leaves the bracket). When the score
    stays negative down to tau² = 0 the estimate is 0, on the boundary of the parameter space.
    """
    n = len(batch.y)
    tau2 = np.zeros(n)
    iterations = np.zeros(n, dtype=int)
    converged = np.ones(n, dtype=bool)
    rows = np.flatnonzero(batch.k > 1)
    if len(rows) == 0:
        return Tau2Estimate(tau2, converged, iterations)
    sub = _subset(batch, rows)
    start = _he(sub)
    f_start = _score(sub, start, reml)
    up = f_start > 0

    def score_at(where: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.flatnonzero(where)
        return _score(_subset(sub, idx), values[idx], reml), idx

    # Upwards: lo = start, hi doubles until the score turns negative.
    lo = np.where(up, start, 0.0)
    f_lo = np.where(up, f_start, np.nan)
    hi = np.where(up, np.maximum(start, 1e-6) * 2.0, start)
    f_hi = f_start.copy()
    f, idx = score_at(up, hi)
    f_hi[idx] = f
    grow = up & (f_hi > 0)
    while grow.any():
        lo[grow], f_lo[grow], hi[grow] = hi[grow], f_hi[grow], hi[grow] * 2.0
        f, idx = score_at(grow, hi)
        f_hi[idx] = f
        grow = grow & (f_hi > 0) & (hi < 1e12)
    # Downwards: hi = start, lo halves towards 0 until the score turns positive.
    down = ~up & (start > 0)
    lo[down] = start[down] / 2.0
    f, idx = score_at(down, lo)
    f_lo[idx] = f
    shrink = down & (f_lo <= 0)
    for _ in range(60):
        if not shrink.any():
            break
        hi[shrink], f_hi[shrink], lo[shrink] = lo[shrink], f_lo[shrink], lo[shrink] / 2.0
        f, idx = score_at(shrink, lo)
        f_lo[idx] = f
        shrink = shrink & (f_lo <= 0)
    # Nothing positive found above 0 (or the start was 0): check the boundary itself.
    at_zero = ~up & ~(down & (f_lo > 0))
    if at_zero.any():
        f, idx = score_at(at_zero, np.zeros(len(rows)))
        interior = np.zeros(len(rows), dtype=bool)
        interior[idx[f > 0]] = True
        lo[interior], f_lo[interior] = 0.0, f[f > 0]
        fresh = interior & (start == 0)
        hi[fresh] = 1e-6
        f, idx = score_at(fresh, hi)
        f_hi[idx] = f
        grow = fresh & (f_hi > 0)
        while grow.any():
            lo[grow], f_lo[grow], hi[grow] = hi[grow], f_hi[grow], hi[grow] * 2.0
            f, idx = score_at(grow, hi)
            f_hi[idx] = f
            grow = grow & (f_hi > 0) & (hi < 1e12)
        at_zero = at_zero & ~interior
    keep = np.flatnonzero(~at_zero)
    rows, sub = rows[keep], _subset(sub, keep)
    lo, hi, f_lo, f_hi = lo[keep], hi[keep], f_lo[keep], f_hi[keep]

    active = np.ones(len(rows), dtype=bool)
    x = lo.copy()
    side = np.zeros(len(rows), dtype=int)
    count = np.zeros(len(rows), dtype=int)
    for it in range(1, MAX_ITER + 1):
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        a, b, fa, fb = lo[idx], hi[idx], f_lo[idx], f_hi[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            trial = b - fb * (b - a) / (fb - fa)
        bad = ~np.isfinite(trial) | (trial <= a) | (trial >= b)
        trial = np.where(bad, 0.5 * (a + b), trial)
        ft = _score(_subset(sub, idx), trial, reml)
        keep_lo = ft > 0
        # Illinois: halve the function value of an endpoint kept twice in a row.
        new_side = np.where(keep_lo, 1, -1)
        repeat = new_side == side[idx]
        lo[idx] = np.where(keep_lo, trial, a)
        f_lo[idx] = np.where(keep_lo, ft, np.where(repeat, fa / 2, fa))
        hi[idx] = np.where(keep_lo, b, trial)
        f_hi[idx] = np.where(keep_lo, np.where(repeat, fb / 2, fb), ft)
        side[idx] = new_side
        x[idx] = trial
        count[idx] = it
        width = hi[idx] - lo[idx]
        done = (width <= TOLERANCE * np.maximum(1.0, trial)) | (ft == 0)
        active[idx[done]] = False
    tau2[rows] = x
    iterations[rows] = count
    converged[rows] = ~active
    return Tau2Estimate(tau2, converged, iterations)


def _bracketing_fallback(batch: Batch, estimate: Tau2Estimate, reml: bool) -> Tau2Estimate:
    """Brent's method, analysis by analysis, for any analysis the vectorised search left."""
    tau2 = estimate.tau2.copy()
    converged = estimate.converged.copy()
    for row in np.flatnonzero(~converged):
        one = Batch(batch.y[row : row + 1], batch.v[row : row + 1], batch.mask[row : row + 1])

        def score(t: float, one: Batch = one) -> float:
            return float(_score(one, np.array([t]), reml)[0])

        upper = max(1.0, float(tau2[row]) * 2)
        while score(upper) > 0 and upper < 1e12:
            upper *= 4
        tau2[row] = optimize.brentq(score, 0.0, upper, xtol=1e-15, rtol=1e-14, maxiter=500)
        converged[row] = True
    return Tau2Estimate(tau2, converged, estimate.iterations)


def estimate_tau2(batch: Batch, method: str = "REML") -> Tau2Estimate:
    """tau² of every analysis in ``batch`` by ``method`` (see the module docstring)."""
    n = len(batch.y)
    done = np.ones(n, dtype=bool)
    zeros = np.zeros(n, dtype=int)
    if method == "EE":
        return Tau2Estimate(np.zeros(n), done, zeros)
    if method == "DL":
        return Tau2Estimate(_dl(batch), done, zeros)
    if method == "HE":
        return Tau2Estimate(_he(batch), done, zeros)
    if method == "SJ":
        return Tau2Estimate(_sj(batch), done, zeros)
    if method == "PM":
        return Tau2Estimate(_pm(batch), done, zeros)
    if method in ("ML", "REML"):
        reml = method == "REML"
        estimate = _solve_score(batch, reml)
        if not estimate.converged.all():
            estimate = _bracketing_fallback(batch, estimate, reml)
        return estimate
    raise ValueError(f"method {method!r} is not one of {METHODS}")
