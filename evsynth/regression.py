"""Random-effects meta-regression (mixed-effects model), as metafor's ``rma.uni`` with ``mods``.

Model: yᵢ = xᵢᵀβ + uᵢ + εᵢ, uᵢ ~ N(0, tau²), εᵢ ~ N(0, vᵢ). β by weighted least squares with
weights 1/(vᵢ + tau²); the residual tau² by

* ``REML`` (default) or ``ML``: Fisher scoring (Viechtbauer 2005; Raudenbush 2009, eqs. 16.19
  and 16.23) from the generalised Hedges estimate, with step halving, kept in [0, ∞);
* ``DL``: method of moments on the fixed-effect residuals (Raudenbush 2009, eq. 16.15);
* ``EE``: tau² = 0.

Tests: ``ci_method="z"`` gives z tests and an omnibus χ² test QM of all slopes;
``"hksj"`` (Knapp & Hartung 2003) multiplies the covariance of β by
s² = Σ wᵢ eᵢ²/(k − p) and uses t(k − p) and F(m, k − p). QE tests residual heterogeneity with
fixed-effect weights on k − p df. The pseudo-R² is the share of tau² explained:
R² = max(0, 100·(tau²₀ − tau²)/tau²₀), tau²₀ from the model without moderators (Raudenbush
2009, eq. 16.26), as metafor reports it. I² and H² use s² = (k − p)/tr(P) with
fixed-effect weights (metafor's definition for models with moderators).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from evsynth.effects import as_float_arrays
from evsynth.errors import AnalysisInputError

REGRESSION_METHODS = ("REML", "ML", "DL", "EE")
TOLERANCE = 1e-12


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
    moderators: np.ndarray | pd.DataFrame | Sequence[float], k: int, names: Sequence[str] | None
) -> tuple[np.ndarray, list[str]]:
    """The design matrix [1, moderators] and its column names."""
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


def _tau2_reml_ml(x: np.ndarray, y: np.ndarray, v: np.ndarray, reml: bool) -> tuple[float, bool]:
    k, p = x.shape
    # Start: generalised Hedges (method of moments with OLS).
    hat = x @ np.linalg.pinv(x)
    resid = y - hat @ y
    tau2 = max(0.0, (resid @ resid - np.trace((np.eye(k) - hat) @ np.diag(v))) / (k - p))

    def loglik(t: float) -> float:
        w = 1 / (v + t)
        beta, xtwx_inv = _wls(x, y, w)
        e = y - x @ beta
        ll = -0.5 * (np.log(v + t).sum() + (w * e**2).sum())
        if reml:
            ll -= 0.5 * np.linalg.slogdet(np.linalg.inv(xtwx_inv))[1]
        return float(ll)

    ll = loglik(tau2)
    for _ in range(1000):
        w = 1 / (v + tau2)
        if reml:
            pm = _p_matrix(x, w)
            py = pm @ y
            score = 0.5 * (py @ py - np.trace(pm))
            info = 0.5 * np.trace(pm @ pm)
        else:
            beta, _ = _wls(x, y, w)
            e = y - x @ beta
            score = 0.5 * ((w**2 * e**2).sum() - w.sum())
            info = 0.5 * (w**2).sum()
        step = score / info
        candidate = max(0.0, tau2 + step)
        new_ll = loglik(candidate)
        halvings = 0
        while new_ll < ll - 1e-14 * abs(ll) and halvings < 30:
            step /= 2
            candidate = max(0.0, tau2 + step)
            new_ll = loglik(candidate)
            halvings += 1
        change = abs(candidate - tau2)
        tau2, ll = candidate, new_ll
        if change <= TOLERANCE * max(1.0, tau2):
            return tau2, True
    return tau2, False


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
    return _tau2_reml_ml(x, y, v, reml=method == "REML")


def meta_regression(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    moderators: np.ndarray | pd.DataFrame | Sequence[float],
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
    *,
    names: Sequence[str] | None = None,
) -> MetaRegressionResult:
    """Fit a mixed-effects meta-regression of ``yi`` on ``moderators`` (intercept added)."""
    if method not in REGRESSION_METHODS:
        raise AnalysisInputError(
            f"meta-regression method {method!r} is not one of {REGRESSION_METHODS}"
        )
    if ci_method not in ("z", "hksj"):
        raise AnalysisInputError(f"meta-regression ci_method {ci_method!r} is not z or hksj")
    arrays = as_float_arrays(None, yi=yi, vi=vi)
    y, v = arrays["yi"], arrays["vi"]
    if not (np.isfinite(y).all() and np.isfinite(v).all() and (v > 0).all()):
        raise AnalysisInputError("meta-regression: yi must be finite and vi positive")
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
    if ci_method == "hksj":
        e = y - x @ beta
        vcov = vcov * float((w * e**2).sum() / df_resid)
    se = np.sqrt(np.diag(vcov))
    statistic = beta / se
    crit = _critical(ci_method, level, df_resid)
    slopes = slice(1, p)
    m = p - 1
    qm = float(beta[slopes] @ np.linalg.solve(vcov[slopes, slopes], beta[slopes]))
    if ci_method == "z":
        p_values = 2 * stats.norm.sf(np.abs(statistic))
        qm_p = float(stats.chi2.sf(qm, m))
        qm_df_residual = float("nan")
    else:
        p_values = 2 * stats.t.sf(np.abs(statistic), df_resid)
        qm = qm / m
        qm_p = float(stats.f.sf(qm, m, df_resid))
        qm_df_residual = float(df_resid)

    p_fe = _p_matrix(x, 1 / v)
    qe = float(y @ p_fe @ y)
    typical = df_resid / np.trace(p_fe)
    i2 = 100 * tau2 / (tau2 + typical)
    h2 = (tau2 + typical) / typical
    tau2_null, _ = residual_tau2(np.ones((k, 1)), y, v, method)
    r2 = 100 * max(0.0, (tau2_null - tau2) / tau2_null) if tau2_null > 0 else 0.0

    return MetaRegressionResult(
        coef=beta,
        se=se,
        statistic=statistic,
        ci_low=beta - crit * se,
        ci_high=beta + crit * se,
        p_value=p_values,
        vcov=vcov,
        names=labels,
        qm=qm,
        qm_df=m,
        qm_df_residual=qm_df_residual,
        qm_pvalue=qm_p,
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
