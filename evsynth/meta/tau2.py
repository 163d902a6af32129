"""Between-study variance (tau²) estimators, vectorised over many meta-analyses at once.

The estimators take a :class:`~evsynth.meta.batch.Batch` of N analyses padded to the largest k:
the closed-form ones work through it in cache-sized blocks (:mod:`evsynth.meta.batch`), ML and
REML iterate each analysis in compiled code (:mod:`evsynth.meta.likelihood`). Only analyses whose
scoring fails to converge fall back to a vectorised bracketing root search (Illinois regula
falsi). Definitions follow metafor's ``rma.uni`` (Viechtbauer 2010) for the
intercept-only model:

* ``EE``: equal effects, tau² = 0.
* ``DL``: DerSimonian & Laird (1986), method of moments with inverse-variance weights.
* ``HE``: Hedges (1983) / Hedges & Olkin (1985), unweighted method of moments.
* ``SJ``: Sidik & Jonkman (2005), one step from the start value Σ(y − ȳ)²/k.
* ``PM``: Paule & Mandel (1982): the tau² at which the generalised Q equals k − 1, solved to
  ~1e-12 (metafor's ``uniroot`` stops at its ``tol`` = 1.2e-4 by default: compare with
  ``control=list(tol=1e-13)``).
* ``ML`` / ``REML``: (restricted) maximum likelihood (Viechtbauer 2005) by Fisher scoring
  from the HE estimate with step halving at the boundary (eqs. 9–10), then Newton steps once
  near the root, with metafor's check that the likelihood at tau² = 0 is not higher.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evsynth.meta import likelihood
from evsynth.meta.batch import Batch, Block, by_rows, map_blocks, weightless_padding

__all__ = [
    "METHODS",
    "Batch",
    "Tau2Estimate",
    "estimate_tau2",
    "fixed_weight_sums",
    "generalised_q",
    "weighted_moments",
]

METHODS = ("EE", "DL", "HE", "SJ", "PM", "ML", "REML")
#: Convergence tolerance on tau² for the iterative estimators (metafor's default is 1e-5;
#: we converge much tighter so results agree with metafor to 1e-6 or better).
TOLERANCE = 1e-12
MAX_ITER = 200
#: Scoring steps before the bracketing search takes over an analysis (metafor's maxiter).
FISHER_STEPS = 100
#: Fisher-scoring steps before Newton steps are allowed.
NEWTON_AFTER = 1


@dataclass(frozen=True)
class Tau2Estimate:
    """tau² per analysis, whether the iterative estimator converged, and its iterations."""

    tau2: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def _moments_block(block: Block, tau2: np.ndarray) -> tuple[np.ndarray, ...]:
    w = block.weights(tau2)
    sw = block.row_sum(w)
    mu = block.row_dot(w, block.y) / sw
    e = block.y - mu[:, None]
    return sw, mu, block.row_dot(w * e, e)


def weighted_moments(batch: Batch, tau2: np.ndarray) -> tuple[np.ndarray, ...]:
    """Σw, the weighted mean μ̂ = Σwy/Σw and Q(tau²) = Σw(y − μ̂)², w = 1/(v + tau²), per
    analysis."""
    return map_blocks(batch, _moments_block, np.asarray(tau2, dtype=float), outputs=3)


def generalised_q(batch: Batch, tau2: np.ndarray) -> np.ndarray:
    """Q(tau²) = Σ w (y − μ̂_w)², w = 1/(v + tau²) (DerSimonian & Kacker 2007)."""
    return weighted_moments(batch, tau2)[2]


def _fixed_weight_sums_block(block: Block) -> tuple[np.ndarray, np.ndarray]:
    w = 1.0 / block.v
    return block.row_sum(w), block.row_dot(w, w)


def fixed_weight_sums(batch: Batch) -> tuple[np.ndarray, ...]:
    """Σwᵢ and Σwᵢ² with fixed-effect weights wᵢ = 1/vᵢ, per analysis."""
    return map_blocks(batch, _fixed_weight_sums_block, outputs=2)


def _dl(batch: Batch) -> np.ndarray:
    q = generalised_q(batch, np.zeros(len(batch.y)))
    sw, sw2 = fixed_weight_sums(batch)
    denom = sw - sw2 / sw
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = (q - (batch.k - 1)) / denom
    return np.where(batch.k > 1, np.maximum(0.0, tau2), 0.0)


def _he_block(block: Block) -> tuple[np.ndarray]:
    """Hedges' estimator Σ(y − ȳ)²/(k − 1) − Σv/k, truncated at 0 (0 when k = 1)."""
    k = block.k
    with np.errstate(invalid="ignore", divide="ignore"):
        ybar = block.row_sum(block.y) / k
        d = block.y - ybar[:, None]
        v = block.v
        if block.padded:
            d, v = np.where(block.mask, d, 0.0), np.where(block.mask, v, 0.0)
        vsum = block.row_sum(v)
        tau2 = block.row_dot(d, d) / (k - 1) - vsum / k
    return (np.where(k > 1, np.maximum(0.0, tau2), 0.0),)


def _he(batch: Batch) -> np.ndarray:
    return map_blocks(batch, _he_block, outputs=1)[0]


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
    """The tau² ≥ 0 at which Q(tau²) = target (0 when Q(0) < target), by vectorised bisection.
    Q is strictly decreasing in tau², so the root is unique."""
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


def _arrays(batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """The batch as the compiled likelihood functions take it (padding y = 0, v = +∞)."""
    return weightless_padding(batch.y, batch.v, batch.mask)


def _score(batch: Batch, tau2: np.ndarray, reml: bool) -> np.ndarray:
    """The (restricted) likelihood score of every analysis at ``tau2``."""
    return likelihood.score(*_arrays(batch), np.asarray(tau2, dtype=float), reml)


def log_likelihood(batch: Batch, tau2: np.ndarray, reml: bool) -> np.ndarray:
    """(Restricted) log-likelihood of the intercept-only model, up to a constant
    (Viechtbauer 2005, eqs. 5 and 6): −½Σlog(vᵢ + tau²) − ½Σwᵢ(yᵢ − μ̂)² [− ½ log Σwᵢ]."""
    return likelihood.log_likelihood(*_arrays(batch), np.asarray(tau2, dtype=float), reml)


def _fisher_scoring(batch: Batch, reml: bool) -> Tau2Estimate:
    """ML/REML tau² by scoring (:func:`evsynth.meta.likelihood.scoring`: Fisher scoring, then
    Newton steps, with metafor's step halving), starting at the HE estimate (truncated at 0)
    as metafor does. Analyses with k = 1 have tau² = 0 (no step is taken)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2, converged, iterations = by_rows(
            likelihood.scoring,
            *_arrays(batch),
            _he(batch),
            args=(reml, FISHER_STEPS, NEWTON_AFTER, TOLERANCE),
        )
    single = batch.k <= 1
    tau2[single], converged[single], iterations[single] = 0.0, True, 0
    return Tau2Estimate(tau2, converged, iterations)


def _bracketing_fallback(batch: Batch, estimate: Tau2Estimate, reml: bool) -> Tau2Estimate:
    """A bracketing root search on the score for the analyses where scoring did not
    converge within ``FISHER_STEPS`` steps (it can oscillate slowly when the expected and
    observed information differ), all such analyses at once.

    The score is bracketed between 0 (where it must be positive for an interior maximum;
    otherwise tau² = 0) and an upper bound doubled until the score is negative, then the
    bracket is narrowed by the Illinois variant of regula falsi (Dowell & Jarratt 1971):
    superlinear, and it never leaves the bracket.
    """
    tau2 = estimate.tau2.copy()
    converged = estimate.converged.copy()
    rows = np.flatnonzero(~converged)
    if len(rows) == 0:
        return estimate
    sub = batch.take(rows)
    start = tau2[rows].copy()
    f_start = _score(sub, start, reml)
    up = f_start > 0
    lo = np.where(up, start, start / 2.0)
    hi = np.where(up, np.maximum(1e-8, 2.0 * start), start)
    f_lo = np.where(up, f_start, _score(sub, lo, reml))
    f_hi = np.where(up, _score(sub, hi, reml), f_start)
    # Upwards: double hi until the score turns negative.
    grow = up & (f_hi > 0)
    while grow.any():
        lo[grow], f_lo[grow], hi[grow] = hi[grow], f_hi[grow], 2.0 * hi[grow]
        idx = np.flatnonzero(grow)
        f_hi[idx] = _score(sub.take(idx), hi[idx], reml)
        grow = (f_hi > 0) & (hi < 1e12)
    # Downwards: halve lo until the score turns positive; none above 1e-15 means tau² = 0.
    shrink = ~up & ~(f_lo > 0)
    for _ in range(200):
        if not shrink.any():
            break
        hi[shrink], f_hi[shrink], lo[shrink] = lo[shrink], f_lo[shrink], lo[shrink] / 2.0
        idx = np.flatnonzero(shrink)
        f_lo[idx] = _score(sub.take(idx), lo[idx], reml)
        shrink = shrink & ~(f_lo > 0) & (lo > 1e-3 * TOLERANCE)
    boundary = ~(f_lo > 0)
    tau2[rows[boundary]], converged[rows[boundary]] = 0.0, True
    keep = np.flatnonzero(~boundary)
    rows, sub, start = rows[keep], sub.take(keep), start[keep]
    lo, hi, f_lo, f_hi = lo[keep], hi[keep], f_lo[keep], f_hi[keep]
    active = ~(f_hi > 0)  # no root below 1e12: left unconverged (flagged, not NaN)
    x = start.copy()
    kept = np.zeros(len(rows), dtype=int)
    for _ in range(MAX_ITER):
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        a, b, fa, fb = lo[idx], hi[idx], f_lo[idx], f_hi[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            trial = b - fb * (b - a) / (fb - fa)
        outside = ~np.isfinite(trial) | (trial <= a) | (trial >= b)
        trial = np.where(outside, 0.5 * (a + b), trial)
        ft = _score(sub.take(idx), trial, reml)
        up = ft > 0
        side = np.where(up, 1, -1)
        again = side == kept[idx]  # the same end kept twice: halve its score (Illinois)
        lo[idx] = np.where(up, trial, a)
        f_lo[idx] = np.where(up, ft, np.where(again, fa / 2, fa))
        hi[idx] = np.where(up, b, trial)
        f_hi[idx] = np.where(up, np.where(again, fb / 2, fb), ft)
        kept[idx] = side
        x[idx] = trial
        done = (hi[idx] - lo[idx] <= TOLERANCE * np.maximum(1.0, trial)) | (ft == 0)
        active[idx[done]] = False
    tau2[rows] = x
    converged[rows] = ~active
    return Tau2Estimate(tau2, converged, estimate.iterations)


def _ll0check(batch: Batch, estimate: Tau2Estimate, reml: bool) -> Tau2Estimate:
    """metafor's ``ll0check``: a root whose likelihood is below the likelihood at tau² = 0 is
    not the maximum, so tau² = 0 there."""
    check = estimate.converged & (estimate.tau2 > 0)
    worse = by_rows(likelihood.zero_is_better, *_arrays(batch), estimate.tau2, check, args=(reml,))
    return Tau2Estimate(
        np.where(worse, 0.0, estimate.tau2), estimate.converged, estimate.iterations
    )


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
        return _ll0check(batch, estimate, reml)
    raise ValueError(f"method {method!r} is not one of {METHODS}")
