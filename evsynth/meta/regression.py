"""Random-effects meta-regression (mixed-effects model), as metafor's ``rma.uni`` with ``mods``.

Model: yᵢ = xᵢᵀβ + uᵢ + εᵢ, uᵢ ~ N(0, tau²), εᵢ ~ N(0, vᵢ). β by weighted least squares with
weights 1/(vᵢ + tau²); the residual tau² by

* ``REML`` (default) or ``ML``: Fisher scoring (Viechtbauer 2005; Raudenbush 2009, eqs. 16.19
  and 16.23) from the generalised Hedges estimate, with step halving, kept in [0, ∞);
* ``DL``: method of moments on the fixed-effect residuals (Raudenbush 2009, eq. 16.15);
* ``HE``: the generalised Hedges estimator on OLS residuals (Raudenbush 2009, eq. 16.14);
* ``EE``: tau² = 0 (I², H² from QE and R² the adjusted R² of the weighted fit, as metafor).

Tests: ``ci_method="z"`` gives z tests and an omnibus χ² test QM of all slopes;
``"hksj"`` (Knapp & Hartung 2003) multiplies the covariance of β by
s² = Σ wᵢ eᵢ²/(k − p) and uses t(k − p) and F(m, k − p) with QM/m as the statistic
(metafor ``test="knha"``); ``"hksj_modified"`` truncates s² below at 1 (``test="adhoc"``).
An intercept-only model tests the intercept in QM (metafor's default ``btt``).

QE tests residual heterogeneity with fixed-effect weights on k − p df. The pseudo-R² is the
share of tau² explained, R² = max(0, 100·(tau²₀ − tau²)/tau²₀), tau²₀ from the model without
moderators (Raudenbush 2009, eq. 16.26), as metafor reports it. I² and H² use the typical
variance s² = (k − p)/tr(P) with fixed-effect weights (metafor's definition for models with
moderators).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from evsynth.errors import AnalysisInputError
from evsynth.meta.effects import as_float_arrays
from evsynth.meta.tau2 import Batch, estimate_tau2

REGRESSION_METHODS = ("REML", "ML", "DL", "HE", "EE")
CI_METHODS = ("z", "hksj", "hksj_modified")
TOLERANCE = 1e-12
MAX_ITER = 1000


@dataclass(frozen=True)
class MetaRegressionResult:
    """Coefficients (intercept first) with their tests, and the model's heterogeneity."""

    coef: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray
    vcov: np.ndarray
    names: list[str]
    qm: float
    qm_df: int
    qm_df_residual: float
    qm_pvalue: float
    tau2: float
    r2: float
    i2: float
    h2: float
    qe: float
    qe_df: int
    qe_pvalue: float
    k: int
    method: str
    ci_method: str
    level: float
    converged: bool

    def predict(self, moderators: np.ndarray | Sequence[float]) -> pd.DataFrame:
        """Fitted mean and its CI at new moderator values (rows without the intercept)."""
        x = np.atleast_2d(np.asarray(moderators, dtype=float))
        if x.shape[0] == 1 and len(self.coef) == 2:
            x = x.T
        design = np.column_stack([np.ones(len(x)), x])
        fit = design @ self.coef
        se = np.sqrt(np.einsum("ij,jk,ik->i", design, self.vcov, design))
        crit = _critical(self.ci_method, self.level, self.k - len(self.coef))
        return pd.DataFrame(
            {"fit": fit, "se": se, "ci_low": fit - crit * se, "ci_high": fit + crit * se}
        )


def _critical(ci_method: str, level: float, df: int) -> float:
    if ci_method == "z":
        return float(stats.norm.ppf(0.5 + level / 2))
    return float(stats.t.ppf(0.5 + level / 2, df))


def design_matrix(
    moderators: np.ndarray | pd.DataFrame | Sequence[float] | None,
    k: int,
    names: Sequence[str] | None,
) -> tuple[np.ndarray, list[str]]:
    """The design matrix [1, moderators] and its column names."""
    if moderators is None:
        moderators = np.empty((k, 0))
    if isinstance(moderators, pd.DataFrame):
        columns = [str(c) for c in moderators.columns]
        x = moderators.to_numpy(dtype=float)
    else:
        x = np.asarray(moderators, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        columns = [f"x{i + 1}" for i in range(x.shape[1])]
    if x.shape[0] != k:
        raise AnalysisInputError(f"moderators have {x.shape[0]} rows for {k} studies")
    if not np.isfinite(x).all():
        raise AnalysisInputError("moderators must be finite numbers (no missing values)")
    design = np.column_stack([np.ones(k), x])
    labels = ["intercept", *columns]
    if names is not None:
        labels = list(names)
        if len(labels) != design.shape[1]:
            raise AnalysisInputError(
                f"names has {len(labels)} entries for {design.shape[1]} columns"
            )
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise AnalysisInputError(
            "the moderators are collinear (the design matrix is not of full rank)"
        )
    return design, labels


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """β and (XᵀWX)⁻¹ for weights ``w``."""
    xtwx_inv = np.linalg.inv(x.T @ (w[:, None] * x))
    return xtwx_inv @ (x.T @ (w * y)), xtwx_inv


def _p_matrix(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """P = W − WX(XᵀWX)⁻¹XᵀW."""
    _, xtwx_inv = _wls(x, np.zeros(len(w)), w)
    wx = w[:, None] * x
    return np.diag(w) - wx @ xtwx_inv @ wx.T


def _log_likelihood(x: np.ndarray, y: np.ndarray, v: np.ndarray, tau2: float, reml: bool) -> float:
    """(Restricted) log-likelihood up to a constant (Viechtbauer 2005, eqs. 4 and 5)."""
    w = 1 / (v + tau2)
    beta, xtwx_inv = _wls(x, y, w)
    e = y - x @ beta
    ll = -0.5 * (np.log(v + tau2).sum() + (w * e**2).sum())
    if reml:
        ll += 0.5 * np.linalg.slogdet(xtwx_inv)[1]
    return float(ll)


def _score_information(
    x: np.ndarray, y: np.ndarray, v: np.ndarray, tau2: float, reml: bool
) -> tuple[float, float]:
    """Score and expected information of tau² (Viechtbauer 2005, eqs. 9-10, with P for X)."""
    w = 1 / (v + tau2)
    pm = _p_matrix(x, w)
    py = pm @ y
    if reml:
        return 0.5 * float(py @ py - np.trace(pm)), 0.5 * float(np.sum(pm * pm))
    return 0.5 * float(py @ py - w.sum()), 0.5 * float((w**2).sum())


def _tau2_reml_ml(x: np.ndarray, y: np.ndarray, v: np.ndarray, reml: bool) -> tuple[float, bool]:
    """Fisher scoring as metafor's ``rma.uni``: start at the generalised Hedges estimate,
    tau² ← tau² + score/information, halve a step that would make tau² negative (Viechtbauer
    2005); a step that crosses 0 while the score at 0 is ≤ 0 goes to the boundary exactly
    (the limit of the halvings, as :mod:`evsynth.meta.tau2`). metafor's ``ll0check``: a root whose
    likelihood is below the likelihood at tau² = 0 is replaced by 0."""
    tau2 = _tau2_he(x, y, v)
    score_zero = _score_information(x, y, v, 0.0, reml)[0]
    converged = False
    for _ in range(MAX_ITER):
        score, info = _score_information(x, y, v, tau2, reml)
        adj = score / info
        if tau2 + adj < 0:
            if score_zero <= 0 or tau2 <= 0:
                adj = -tau2
            else:
                while tau2 + adj < 0:
                    adj /= 2
        new = max(0.0, tau2 + adj)
        change = abs(new - tau2)
        tau2 = new
        if change <= TOLERANCE * max(1.0, tau2):
            converged = True
            break
    if not converged:
        return _maximise_likelihood(x, y, v, reml), False
    if tau2 > 0:
        ll0 = _log_likelihood(x, y, v, 0.0, reml)
        if ll0 > _log_likelihood(x, y, v, tau2, reml):
            tau2 = 0.0
    return tau2, converged


def _maximise_likelihood(x: np.ndarray, y: np.ndarray, v: np.ndarray, reml: bool) -> float:
    """Fallback when Fisher scoring oscillates (metafor stops with an error there): the global
    maximum of the (restricted) likelihood over tau² ∈ [0, upper], by a grid on a square-root
    scale refined with a bounded Brent search around the best grid point."""
    k, p = x.shape
    hat = x @ np.linalg.pinv(x)
    resid = y - hat @ y
    upper = max(10 * float(resid @ resid) / max(k - p, 1), 10 * float(v.max()), 1e-8)
    grid = np.linspace(0.0, np.sqrt(upper), 401) ** 2
    ll = np.array([_log_likelihood(x, y, v, t, reml) for t in grid])
    best = int(np.argmax(ll))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    found = optimize.minimize_scalar(
        lambda t: -_log_likelihood(x, y, v, t, reml),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-12 * max(1.0, high)},
    )
    if best == 0 and -found.fun <= ll[0]:
        return 0.0
    return float(found.x)


def _tau2_he(x: np.ndarray, y: np.ndarray, v: np.ndarray) -> float:
    """Generalised Hedges estimator: OLS residuals, tau² = (RSS − tr((I − H)V))/(k − p)
    (Raudenbush 2009, eq. 16.14)."""
    k, p = x.shape
    hat = x @ np.linalg.pinv(x)
    resid = y - hat @ y
    return max(0.0, float(resid @ resid - np.sum((1 - np.diag(hat)) * v)) / (k - p))


def _tau2_dl(x: np.ndarray, y: np.ndarray, v: np.ndarray) -> float:
    k, p = x.shape
    w = 1 / v
    pm = _p_matrix(x, w)
    qe = float(y @ pm @ y)
    return max(0.0, (qe - (k - p)) / np.trace(pm))


def residual_tau2(x: np.ndarray, y: np.ndarray, v: np.ndarray, method: str) -> tuple[float, bool]:
    """Residual tau² of the mixed-effects model with design ``x``."""
    if method == "EE":
        return 0.0, True
    if method == "DL":
        return _tau2_dl(x, y, v), True
    if method == "HE":
        return _tau2_he(x, y, v), True
    return _tau2_reml_ml(x, y, v, reml=method == "REML")


def _pseudo_r2(
    y: np.ndarray, v: np.ndarray, tau2: float, qe: float, k: int, p: int, method: str
) -> float:
    """metafor's R² in percent: max(0, 100·(tau²₀ − tau²)/tau²₀) with tau²₀ of the
    intercept-only model from :func:`evsynth.meta.tau2.estimate_tau2` (the estimator ``pool`` uses;
    Raudenbush 2009, eq. 16.26), 0 when tau²₀ = 0; for EE the adjusted R² of the weighted
    least-squares fit, 100·(1 − (QE/(k − p))/(Q/(k − 1))). NaN for an intercept-only model."""
    if p == 1:
        return float("nan")
    if method == "EE":
        p_null = _p_matrix(np.ones((k, 1)), 1 / v)
        q0 = float(y @ p_null @ y)
        if q0 <= 0:
            return 0.0
        return 100 * max(0.0, 1 - (qe / (k - p)) / (q0 / (k - 1)))
    tau2_null = float(estimate_tau2(Batch.single(y, v), method).tau2[0])
    if tau2_null <= 0:
        return 0.0
    return 100 * max(0.0, (tau2_null - tau2) / tau2_null)


def _checked_inputs(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    method: str,
    ci_method: str,
    level: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``yi`` and ``vi`` as float arrays, after checking them and the settings: a clear
    error names the first value or setting that cannot enter a meta-regression."""
    if method not in REGRESSION_METHODS:
        raise AnalysisInputError(
            f"meta-regression method {method!r} is not one of {REGRESSION_METHODS}"
        )
    if ci_method not in CI_METHODS:
        raise AnalysisInputError(
            f"meta-regression ci_method {ci_method!r} is not one of {CI_METHODS}"
        )
    if not 0 < level < 1:
        raise AnalysisInputError(f"level {level!r} must lie between 0 and 1")
    arrays = as_float_arrays(None, yi=yi, vi=vi)
    y, v = arrays["yi"], arrays["vi"]
    for label, values in (("yi", y), ("vi", v)):
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise AnalysisInputError(
                f"meta-regression: {label}[{bad[0]}] is {values[bad[0]]}, not a finite number"
            )
    if (v <= 0).any():
        i = int(np.flatnonzero(v <= 0)[0])
        raise AnalysisInputError(f"meta-regression: vi[{i}] = {v[i]} is not positive")
    return y, v


@dataclass(frozen=True)
class _Omnibus:
    """The coefficients' p values and the omnibus test of the moderators (QM)."""

    p_values: np.ndarray
    qm: float
    df: int
    df_residual: float  # the F test's denominator df (NaN for the χ² test)
    p_value: float


def _omnibus(
    beta: np.ndarray,
    vcov: np.ndarray,
    statistic: np.ndarray,
    ci_method: str,
    df_resid: int,
) -> _Omnibus:
    """Wald tests of each coefficient and QM of every slope (the intercept alone for an
    intercept-only model, metafor's ``btt``): z and χ²(m) for ``ci_method="z"``; t(k − p)
    and F(m, k − p) = QM/m for the Knapp–Hartung methods (metafor ``test="knha"``)."""
    p = len(beta)
    tested = slice(1, p) if p > 1 else slice(0, 1)
    m = max(p - 1, 1)
    qm = float(beta[tested] @ np.linalg.solve(vcov[tested, tested], beta[tested]))
    if ci_method == "z":
        p_values = 2 * stats.norm.sf(np.abs(statistic))
        return _Omnibus(p_values, qm, m, float("nan"), float(stats.chi2.sf(qm, m)))
    p_values = 2 * stats.t.sf(np.abs(statistic), df_resid)
    qm = qm / m
    return _Omnibus(p_values, qm, m, float(df_resid), float(stats.f.sf(qm, m, df_resid)))


def _residual_heterogeneity(
    x: np.ndarray, y: np.ndarray, v: np.ndarray, tau2: float, method: str
) -> tuple[float, float, float]:
    """QE (the test for residual heterogeneity), I² and H², as metafor computes them: from QE
    for an equal-effects model; otherwise from tau² and the "typical" within-study variance
    (k − p)/tr(P), ``i2def = "1"``."""
    df_resid = x.shape[0] - x.shape[1]
    p_fe = _p_matrix(x, 1 / v)
    qe = max(0.0, float(y @ p_fe @ y))
    if method == "EE":
        i2 = 100 * max(0.0, (qe - df_resid) / qe) if qe > 0 else 0.0
        return qe, i2, qe / df_resid
    typical = df_resid / np.trace(p_fe)
    return qe, 100 * tau2 / (tau2 + typical), (tau2 + typical) / typical


def meta_regression(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    moderators: np.ndarray | pd.DataFrame | Sequence[float] | None,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
    *,
    names: Sequence[str] | None = None,
) -> MetaRegressionResult:
    """Fit a mixed-effects meta-regression of ``yi`` on ``moderators`` (intercept added).

    ``moderators``: a 1-D array (one moderator), a k × m array, a DataFrame (its column names
    become ``names``) or ``None`` / a k × 0 array for the intercept-only model, which equals
    :func:`evsynth.meta.pooling.pool`. ``method``: "REML" (default), "ML", "DL", "HE" or "EE".
    ``ci_method``: "z", "hksj" (Knapp & Hartung 2003; metafor ``test="knha"``) or
    "hksj_modified" (s² ≥ 1; metafor ``test="adhoc"``). ``names`` overrides the coefficient
    names (intercept first). β̂ = (XᵀWX)⁻¹XᵀWy, Var(β̂) = (XᵀWX)⁻¹ with W = diag(1/(vᵢ + tau²))
    (Raudenbush 2009, eqs. 16.5-16.6). ``converged`` is False when Fisher scoring did not
    converge in MAX_ITER steps; tau² is then the global maximum of the (restricted)
    likelihood found by a grid and Brent search (metafor stops with an error instead).
    """
    y, v = _checked_inputs(yi, vi, method, ci_method, level)
    x, labels = design_matrix(moderators, len(y), names)
    k, p = x.shape
    if k <= p:
        raise AnalysisInputError(
            f"meta-regression needs more studies ({k}) than coefficients ({p})"
        )

    tau2, converged = residual_tau2(x, y, v, method)
    w = 1 / (v + tau2)
    beta, vcov = _wls(x, y, w)
    df_resid = k - p
    if ci_method != "z":
        # Knapp & Hartung (2003): s² = Σ wᵢ eᵢ²/(k − p); metafor test="adhoc" keeps s² ≥ 1.
        e = y - x @ beta
        s2 = float((w * e**2).sum() / df_resid)
        if ci_method == "hksj_modified":
            s2 = max(s2, 1.0)
        vcov = vcov * s2
    se = np.sqrt(np.diag(vcov))
    statistic = beta / se
    crit = _critical(ci_method, level, df_resid)
    omnibus = _omnibus(beta, vcov, statistic, ci_method, df_resid)
    qe, i2, h2 = _residual_heterogeneity(x, y, v, tau2, method)
    r2 = _pseudo_r2(y, v, tau2, qe, k, p, method)
    return MetaRegressionResult(
        coef=beta,
        se=se,
        statistic=statistic,
        ci_low=beta - crit * se,
        ci_high=beta + crit * se,
        p_value=omnibus.p_values,
        vcov=vcov,
        names=labels,
        qm=omnibus.qm,
        qm_df=omnibus.df,
        qm_df_residual=omnibus.df_residual,
        qm_pvalue=omnibus.p_value,
        tau2=float(tau2),
        r2=float(r2),
        i2=float(i2),
        h2=float(h2),
        qe=qe,
        qe_df=df_resid,
        qe_pvalue=float(stats.chi2.sf(qe, df_resid)),
        k=k,
        method=method,
        ci_method=ci_method,
        level=level,
        converged=converged,
    )
