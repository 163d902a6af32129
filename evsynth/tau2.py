"""Between-study variance (tau²) estimators, vectorised over many meta-analyses at once.

A batch holds N meta-analyses padded to the largest k: arrays ``y`` and ``v`` of shape
(N, kmax) and a boolean ``mask`` marking real studies. Every estimator works on the whole
batch with numpy; only analyses whose Fisher scoring fails to converge fall back to a
vectorised bracketing root search (Illinois regula falsi). Definitions follow
metafor's ``rma.uni`` (Viechtbauer 2010) for the intercept-only model:

* ``EE``: equal effects, tau² = 0.
* ``DL``: DerSimonian & Laird (1986), method of moments with inverse-variance weights.
* ``HE``: Hedges (1983) / Hedges & Olkin (1985), unweighted method of moments.
* ``SJ``: Sidik & Jonkman (2005), one step from the start value Σ(y − ȳ)²/k.
* ``PM``: Paule & Mandel (1982): the tau² at which the generalised Q equals k − 1, solved to
  ~1e-12 (metafor's ``uniroot`` stops at its ``tol`` = 1.2e-4 by default: compare with
  ``control=list(tol=1e-13)``).
* ``ML`` / ``REML``: (restricted) maximum likelihood (Viechtbauer 2005) by Fisher scoring
  from the HE estimate with step halving at the boundary (eqs. 9–10), vectorised over the
  batch, with metafor's check that the likelihood at tau² = 0 is not higher.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("EE", "DL", "HE", "SJ", "PM", "ML", "REML")
#: Convergence tolerance on tau² for the iterative estimators (metafor's default is 1e-5;
#: we converge much tighter so results agree with metafor to 1e-6 or better).
TOLERANCE = 1e-12
MAX_ITER = 200
#: Fisher-scoring steps before the bracketing search takes over an analysis.
FISHER_STEPS = 30
#: Fisher-scoring steps before Newton steps are allowed.
NEWTON_AFTER = 3


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


def _score_and_information(
    batch: Batch, tau2: np.ndarray, reml: bool, observed: bool = False
) -> tuple[np.ndarray, ...]:
    """Score (derivative of the (restricted) log-likelihood in tau²) and information.

    The expected (Fisher) information by default; with ``observed=True`` also the observed
    information −d²ℓ/d(tau²)², from differentiating the score (e = y − μ̂, dμ̂/dtau² =
    −Σw²e/Σw): ML ½[2Σw³e² − 2(Σw²e)²/Σw − Σw²], REML adds ½[2Σw³/Σw − (Σw²/Σw)²].
    """
    w = weights(batch, tau2)
    sw = w.sum(axis=1)
    mu = (w * batch.y).sum(axis=1) / sw
    e = np.where(batch.mask, batch.y - mu[:, None], 0.0)
    w2 = w**2
    sw2 = w2.sum(axis=1)
    we2 = (w2 * e**2).sum(axis=1)
    sw3 = (w2 * w).sum(axis=1)
    if reml:
        # P = W − w wᵀ/Σw: tr(P) and tr(PP) for the intercept-only model.
        tr_p = sw - sw2 / sw
        score, info = 0.5 * (we2 - tr_p), 0.5 * (sw2 - 2 * sw3 / sw + sw2**2 / sw**2)
    else:
        score, info = 0.5 * (we2 - sw), 0.5 * sw2
    if not observed:
        return score, info
    we2_3 = (w2 * w * e**2).sum(axis=1)
    w2e = (w2 * e).sum(axis=1)
    hessian = -2 * we2_3 + 2 * w2e**2 / sw + sw2
    if reml:
        hessian = hessian - 2 * sw3 / sw + (sw2 / sw) ** 2
    return score, info, -0.5 * hessian


def _subset(batch: Batch, rows: np.ndarray) -> Batch:
    return Batch(batch.y[rows], batch.v[rows], batch.mask[rows])


def _score(batch: Batch, tau2: np.ndarray, reml: bool) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return _score_and_information(batch, tau2, reml)[0]


def log_likelihood(batch: Batch, tau2: np.ndarray, reml: bool) -> np.ndarray:
    """(Restricted) log-likelihood of the intercept-only model, up to a constant
    (Viechtbauer 2005, eqs. 5 and 6): −½Σlog(vᵢ + tau²) − ½Σwᵢ(yᵢ − μ̂)² [− ½ log Σwᵢ]."""
    w = weights(batch, tau2)
    sw = w.sum(axis=1)
    mu = (w * batch.y).sum(axis=1) / sw
    rss = (w * np.where(batch.mask, batch.y - mu[:, None], 0.0) ** 2).sum(axis=1)
    log_var = np.where(batch.mask, np.log(batch.v + np.asarray(tau2)[:, None]), 0.0).sum(axis=1)
    ll = -0.5 * log_var - 0.5 * rss
    return ll - 0.5 * np.log(sw) if reml else ll


def _fisher_scoring(batch: Batch, reml: bool) -> Tau2Estimate:
    """ML/REML tau² by Fisher scoring (Viechtbauer 2005, eqs. 9–10), all analyses at once.

    As metafor's ``rma.uni``: start at the HE estimate (truncated at 0), step
    tau² ← tau² + score/information, and halve a step that would leave tau² ≥ 0. A step that
    would cross 0 while the score at 0 is not positive goes to 0 directly: that is the limit
    metafor's repeated halving approaches, reached exactly instead of asymptotically.
    Converged when the change is below ``TOLERANCE``·max(1, tau²). Afterwards, metafor's
    ``ll0check``: if the likelihood at tau² = 0 is higher than at the root found, tau² = 0.
    Analyses with k = 1 have tau² = 0.
    """
    n = len(batch.y)
    tau2 = np.zeros(n)
    iterations = np.zeros(n, dtype=int)
    converged = np.ones(n, dtype=bool)
    rows = np.flatnonzero(batch.k > 1)
    if len(rows) == 0:
        return Tau2Estimate(tau2, converged, iterations)
    sub = _subset(batch, rows)
    t = _he(sub)
    active = np.ones(len(rows), dtype=bool)
    count = np.zeros(len(rows), dtype=int)
    for it in range(1, FISHER_STEPS + 1):
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        current = t[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            score, info, observed = _score_and_information(
                _subset(sub, idx), current, reml, observed=True
            )
            # Newton steps (observed information) once Fisher scoring has brought tau² near
            # the root and the likelihood is concave there: quadratic instead of linear
            # convergence, to the same root.
            newton = (it > NEWTON_AFTER) & (observed > 0)
            info = np.where(newton, observed, info)
            adj = np.where(np.isfinite(score / info), score / info, 0.0)
        crossing = current + adj < 0
        # Step halving (metafor): the smallest h with current + adj/2^h >= 0.
        halve = crossing & (current > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            h = np.where(halve, np.ceil(np.log2(-adj / np.where(halve, current, 1.0))), 0.0)
        adj = np.where(halve, adj * np.exp2(-h), adj)
        new = np.maximum(current + adj, 0.0)
        t[idx] = new
        count[idx] = it
        done = np.abs(new - current) <= TOLERANCE * np.maximum(1.0, new)
        active[idx[done]] = False

    tau2[rows] = t
    iterations[rows] = count
    converged[rows] = ~active
    return Tau2Estimate(tau2, converged, iterations)


def _bracketing_fallback(batch: Batch, estimate: Tau2Estimate, reml: bool) -> Tau2Estimate:
    """A bracketing root search on the score for the analyses where Fisher scoring did not
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
    sub = _subset(batch, rows)
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
        f_hi[idx] = _score(_subset(sub, idx), hi[idx], reml)
        grow = (f_hi > 0) & (hi < 1e12)
    # Downwards: halve lo until the score turns positive; none above 1e-15 means tau² = 0.
    shrink = ~up & ~(f_lo > 0)
    for _ in range(200):
        if not shrink.any():
            break
        hi[shrink], f_hi[shrink], lo[shrink] = lo[shrink], f_lo[shrink], lo[shrink] / 2.0
        idx = np.flatnonzero(shrink)
        f_lo[idx] = _score(_subset(sub, idx), lo[idx], reml)
        shrink = shrink & ~(f_lo > 0) & (lo > 1e-3 * TOLERANCE)
    boundary = ~(f_lo > 0)
    tau2[rows[boundary]], converged[rows[boundary]] = 0.0, True
    keep = np.flatnonzero(~boundary)
    rows, sub, start = rows[keep], _subset(sub, keep), start[keep]
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
        ft = _score(_subset(sub, idx), trial, reml)
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
    idx = np.flatnonzero(estimate.converged & (estimate.tau2 > 0))
    if len(idx) == 0:
        return estimate
    one = _subset(batch, idx)
    zero = np.zeros(len(idx))
    worse = log_likelihood(one, zero, reml) > log_likelihood(one, estimate.tau2[idx], reml)
    tau2 = estimate.tau2.copy()
    tau2[idx[worse]] = 0.0
    return Tau2Estimate(tau2, estimate.converged, estimate.iterations)


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
