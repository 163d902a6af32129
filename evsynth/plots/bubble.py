"""Bubble plot of a meta-regression: study effects against a moderator, the fitted line with
its confidence band, each study named beside its bubble."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from evsynth import format as fmt
from evsynth.plots.charts import ChartText, Curve, Studies, curve_and_studies, plot_style
from evsynth.plots.texts import is_ratio, measure_label, variable, variable_title

Show = Callable[[np.ndarray], np.ndarray]  # log scale to display scale (exp) or identity


def regression_band(
    fit: Mapping[str, Any], x: np.ndarray, level: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fitted values and their CI on the log/raw scale at moderator values ``x``.

    Uses ``coef`` (intercept, slope) and ``vcov`` (2x2) of ``analysis["meta_regression"][m]``:
    se(x) = sqrt(v00 + 2 x v01 + x² v11); the critical value is normal for ``ci_method`` "z"
    and t with ``qm_df_residual`` (k − 2) degrees of freedom for Knapp–Hartung.
    """
    b0, b1 = fit["coef"][0], fit["coef"][1]
    v = np.asarray(fit["vcov"], dtype=float)
    pred = b0 + b1 * x
    se = np.sqrt(np.maximum(v[0, 0] + 2 * x * v[0, 1] + x**2 * v[1, 1], 0.0))
    level = level if level is not None else fit.get("level", 0.95)
    from scipy import stats  # here, not at the top: importing scipy costs a second per process

    if fit.get("ci_method", "z") == "z":
        crit = stats.norm.ppf(0.5 + level / 2)
    else:
        df = fit.get("qm_df_residual") or (fit.get("k", 3) - 2)
        crit = stats.t.ppf(0.5 + level / 2, df)
    return pred, pred - crit * se, pred + crit * se


def slope_p(fit: Mapping[str, Any]) -> float | None:
    """P value of the moderator's coefficient (the second of ``p_value``)."""
    p = fit.get("p_value")
    return p[1] if isinstance(p, list) and len(p) > 1 else None


def bubble_plot(analysis: Mapping[str, Any], moderator: str) -> Figure:
    """Bubble plot: study effects against ``moderator``, bubble area ∝ the study's weight
    1/(vi + tau²) in the meta-regression, with the fitted line and its CI band."""
    fit = (analysis.get("meta_regression") or {}).get(moderator)
    if fit is None:
        raise KeyError(f"analysis {analysis.get('id')!r} has no meta-regression on {moderator!r}")
    with plot_style():
        return _draw(analysis, moderator, fit)


def _moderator_rows(
    analysis: Mapping[str, Any], moderator: str, fit: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """The studies of the meta-regression (``row_ids``) that have a value of ``moderator``."""
    ids = set(fit.get("row_ids") or [s.get("row_id") for s in analysis.get("studies", [])])
    return [
        s
        for s in analysis.get("studies", [])
        if s.get("row_id") in ids and s.get(moderator) is not None
    ]


def _fitted_curve(fit: Mapping[str, Any], x: np.ndarray, show: Show) -> Curve:
    """The fitted line over the range of ``x`` (5% margins), with its CI band when ``vcov`` is
    given."""
    span = float(x.max() - x.min()) or 1.0
    grid = np.linspace(x.min() - 0.05 * span, x.max() + 0.05 * span, 100)
    level = round(100 * fit.get("level", 0.95))
    band = f"{level}% CI of the fitted line"
    if "vcov" in fit:
        pred, low, high = regression_band(fit, grid)
        return Curve(
            grid, show(pred), show(low), show(high), "Meta-regression", band, "fitted-line"
        )
    pred = fit["coef"][0] + fit["coef"][1] * grid
    return Curve(grid, show(pred), None, None, "Meta-regression", band, "fitted-line")


def _draw(analysis: Mapping[str, Any], moderator: str, fit: Mapping[str, Any]) -> Figure:
    ratio = is_ratio(analysis)
    rows = _moderator_rows(analysis, moderator, fit)
    x = np.array([s[moderator] for s in rows], dtype=float)
    yi = np.array([s["yi"] for s in rows], dtype=float)
    weights = 1.0 / (np.array([s["vi"] for s in rows], dtype=float) + fit.get("tau2", 0.0))
    show: Show = np.exp if ratio else np.asarray
    labels = [str(s.get("label") or s.get("study_id")) for s in rows]
    p = slope_p(fit)
    slope = f" (slope {fmt.p_value(p)})" if p is not None else ""
    title = analysis.get("title") or analysis.get("id", "")
    text = ChartText(
        "bubble-plot",
        f"{title}: meta-regression on {variable(analysis, moderator)[0]}{slope}",
        variable_title(analysis, moderator),
        measure_label(analysis),
    )
    curve = _fitted_curve(fit, x, show) if len(x) else None
    return curve_and_studies(text, ratio, curve, Studies(x, show(yi), weights, labels, "bubbles"))
