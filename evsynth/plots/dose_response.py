"""Dose–response plot: the fitted curve with its confidence band against dose, and the
trials' points (area ∝ weight, each named)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from evsynth.plots.charts import ChartText, Curve, Studies, curve_and_studies, plot_style
from evsynth.plots.texts import is_ratio, measure_label, variable_title


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
    curve, points = list(model.get("curve") or []), list(model.get("points") or [])
    level = round(100 * float(model.get("level") or analysis.get("level") or 0.95))
    line = Curve(
        _column(curve, "dose"),
        _column(curve, "rr"),
        _column(curve, "ci_low"),
        _column(curve, "ci_high"),
        f"{model.get('model', 'fitted')} model",
        f"{level}% CI",
        "curve",
    )
    studies = Studies(
        _column(points, "dose"),
        _column(points, "rr"),
        _column(points, "weight_pct"),
        [str(p.get("label", "")) for p in points],
        "points",
    )
    text = ChartText(
        "dose-response-plot",
        f"{analysis.get('title') or analysis.get('id', '')}: dose-response",
        variable_title(analysis, str(model.get("variable", "dose"))),
        measure_label(analysis),
    )
    return curve_and_studies(text, is_ratio(analysis), line, studies)
