"""One-stage dose–response meta-analysis of aggregated data (Crippa et al. 2019).

Each row of the input is one non-reference arm of a study, compared with that study's
reference (control) arm: the log risk ratio yᵢⱼ against the reference, with the counts that
give it. The model (Crippa, Discacciati, Bottai, Spiegelman & Orsini 2019, Stat Methods Med
Res 28:1579, eqs. 1-3) is a linear mixed model for all rows at once::

    yᵢ = Xᵢβ + Xᵢbᵢ + εᵢ,   bᵢ ~ N(0, Ψ),   εᵢ ~ N(0, Sᵢ),

with Xᵢ the dose terms of study i's arms minus those of its reference dose (so the curve is
log RR = f(dose) − f(reference), through the origin), random slopes bᵢ with an unstructured
p × p covariance Ψ (metafor ``struct = "GEN"``), and Sᵢ the known within-study covariance of
the log RRs. A study with one non-reference arm contributes one row; it informs Ψ through the
variation between studies, as in the one-stage model.

Within-study covariance (Gleser & Olkin 2009; metafor ``vcalc``): Var(yᵢⱼ) = 1/aᵢⱼ − 1/nᵢⱼ +
1/a₀ᵢ − 1/n₀ᵢ and, for two arms that share the reference arm, Cov(yᵢⱼ, yᵢₖ) = 1/a₀ᵢ − 1/n₀ᵢ,
so the covariance of all rows is block-diagonal by study. Continuity correction as metafor's
``escalc`` (``add = 1/2, to = "only0"``) applied per study: when any 2×2 table of a study has a
zero cell, 1/2 is added to every cell of every table of that study, so that its shared
reference arm is the same in every row (for a study with one non-reference arm this is exactly
``escalc``).

Estimation: β̂ = (Σ XᵢᵀΣᵢ⁻¹Xᵢ)⁻¹ Σ XᵢᵀΣᵢ⁻¹yᵢ with Σᵢ = XᵢΨXᵢᵀ + Sᵢ, and
Var(β̂) = (Σ XᵢᵀΣᵢ⁻¹Xᵢ)⁻¹ (Crippa et al. 2019, eq. 4). Ψ maximises the restricted
(``REML``) or full (``ML``) log-likelihood, written as metafor's ``rma.mv`` reports it
(Harville 1977; the REML form includes +½ log|XᵀX|, so it does not depend on the units of
dose)::

    ℓ_ML   = −½ [n log 2π + Σ log|Σᵢ| + Σ rᵢᵀΣᵢ⁻¹rᵢ]
    ℓ_REML = −½ [(n − p) log 2π − log|XᵀX| + Σ log|Σᵢ| + log|Σ XᵢᵀΣᵢ⁻¹Xᵢ| + Σ rᵢᵀΣᵢ⁻¹rᵢ]

with rᵢ = yᵢ − Xᵢβ̂. Its gradient in Ψ is ½ Σ (XᵢᵀΣᵢ⁻¹rᵢ rᵢᵀΣᵢ⁻¹Xᵢ − Aᵢ) plus, for REML,
½ Σ Aᵢ H⁻¹ Aᵢ, with Aᵢ = XᵢᵀΣᵢ⁻¹Xᵢ and H = Σ Aᵢ (Searle, Casella & McCulloch 1992, §6.3
and §6.6). The linear model (one random slope, τ² = Ψ) is maximised over τ² ∈ [0, ∞)
exactly: a grid brackets the global maximum and a root of the score refines it; τ² = 0 when
the score at 0 is ≤ 0 and the grid's best point is 0. Models with p ≥ 2 terms maximise over
the Cholesky factor L of Ψ = LLᵀ (every positive semi-definite Ψ, so a singular Ψ on the
boundary is reachable) by BFGS from several starts, then Newton steps with a numerical
Hessian of the analytic gradient; the design is scaled to unit root-mean-square columns for
the optimisation and the results are scaled back.

Adjusted estimates (columns ``yi``, ``vi`` with each category's cases and total): the
covariance of a study's log ratios is reconstructed from Greenland & Longnecker (1992) fitted
cells (:func:`greenland_longnecker`), and the same model is fitted.

Dose terms: ``linear`` f = β·dose; ``quadratic`` f = β₁·dose + β₂·dose²; ``spline`` a
restricted cubic spline (Harrell 2015, Regression Modeling Strategies, §2.4.5), with the basis
of ``rms::rcspline.eval(x, knots, inclx = TRUE)`` (Devlin & Weeks 1986 truncated-power terms
divided by (t_k − t₁)², rms's default ``norm = 2``). Default knots: three, at the 10th, 50th
and 90th percentiles (R's ``quantile`` type 7) of the non-reference arms' doses — the placement
Harrell recommends for three knots (RMS Table 2.3, the default quantiles of
``rcspline.eval``) and that Orsini et al. (2012, Am J Epidemiol 175:66) used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import optimize, stats

from evsynth.errors import AnalysisInputError
from evsynth.meta.effects import as_float_arrays

MODELS = ("linear", "quadratic", "spline")
METHODS = ("REML", "ML")
COUNT_COLUMNS = ("events_treat", "n_treat", "events_control", "n_control")
GL_DESIGNS = ("ci", "ir", "cc")
CONTINUITY = 0.5
DEFAULT_KNOT_QUANTILES = (0.10, 0.50, 0.90)
GRADIENT_TOLERANCE = 1e-8
MAX_NEWTON = 100
LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class DoseResponseResult:
    """A fitted dose–response curve: log RR = f(dose) − f(reference).

    ``coef``/``se``/``vcov``: the fixed dose terms β (in the units of ``dose``; ``names``
    says which term each is). ``psi``: Ψ, the p × p covariance of the random slopes between
    studies; ``tau2`` its diagonal (for the linear model, ``tau2[0]`` is the variance of the
    slope per unit dose). ``psi_on_boundary``: Ψ is singular (a zero variance, or a
    correlation of ±1). ``nonlinear_*``: Wald test that the non-linear terms are zero
    (quadratic: β₂; spline: every term but the first; NaN for the linear model).
    """

    coef: np.ndarray
    se: np.ndarray
    vcov: np.ndarray
    tau2: np.ndarray
    psi: np.ndarray
    names: list[str]
    knots: np.ndarray | None
    k_studies: int
    n_rows: int
    method: str
    model: str
    log_likelihood: float
    converged: bool
    psi_on_boundary: bool
    nonlinear_chi2: float
    nonlinear_df: int
    nonlinear_pvalue: float

    def design_matrix(
        self, doses: Sequence[float] | np.ndarray, reference: float = 0.0
    ) -> np.ndarray:
        """Dose terms of ``doses`` minus those of ``reference`` (one row per dose)."""
        x = np.atleast_1d(np.asarray(doses, dtype=float))
        ref = np.full(len(x), float(reference))
        return dose_terms(x, self.model, self.knots) - dose_terms(ref, self.model, self.knots)

    def predict(
        self,
        doses: Sequence[float] | np.ndarray,
        level: float = 0.95,
        *,
        reference: float = 0.0,
    ) -> pd.DataFrame:
        """Pooled log RR and RR at ``doses`` against ``reference`` (default dose 0).

        log RR = x(d)ᵀβ̂ with x(d) the dose terms of d minus those of the reference, SE =
        √(x(d)ᵀ Var(β̂) x(d)); the Wald interval exp(log RR ± z·SE) on the RR scale.
        """
        if not 0 < level < 1:
            raise AnalysisInputError(f"level {level!r} must lie between 0 and 1")
        x = self.design_matrix(doses, reference)
        if not np.isfinite(x).all():
            raise AnalysisInputError("doses to predict at must be finite numbers")
        fit = x @ self.coef
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", x, self.vcov, x), 0.0))
        z = float(stats.norm.ppf(0.5 + level / 2))
        return pd.DataFrame(
            {
                "dose": np.atleast_1d(np.asarray(doses, dtype=float)),
                "log_rr": fit,
                "se": se,
                "rr": np.exp(fit),
                "ci_low": np.exp(fit - z * se),
                "ci_high": np.exp(fit + z * se),
            }
        )


# ---------------------------------------------------------------------------------------
# Dose terms


def spline_basis(
    x: Sequence[float] | np.ndarray, knots: Sequence[float] | np.ndarray
) -> np.ndarray:
    """Restricted cubic spline basis, ``rms::rcspline.eval(x, knots, inclx = TRUE)``.

    Columns: x, then for j = 1, …, k − 2 (Devlin & Weeks 1986; Harrell 2015, eq. 2.25)
    [(x − tⱼ)₊³ − (x − t_{k−1})₊³ (t_k − tⱼ)/(t_k − t_{k−1}) + (x − t_k)₊³ (t_{k−1} − tⱼ)/
    (t_k − t_{k−1})] / (t_k − t₁)²  (rms's ``norm = 2``). Linear beyond the outer knots.
    """
    values = np.atleast_1d(np.asarray(x, dtype=float))
    t = np.asarray(knots, dtype=float)
    k = len(t)
    scale = (t[-1] - t[0]) ** 2
    last, before_last = t[-1], t[-2]

    def cube(shift: float) -> np.ndarray:
        return np.maximum(values - shift, 0.0) ** 3

    columns = [values]
    for j in range(k - 2):
        term = (
            cube(t[j])
            - cube(before_last) * (last - t[j]) / (last - before_last)
            + cube(last) * (before_last - t[j]) / (last - before_last)
        )
        columns.append(term / scale)
    return np.column_stack(columns)


def dose_terms(doses: np.ndarray, model: str, knots: np.ndarray | None) -> np.ndarray:
    """The model's dose terms g(dose): [d], [d, d²] or the spline basis (one row per dose)."""
    d = np.asarray(doses, dtype=float)
    if model == "linear":
        return d[:, None]
    if model == "quadratic":
        return np.column_stack([d, d**2])
    assert knots is not None
    return spline_basis(d, knots)


def term_names(dose: str, model: str, knots: np.ndarray | None) -> list[str]:
    """Coefficient names: ``dose``, ``dose^2``, or rms's ``dose``, ``dose'``, ``dose''``…"""
    if model == "linear":
        return [dose]
    if model == "quadratic":
        return [dose, f"{dose}^2"]
    assert knots is not None
    return [dose + "'" * j for j in range(len(knots) - 1)]


def default_knots(doses: np.ndarray) -> np.ndarray:
    """Three knots at the 10th, 50th and 90th percentiles (R ``quantile`` type 7)."""
    return np.quantile(doses, DEFAULT_KNOT_QUANTILES)


def _check_knots(knots: Sequence[float] | np.ndarray | None, doses: np.ndarray) -> np.ndarray:
    if knots is None:
        found = default_knots(doses)
        if len(np.unique(found)) < 3:
            raise AnalysisInputError(
                f"the default spline knots (10th, 50th and 90th percentiles of the doses: "
                f"{', '.join(f'{v:g}' for v in found)}) are not three distinct values; "
                "give knots=[...] explicitly"
            )
        return found
    try:
        values = np.asarray(knots, dtype=float)
    except (TypeError, ValueError):
        raise AnalysisInputError(f"knots {knots!r} are not numbers") from None
    if values.ndim != 1 or len(values) < 3:
        raise AnalysisInputError("a restricted cubic spline needs at least 3 knots")
    if not np.isfinite(values).all() or (np.diff(values) <= 0).any():
        raise AnalysisInputError(f"knots {values.tolist()} must be finite and strictly increasing")
    return values


# ---------------------------------------------------------------------------------------
# Input table → rows, log RRs and block covariance


@dataclass(frozen=True)
class _Rows:
    """The analysable rows in input order: study codes, labels, log RR and blocks."""

    study: np.ndarray  # integer code per row (0 … K−1, order of first appearance)
    labels: list[Any]  # study_id per code
    dose: np.ndarray
    reference: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    shared: np.ndarray  # the reference arm's share s₀ of the row's variance
    scale: np.ndarray  # wⱼ: Cov(yⱼ, yₖ) = s₀·wⱼ·wₖ (1 for crude counts; GL: √(vⱼ/sⱼ))


def _where(table: pd.DataFrame, position: int) -> str:
    label = table.index[position]
    return f"row {label!r} (study {table['study_id'].iloc[position]!r})"


def _numeric(table: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raw = table[column].iloc[bad[0]]
        raise AnalysisInputError(
            f"dose-response: {_where(table, int(bad[0]))}: {column} = {raw!r} is not a "
            "finite number"
        )
    return values


def _check_table(table: pd.DataFrame, dose: str, dose_control: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise AnalysisInputError("dose-response: table must be a pandas DataFrame")
    present = set(map(str, table.columns))
    missing = [c for c in ("study_id", dose, *COUNT_COLUMNS) if c not in present]
    if missing and {"yi", "vi"} <= present:
        raise AnalysisInputError(
            f"dose-response: the table gives adjusted estimates (yi, vi) but lacks column(s) "
            f"{', '.join(missing)}; their covariance (Greenland & Longnecker 1992) needs the "
            "cases and the total (persons, person-time, or cases + controls) of each category: "
            "events_treat/n_treat for the row's category, events_control/n_control for the "
            "reference category"
        )
    if missing:
        raise AnalysisInputError(
            f"dose-response: the table lacks column(s) {', '.join(missing)} (one row per "
            "non-reference arm: study_id, the dose, events_treat, n_treat, events_control, "
            "n_control)"
        )
    if len(table) == 0:
        raise AnalysisInputError("dose-response: the table has no rows")
    ids = table["study_id"]
    if ids.isna().any():
        i = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise AnalysisInputError(f"dose-response: row {table.index[i]!r} has no study_id")
    if dose_control == dose:
        raise AnalysisInputError("dose-response: dose and dose_control name the same column")


def _check_counts(
    table: pd.DataFrame, values: dict[str, np.ndarray], person_time: np.ndarray | None = None
) -> None:
    """Non-negative counts, no empty arm, events ≤ n (except where n is person-time)."""
    for column, array in values.items():
        negative = np.flatnonzero(array < 0)
        if len(negative):
            i = int(negative[0])
            raise AnalysisInputError(
                f"dose-response: {_where(table, i)}: {column} = {array[i]:g} is negative"
            )
    for n_col in ("n_treat", "n_control"):
        empty = np.flatnonzero(values[n_col] == 0)
        if len(empty):
            raise AnalysisInputError(
                f"dose-response: {_where(table, int(empty[0]))}: {n_col} = 0, an arm with no "
                "participants"
            )
    for events, total in (("events_treat", "n_treat"), ("events_control", "n_control")):
        exceeds = values[events] > values[total]
        if person_time is not None:
            exceeds &= ~person_time
        over = np.flatnonzero(exceeds)
        if len(over):
            i = int(over[0])
            raise AnalysisInputError(
                f"dose-response: {_where(table, i)}: {events} ({values[events][i]:g}) exceeds "
                f"{total} ({values[total][i]:g})"
            )


def _check_shared_reference(
    table: pd.DataFrame, codes: np.ndarray, reference: dict[str, np.ndarray]
) -> None:
    """Rows of one study share one reference arm: its counts and dose must agree."""
    for column, values in reference.items():
        for code in np.unique(codes):
            rows = np.flatnonzero(codes == code)
            if np.ptp(values[rows]) > 0:
                i = int(rows[np.argmax(values[rows] != values[rows[0]])])
                raise AnalysisInputError(
                    f"dose-response: {_where(table, i)}: {column} = {values[i]:g} differs from "
                    f"{values[rows[0]]:g} on {_where(table, int(rows[0]))}; the rows of a study "
                    "share one reference arm, so repeat its values on each row"
                )


def _log_rr(values: dict[str, np.ndarray], codes: np.ndarray) -> tuple[np.ndarray, ...]:
    """log RR, its variance and the reference arm's variance share per row.

    metafor ``escalc(measure = "RR")`` with ``add = 1/2`` to every cell of every table of a
    study that has a zero cell in any of its tables (see the module docstring).
    """
    a, n1 = values["events_treat"], values["n_treat"]
    c, n2 = values["events_control"], values["n_control"]
    zero = (a == 0) | (a == n1) | (c == 0) | (c == n2)
    study_zero = np.zeros(codes.max() + 1, dtype=bool)
    np.logical_or.at(study_zero, codes, zero)
    add = np.where(study_zero[codes], CONTINUITY, 0.0)
    a_, n1_ = a + add, n1 + 2 * add
    c_, n2_ = c + add, n2 + 2 * add
    yi = np.log(a_ / n1_) - np.log(c_ / n2_)
    shared = 1 / c_ - 1 / n2_
    vi = 1 / a_ - 1 / n1_ + shared
    return yi, vi, shared


def _rows(table: pd.DataFrame, dose: str, dose_control: str, design: str | None = None) -> _Rows:
    _check_table(table, dose, dose_control)
    codes, labels = pd.factorize(table["study_id"], sort=False)
    values = {column: _numeric(table, column) for column in COUNT_COLUMNS}
    adjusted = {"yi", "vi"} <= set(map(str, table.columns))
    designs = _designs(table, codes, design) if adjusted else None
    _check_counts(table, values, None if designs is None else designs == "ir")
    doses = _numeric(table, dose)
    has_reference = dose_control in set(map(str, table.columns))
    reference = _numeric(table, dose_control) if has_reference else np.zeros(len(doses))
    for column, array in ((dose, doses), (dose_control, reference)):
        negative = np.flatnonzero(array < 0)
        if len(negative):
            i = int(negative[0])
            raise AnalysisInputError(
                f"dose-response: {_where(table, i)}: {column} = {array[i]:g} is negative"
            )
    same = np.flatnonzero(doses == reference)
    if len(same):
        i = int(same[0])
        raise AnalysisInputError(
            f"dose-response: {_where(table, i)}: the arm's {dose} ({doses[i]:g}) equals its "
            "reference dose; a row compares a dose with the study's reference arm"
        )
    _check_shared_reference(
        table,
        codes,
        {
            "events_control": values["events_control"],
            "n_control": values["n_control"],
            dose_control: reference,
        },
    )
    if designs is None:
        yi, vi, shared = _log_rr(values, codes)
        return _Rows(codes, list(labels), doses, reference, yi, vi, shared, np.ones(len(yi)))
    yi, vi = _adjusted_estimates(table)
    shared, scale = _gl_covariance_rows(table, codes, values, yi, vi, designs)
    return _Rows(codes, list(labels), doses, reference, yi, vi, shared, scale)


def _designs(table: pd.DataFrame, codes: np.ndarray, design: str | None) -> np.ndarray:
    """The study design per row: the table's ``type`` column, else ``design``."""
    if "type" in set(map(str, table.columns)):
        designs = table["type"].astype(str).to_numpy()
    elif design is None:
        raise AnalysisInputError(
            "dose-response: adjusted estimates (yi, vi) need the study design for their "
            "covariance: give design='ci' (cumulative incidence, n = persons), 'ir' (incidence "
            "rate, n = person-time) or 'cc' (case-control, n = cases + controls), or a type "
            "column"
        )
    else:
        designs = np.full(len(table), design)
    bad = np.flatnonzero(~np.isin(designs, GL_DESIGNS))
    if len(bad):
        i = int(bad[0])
        raise AnalysisInputError(
            f"dose-response: {_where(table, i)}: design {str(designs[i])!r} is not one of "
            f"{GL_DESIGNS}"
        )
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        if len(set(designs[rows])) > 1:
            raise AnalysisInputError(
                f"dose-response: {_where(table, int(rows[0]))}: the rows of a study must share "
                "one design (type)"
            )
    return designs


def _adjusted_estimates(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    yi, vi = _numeric(table, "yi"), _numeric(table, "vi")
    bad = np.flatnonzero(vi <= 0)
    if len(bad):
        i = int(bad[0])
        raise AnalysisInputError(
            f"dose-response: {_where(table, i)}: vi = {vi[i]:g} is not a positive variance"
        )
    return yi, vi


def _gl_covariance_rows(
    table: pd.DataFrame,
    codes: np.ndarray,
    values: dict[str, np.ndarray],
    yi: np.ndarray,
    vi: np.ndarray,
    designs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """s₀ and wⱼ per row from :func:`greenland_longnecker`, study by study. A study with one
    row needs no covariance (s₀ = 0, w = 1)."""
    shared, scale = np.zeros(len(yi)), np.ones(len(yi))
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        if len(rows) < 2:
            continue
        first = rows[0]
        cases = np.concatenate([[values["events_control"][first]], values["events_treat"][rows]])
        totals = np.concatenate([[values["n_control"][first]], values["n_treat"][rows]])
        try:
            fitted = greenland_longnecker(yi[rows], vi[rows], cases, totals, designs[first])
        except AnalysisInputError as error:
            raise AnalysisInputError(
                f"dose-response: study {table['study_id'].iloc[first]!r}: {error}"
            ) from None
        shared[rows] = fitted.reference_share
        scale[rows] = np.sqrt(vi[rows] / fitted.arm_shares)
    return shared, scale


# ---------------------------------------------------------------------------------------
# Adjusted estimates: Greenland & Longnecker (1992) pseudo-counts


class PseudoCounts(NamedTuple):
    """Fitted cases of each category (reference first), the reference category's share s₀ of
    the variance of a log ratio, each row's sⱼ = s₀ + its own share, and the covariance."""

    cases: np.ndarray
    reference_share: float
    arm_shares: np.ndarray
    covariance: np.ndarray


def _log_ratio_terms(design: str, a: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, ...]:
    """g(A) (log odds of being a case, or log risk/rate), g′(A) and the variance share."""
    if design == "cc":
        return np.log(a) - np.log(n - a), 1 / a + 1 / (n - a), 1 / a + 1 / (n - a)
    share = 1 / a - 1 / n if design == "ci" else 1 / a
    return np.log(a) - np.log(n), 1 / a, share


def _fit_pseudo_cases(y: np.ndarray, cases: np.ndarray, n: np.ndarray, design: str) -> np.ndarray:
    """Cases A*ⱼ with the observed total of cases and totals nⱼ whose crude log ratios against
    the reference equal the reported yⱼ (Greenland & Longnecker 1992, the fitted cells).

    Incidence rates ("ir") and risks ("ci"): A*ⱼ = A*₀ e^{yⱼ} nⱼ/n₀ in closed form. Odds
    ("cc"): Newton's method on A*₁…A*_J with A*₀ = total − Σ A*ⱼ, from the observed cases."""
    total = float(cases.sum())
    if design in ("ir", "ci"):
        ratio = np.exp(y) * n[1:] / n[0]
        a0 = total / (1 + ratio.sum())
        fitted = np.concatenate([[a0], a0 * ratio])
        if design == "ci" and (fitted >= n).any():
            raise AnalysisInputError(
                "the fitted cases exceed a category's total: the reported risk ratios do not "
                "fit these counts"
            )
        return fitted
    a = np.clip(cases[1:].astype(float), 0.5, n[1:] - 0.5)
    for _ in range(MAX_NEWTON):
        a0 = total - a.sum()
        g, slope, _ = _log_ratio_terms(design, np.concatenate([[a0], a]), n)
        error = g[1:] - g[0] - y
        if np.max(np.abs(error)) < 1e-13:
            return np.concatenate([[a0], a])
        jacobian = np.diag(slope[1:]) + slope[0]
        step = np.linalg.solve(jacobian, error)
        for _ in range(60):
            trial = a - step
            trial0 = total - trial.sum()
            if (trial > 0).all() and (trial < n[1:]).all() and 0 < trial0 < n[0]:
                break
            step = step / 2
        else:
            break
        a = trial
    raise AnalysisInputError("the Greenland-Longnecker pseudo-counts did not converge")


def greenland_longnecker(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    cases: Sequence[float] | np.ndarray,
    n: Sequence[float] | np.ndarray,
    design: str,
) -> PseudoCounts:
    """Covariance of a study's adjusted log ratios against one reference category.

    ``yi``, ``vi``: the reported (adjusted) log ratios of the J non-reference categories and
    their variances; ``cases``, ``n``: cases and totals of all J + 1 categories, reference
    first; ``design``: "ci" (cumulative incidence: log RR, n = persons), "ir" (incidence rate:
    log rate ratio, n = person-time) or "cc" (case-control: log OR, n = cases + controls).

    Greenland & Longnecker (1992): fitted cases A*ⱼ that keep the totals nⱼ and the total
    number of cases and reproduce the reported ratios (:func:`_fit_pseudo_cases`). Their
    variance shares sⱼ (cc: 1/A* + 1/(n − A*); ci: 1/A* − 1/n; ir: 1/A*) give the correlation
    r_jk = s₀/√((s₀ + sⱼ)(s₀ + sₖ)) of two log ratios sharing the reference, and the
    covariance r_jk·√(vⱼvₖ) with the reported variances on the diagonal — the form of
    dosresmeta's ``covar.logrr(..., covariance = "gl")`` (Crippa & Orsini 2016). For "ci",
    dosresmeta fits the cells to odds ratios; here they reproduce the risk ratios that are
    reported.
    """
    if design not in GL_DESIGNS:
        raise AnalysisInputError(f"design {design!r} is not one of {GL_DESIGNS}")
    arrays = as_float_arrays(None, yi=yi, vi=vi)
    counts = as_float_arrays(None, cases=cases, n=n)
    y, v = arrays["yi"], arrays["vi"]
    a, total = counts["cases"], counts["n"]
    if len(a) != len(y) + 1:
        raise AnalysisInputError("cases and n need one entry per category, the reference first")
    if (a <= 0).any() or (total <= 0).any() or (v <= 0).any():
        raise AnalysisInputError(
            "the Greenland-Longnecker covariance needs cases > 0 in every category, "
            "positive totals and positive variances"
        )
    fitted = _fit_pseudo_cases(y, a, total, design)
    _, _, share = _log_ratio_terms(design, fitted, total)
    arm_shares = share[0] + share[1:]
    correlation = share[0] / np.sqrt(np.outer(arm_shares, arm_shares))
    np.fill_diagonal(correlation, 1.0)
    covariance = correlation * np.sqrt(np.outer(v, v))
    return PseudoCounts(fitted, float(share[0]), arm_shares, covariance)


# ---------------------------------------------------------------------------------------
# The (restricted) likelihood, batched over studies of equal size


@dataclass(frozen=True)
class _Blocks:
    """Studies grouped by their number of rows and stacked: x (G, m, p), y (G, m), s (G, m, m)."""

    x: list[np.ndarray]
    y: list[np.ndarray]
    s: list[np.ndarray]
    n: int
    p: int
    logdet_xtx: float


@dataclass(frozen=True)
class _Evaluation:
    loglik: float
    beta: np.ndarray
    information: np.ndarray  # H = Σ XᵢᵀΣᵢ⁻¹Xᵢ, so Var(β̂) = H⁻¹
    gradient: np.ndarray  # ∂ℓ/∂Ψ (symmetric p × p)


def _blocks(rows: _Rows, x: np.ndarray) -> _Blocks:
    counts = np.bincount(rows.study)
    xs, ys, ss = [], [], []
    for m in np.unique(counts):
        studies = np.flatnonzero(counts == m)
        index = np.stack([np.flatnonzero(rows.study == s) for s in studies])  # (G, m)
        w = rows.scale[index]
        s = rows.shared[index][:, :, None] * w[:, :, None] * w[:, None, :]
        diagonal = np.arange(m)
        s[:, diagonal, diagonal] = rows.vi[index]
        xs.append(x[index])
        ys.append(rows.yi[index])
        ss.append(s)
    return _Blocks(xs, ys, ss, len(x), x.shape[1], float(np.linalg.slogdet(x.T @ x)[1]))


def _evaluate(psi: np.ndarray, blocks: _Blocks, reml: bool) -> _Evaluation:
    """ℓ(Ψ), β̂(Ψ), H(Ψ) and ∂ℓ/∂Ψ (module docstring)."""
    p = blocks.p
    information = np.zeros((p, p))
    xs_inv_y = np.zeros(p)
    parts = []
    logdet = 0.0
    for x, y, s in zip(blocks.x, blocks.y, blocks.s, strict=True):
        sigma = np.einsum("gij,jk,glk->gil", x, psi, x) + s
        sign, logdets = np.linalg.slogdet(sigma)
        if (sign <= 0).any():
            raise np.linalg.LinAlgError("a study's marginal covariance is not positive definite")
        logdet += float(logdets.sum())
        inv_x = np.linalg.solve(sigma, x)  # Σᵢ⁻¹Xᵢ
        inv_y = np.linalg.solve(sigma, y[:, :, None])[:, :, 0]  # Σᵢ⁻¹yᵢ
        a = np.einsum("gij,gik->gjk", x, inv_x)  # Aᵢ = XᵢᵀΣᵢ⁻¹Xᵢ
        information += a.sum(axis=0)
        xs_inv_y += np.einsum("gij,gi->j", x, inv_y)
        parts.append((x, y, inv_x, inv_y, a))
    beta = np.linalg.solve(information, xs_inv_y)
    gradient = np.zeros((p, p))
    rss = 0.0
    h_inv = np.linalg.inv(information)
    for x, y, inv_x, inv_y, a in parts:
        # Σᵢ⁻¹rᵢ = Σᵢ⁻¹yᵢ − Σᵢ⁻¹Xᵢβ̂;  bᵢ = XᵢᵀΣᵢ⁻¹rᵢ
        inv_r = inv_y - inv_x @ beta
        r = y - x @ beta
        rss += float(np.sum(r * inv_r))
        b = np.einsum("gij,gi->gj", x, inv_r)
        gradient += 0.5 * (np.einsum("gj,gk->jk", b, b) - a.sum(axis=0))
        if reml:
            gradient += 0.5 * np.einsum("gij,jk,gkl->il", a, h_inv, a)
    if reml:
        loglik = -0.5 * (
            (blocks.n - p) * LOG_2PI
            - blocks.logdet_xtx
            + logdet
            + float(np.linalg.slogdet(information)[1])
            + rss
        )
    else:
        loglik = -0.5 * (blocks.n * LOG_2PI + logdet + rss)
    return _Evaluation(loglik, beta, information, gradient)


# ---------------------------------------------------------------------------------------
# Maximisation over Ψ


def _tau2_linear(blocks: _Blocks, reml: bool) -> tuple[float, bool]:
    """The global maximum of ℓ(τ²) on [0, ∞) for one random slope.

    A grid on τ² (0 and 241 log-spaced points over twelve decades below a generous upper
    bound) brackets the maximum; the root of the score dℓ/dτ² between the neighbours of the
    best grid point refines it (Brent, to machine precision). τ² = 0 exactly when the best
    grid point is 0 and the score there is ≤ 0.
    """

    def evaluate(tau2: float) -> _Evaluation:
        return _evaluate(np.array([[tau2]]), blocks, reml)

    upper = _upper_bound(blocks)
    grid = np.concatenate([[0.0], np.logspace(np.log10(upper) - 12, np.log10(upper), 241)])
    ll = np.array([evaluate(t).loglik for t in grid])
    best = int(np.argmax(ll))
    if best == 0 and evaluate(0.0).gradient[0, 0] <= 0:
        return 0.0, True
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]

    def score(tau2: float) -> float:
        return float(evaluate(tau2).gradient[0, 0])

    if score(low) > 0 > score(high):
        root = optimize.brentq(score, low, high, xtol=1e-300, rtol=4 * np.finfo(float).eps)
        return float(root), True
    found = optimize.minimize_scalar(
        lambda t: -evaluate(t).loglik,
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-14 * max(high, 1e-300)},
    )
    return float(found.x), bool(found.success)


def _upper_bound(blocks: _Blocks) -> float:
    """A τ² (scaled design) far above any plausible slope variance: 100 × the largest squared
    row-wise slope yᵢⱼ/xᵢⱼ plus its sampling variance."""
    slopes = []
    for x, y, s in zip(blocks.x, blocks.y, blocks.s, strict=True):
        xx = x[:, :, 0]
        v = np.diagonal(s, axis1=1, axis2=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (y**2 + v) / xx**2
        slopes.append(ratio[np.isfinite(ratio)])
    values = np.concatenate(slopes)
    return 100 * float(values.max()) if len(values) else 1.0


def _lower(theta: np.ndarray, p: int) -> np.ndarray:
    low = np.zeros((p, p))
    low[np.tril_indices(p)] = theta
    return low


def _objective(theta: np.ndarray, blocks: _Blocks, reml: bool) -> tuple[float, np.ndarray]:
    """−ℓ and its gradient in the Cholesky factor: ∂ℓ/∂L = 2 (∂ℓ/∂Ψ) L for Ψ = LLᵀ."""
    p = blocks.p
    low = _lower(theta, p)
    try:
        found = _evaluate(low @ low.T, blocks, reml)
    except np.linalg.LinAlgError:
        return np.inf, np.zeros_like(theta)
    gradient = 2 * found.gradient @ low
    return -found.loglik, -gradient[np.tril_indices(p)]


def _newton(theta: np.ndarray, blocks: _Blocks, reml: bool) -> tuple[np.ndarray, bool]:
    """Newton steps on the Cholesky factor with a central-difference Hessian of the analytic
    gradient; a step is halved until ℓ increases or the gradient shrinks. Converged when the
    largest gradient component is below GRADIENT_TOLERANCE."""
    for _ in range(MAX_NEWTON):
        value, gradient = _objective(theta, blocks, reml)
        if np.max(np.abs(gradient)) < GRADIENT_TOLERANCE:
            return theta, True
        hessian = _hessian(theta, blocks, reml)
        try:
            step = -np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            return theta, False
        if not np.isfinite(step).all() or gradient @ step >= 0:  # not a descent direction
            return theta, False
        size = np.max(np.abs(gradient))
        for _ in range(60):
            trial = theta + step
            trial_value, trial_gradient = _objective(trial, blocks, reml)
            # Near the maximum ℓ changes by less than its rounding error: a step that lowers
            # the gradient counts as progress there.
            if trial_value < value or np.max(np.abs(trial_gradient)) < size:
                break
            step = step / 2
        else:
            return theta, False
        theta = trial
    value, gradient = _objective(theta, blocks, reml)
    return theta, bool(np.max(np.abs(gradient)) < GRADIENT_TOLERANCE)


def _hessian(theta: np.ndarray, blocks: _Blocks, reml: bool) -> np.ndarray:
    m = len(theta)
    hessian = np.empty((m, m))
    for j in range(m):
        h = 1e-5 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        hessian[:, j] = (_objective(up, blocks, reml)[1] - _objective(down, blocks, reml)[1]) / (
            2 * h
        )
    return (hessian + hessian.T) / 2


def _psi_general(blocks: _Blocks, reml: bool) -> tuple[np.ndarray, bool]:
    """Ψ for p ≥ 2 dose terms: BFGS from Ψ = c·I for three scales c, the best polished by
    :func:`_newton`."""
    p = blocks.p
    scale = float(np.mean(np.concatenate([y.ravel() ** 2 for y in blocks.y])))
    best: tuple[float, np.ndarray] | None = None
    for factor in (1e-3, 1e-1, 10.0):
        start = (np.sqrt(factor * scale) * np.eye(p))[np.tril_indices(p)]
        found = optimize.minimize(
            _objective,
            start,
            args=(blocks, reml),
            jac=True,
            method="BFGS",
            options={"gtol": 1e-10, "maxiter": 10_000},
        )
        if np.isfinite(found.fun) and (best is None or found.fun < best[0]):
            best = (float(found.fun), found.x)
    if best is None:
        raise AnalysisInputError("dose-response: the likelihood could not be evaluated")
    theta, converged = _newton(best[1], blocks, reml)
    low = _lower(theta, p)
    return low @ low.T, converged


# ---------------------------------------------------------------------------------------
# Public entry point


def _check_options(model: str, method: str) -> None:
    if model not in MODELS:
        raise AnalysisInputError(f"dose-response model {model!r} is not one of {MODELS}")
    if method not in METHODS:
        raise AnalysisInputError(f"dose-response method {method!r} is not one of {METHODS}")


def _design(rows: _Rows, model: str, knots: np.ndarray | None, dose: str) -> np.ndarray:
    if len(np.unique(rows.dose)) < 2 and len(np.unique(rows.reference)) < 2:
        raise AnalysisInputError(
            f"dose-response: every arm has {dose} = {rows.dose[0]:g}; a dose-response curve "
            "needs at least two distinct doses"
        )
    x = dose_terms(rows.dose, model, knots) - dose_terms(rows.reference, model, knots)
    n, p = x.shape
    if n <= p:
        raise AnalysisInputError(
            f"dose-response: the {model} model has {p} dose terms but the table only {n} rows"
        )
    if np.linalg.matrix_rank(x) < p:
        raise AnalysisInputError(
            f"dose-response: the doses cannot identify the {model} model's {p} terms (too few "
            "distinct doses, or every knot outside the doses); choose a simpler model or other "
            "knots"
        )
    return x


def _nonlinearity(beta: np.ndarray, vcov: np.ndarray) -> tuple[float, int, float]:
    """Wald χ² that every term but the first (the linear one) is zero."""
    if len(beta) < 2:
        return float("nan"), 0, float("nan")
    b, v = beta[1:], vcov[1:, 1:]
    chi2 = float(b @ np.linalg.solve(v, b))
    return chi2, len(b), float(stats.chi2.sf(chi2, len(b)))


@dataclass(frozen=True)
class _Fit:
    beta: np.ndarray
    vcov: np.ndarray
    psi: np.ndarray
    loglik: float
    converged: bool
    psi_on_boundary: bool


def _fit(rows: _Rows, x: np.ndarray, reml: bool) -> _Fit:
    """β̂, Var(β̂) and Ψ at the (restricted) likelihood's maximum. The optimisation runs on
    design columns of unit root mean square; β, Ψ and Var(β̂) are scaled back."""
    unit = np.sqrt(np.mean(x**2, axis=0))
    blocks = _blocks(rows, x / unit)
    if blocks.p == 1:
        tau2, converged = _tau2_linear(blocks, reml)
        psi_scaled = np.array([[tau2]])
    else:
        psi_scaled, converged = _psi_general(blocks, reml)
    found = _evaluate(psi_scaled, blocks, reml)
    vcov_scaled = np.linalg.inv(found.information)
    # Ψ is singular when its smallest eigenvalue is negligible against its largest, or
    # against the sampling variance of β̂ when Ψ is ~0 altogether (scaled units).
    eigen = np.linalg.eigvalsh(psi_scaled)
    size = max(float(eigen.max()), float(np.diag(vcov_scaled).max()))
    return _Fit(
        beta=found.beta / unit,
        vcov=vcov_scaled / np.outer(unit, unit),
        psi=psi_scaled / np.outer(unit, unit),
        loglik=found.loglik,
        converged=converged,
        psi_on_boundary=bool(eigen.min() <= 1e-8 * size),
    )


def dose_response(
    table: pd.DataFrame,
    dose: str = "dose",
    model: str = "linear",
    knots: Sequence[float] | np.ndarray | None = None,
    method: str = "REML",
    *,
    dose_control: str = "dose_control",
    design: str | None = None,
) -> DoseResponseResult:
    """One-stage random-effects dose–response meta-analysis of log risk ratios.

    ``table``: one row per non-reference arm with ``study_id``, the dose (column ``dose``),
    ``events_treat``, ``n_treat``, ``events_control`` and ``n_control``; a reference arm
    shared by several arms is repeated on each of its rows. The reference dose is 0 unless
    the table has a column ``dose_control`` (the reference arm's dose, the same on every row
    of a study), in which case the dose terms are g(dose) − g(dose_control).
    ``model``: "linear", "quadratic" or "spline" (restricted cubic spline with ``knots``;
    default three knots at the 10th, 50th and 90th percentiles of ``dose``). ``method``:
    "REML" (default) or "ML".

    Adjusted estimates: when the table has columns ``yi`` and ``vi`` (the published adjusted
    log ratios against the reference category and their variances), those are analysed, and
    the count columns give each category's cases and total; the covariance of a study's rows
    is then :func:`greenland_longnecker`'s, for the study ``design`` ("ci", "ir" or "cc";
    a ``type`` column sets it per study).

    Equals metafor's ``rma.mv(yi, V, mods = ~ 0 + X,
    random = ~ 0 + X | study, struct = "GEN")`` (see the module docstring for the model,
    the likelihood and the references).
    """
    _check_options(model, method)
    rows = _rows(table, dose, dose_control, design)
    if len(rows.labels) < 2:
        raise AnalysisInputError(
            f"dose-response: only one study ({rows.labels[0]!r}); the one-stage model needs "
            "at least two"
        )
    knots_used = _check_knots(knots, rows.dose) if model == "spline" else None
    x = _design(rows, model, knots_used, dose)
    fit = _fit(rows, x, reml=method == "REML")
    beta, vcov, psi = fit.beta, fit.vcov, fit.psi
    chi2, df, pvalue = _nonlinearity(beta, vcov)
    return DoseResponseResult(
        coef=beta,
        se=np.sqrt(np.diag(vcov)),
        vcov=vcov,
        tau2=np.diag(psi).copy(),
        psi=psi,
        names=term_names(dose, model, knots_used),
        knots=knots_used,
        k_studies=len(rows.labels),
        n_rows=len(rows.yi),
        method=method,
        model=model,
        log_likelihood=fit.loglik,
        converged=fit.converged,
        psi_on_boundary=fit.psi_on_boundary,
        nonlinear_chi2=chi2,
        nonlinear_df=df,
        nonlinear_pvalue=pvalue,
    )
