"""Dose–response plot: the fitted curve with its confidence band against dose, and the
trials' points (area ∝ weight, each named)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from evsynth.plots.charts import (
    BLUE,
    Point,
    chart_title,
    effect_band,
    label_points,
    marker_radius,
    new_chart,
    null_line,
    plot_style,
    set_effect_axis,
    weighted_points,
)
from evsynth.plots.texts import is_ratio, measure_label, variable_title

MAX_POINT_PT2 = 500.0  # marker size (pt²) of the heaviest trial
SIZE_IN = (5.8, 4.4)
MARGINS_IN = (0.8, 0.55, 0.25, 0.6)


def dose_response_plot(analysis: Mapping[str, Any]) -> Figure:
    """Dose–response plot of ``analysis["dose_response"]`` (``docs/results.md``): ``curve``
    (dose, rr, ci_low, ci_high) as a line in its CI band, ``points`` (label, dose, rr,
    weight_pct) as markers of area ∝ weight, a reference line at no effect; the effect axis
    is logarithmic for ratio measures. All values are on the display scale."""
    model = analysis.get("dose_response")
    if not model:
        raise KeyError(f"analysis {analysis.get('id')!r} has no dose_response results to plot")
    with plot_style():
        return _draw(analysis, model)


def _column(rows: list[Mapping[str, Any]], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else r[key] for r in rows], dtype=float)


def _draw(analysis: Mapping[str, Any], model: Mapping[str, Any]) -> Figure:
    ratio = is_ratio(analysis)
    curve, points = list(model.get("curve") or []), list(model.get("points") or [])
    dose, rr = _column(curve, "dose"), _column(curve, "rr")
    low, high = _column(curve, "ci_low"), _column(curve, "ci_high")
    x, y, w = _column(points, "dose"), _column(points, "rr"), _column(points, "weight_pct")
    top = float(np.nanmax(w)) if np.isfinite(w).any() else 1.0
    sizes = MAX_POINT_PT2 * np.nan_to_num(w, nan=0.0) / (top or 1.0)

    fig, ax = new_chart(SIZE_IN, MARGINS_IN, "dose-response-plot")
    level = round(100 * float(model.get("level") or analysis.get("level") or 0.95))
    effect_band(ax, dose, low, high, f"{level}% CI")
    label = f"{model.get('model', 'fitted')} model"
    ax.plot(dose, rr, color=BLUE, linewidth=1.4, gid="curve", label=label)
    weighted_points(ax, x, y, sizes, "points")
    null_line(ax, ratio)
    every_x = np.concatenate([dose, x])
    every_x = every_x[np.isfinite(every_x)]
    if every_x.size:
        span = float(every_x.max() - every_x.min()) or 1.0
        ax.set_xlim(every_x.min() - 0.05 * span, every_x.max() + 0.05 * span)
    values = np.concatenate([rr, low, high, y])
    set_effect_axis(ax, values, ratio=ratio, label=measure_label(analysis))
    ax.set_xlabel(variable_title(analysis, str(model.get("variable", "dose"))))
    chart_title(fig, f"{analysis.get('title') or analysis.get('id', '')}: dose-response")
    marks = [
        Point(float(a), float(b), marker_radius(float(s)), str(p.get("label", "")))
        for a, b, s, p in zip(x, y, sizes, points, strict=True)
        if np.isfinite(a) and np.isfinite(b)
    ]
    label_points(fig, ax, marks)
    return fig
