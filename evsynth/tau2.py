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
* ``ML`` / ``REML``: (restricted) maximum likelihood by Fisher scoring (Viechtbauer 2005,
  eqs. 9–10) from the HE estimate, with step halving; tau² is kept in [0, ∞).
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


def loglik(batch: Batch, tau2: np.ndarray, reml: bool) -> np.ndarray:
    """(Restricted) log-likelihood of the random-effects model at ``tau2``, up to a constant."""
    w = weights(batch, tau2)
    sw = w.sum(axis=1)
    mu = (w * batch.y).sum(axis=1) / sw
    logdet = np.where(batch.mask, np.log(batch.v + tau2[:, None]), 0.0).sum(axis=1)
    rss = (w * (batch.y - mu[:, None]) ** 2).sum(axis=1)
    ll = -0.5 * (logdet + rss)
    return ll - 0.5 * np.log(sw) if reml else ll


def _fisher_scoring(batch: Batch, reml: bool) -> Tau2Estimate:
    tau2 = _he(batch)
    n = len(tau2)
    converged = batch.k <= 1
    iterations = np.zeros(n, dtype=int)
    ll = loglik(batch, tau2, reml)
    for it in range(1, MAX_ITER + 1):
        active = ~converged
        if not active.any():
            break
        with np.errstate(invalid="ignore", divide="ignore"):
            score, info = _score_and_information(batch, tau2, reml)
            step = np.where(active & (info > 0), score / info, 0.0)
        candidate = np.maximum(0.0, tau2 + step)
        new_ll = loglik(batch, candidate, reml)
        # Step halving: shrink a step that lowers the likelihood (at most 30 times).
        for _ in range(30):
            worse = active & (new_ll < ll - 1e-14 * np.abs(ll))
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
            candidate = np.where(worse, np.maximum(0.0, tau2 + step), candidate)
            new_ll = np.where(worse, loglik(batch, candidate, reml), new_ll)
        change = np.abs(candidate - tau2)
        tau2 = np.where(active, candidate, tau2)
        ll = np.where(active, new_ll, ll)
        iterations = np.where(active, it, iterations)
        converged = converged | (active & (change <= TOLERANCE * np.maximum(1.0, tau2)))
    return Tau2Estimate(tau2, converged, iterations)


def _bracketing_fallback(batch: Batch, estimate: Tau2Estimate, reml: bool) -> Tau2Estimate:
    """Solve score(tau²) = 0 with Brent's method for analyses Fisher scoring did not settle."""
    tau2 = estimate.tau2.copy()
    converged = estimate.converged.copy()
    for row in np.flatnonzero(~converged):
        one = Batch(batch.y[row : row + 1], batch.v[row : row + 1], batch.mask[row : row + 1])

        def score(t: float, one: Batch = one) -> float:
            return float(_score_and_information(one, np.array([t]), reml)[0][0])

        if score(0.0) <= 0:
            tau2[row], converged[row] = 0.0, True
            continue
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
        estimate = _fisher_scoring(batch, reml)
        if not estimate.converged.all():
            estimate = _bracketing_fallback(batch, estimate, reml)
        return estimate
    raise ValueError(f"method {method!r} is not one of {METHODS}")
