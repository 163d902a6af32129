"""Funnel plot: study effects against their standard errors, with pseudo 95% limits."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from evsynth import format as fmt
from evsynth.plots.charts import BLUE, chart_title, new_chart, plot_style, set_ratio_ticks
from evsynth.plots.texts import is_ratio, measure_label

Z95 = 1.959963984540054
#: Fewest studies for Egger's test when the results do not say (``min_k_egger``).
MIN_K_EGGER = 10
SIZE_IN = (5.2, 4.2)
MARGINS_IN = (0.7, 0.55, 0.2, 0.45)


def min_k_egger(analysis: Mapping[str, Any]) -> int:
    """Fewest studies for which Egger's test is reported (the analysis's ``min_k_egger``)."""
    return int(analysis.get("min_k_egger") or MIN_K_EGGER)


def funnel_plot(analysis: Mapping[str, Any], *, egger: bool | None = None) -> Figure:
    """Funnel plot of one analysis: effect (log axis for ratios) against SE, SE 0 at the top.

    Draws the pooled estimate, pseudo 95% confidence limits (estimate ± 1.96 SE) and, when
    ``egger`` is True or (``egger`` is None and k ≥ ``min_k_egger``), Egger's regression line
    ``yi = intercept + slope·SE`` from ``analysis["egger"]`` (metafor ``regtest``,
    predictor "sei": the intercept is the limit estimate at SE = 0).
    """
    with plot_style():
        return _draw(analysis, egger)


def _draw(analysis: Mapping[str, Any], egger: bool | None) -> Figure:
    ratio = is_ratio(analysis)
    points = funnel_points(analysis)
    effects = np.array([p[0] for p in points], dtype=float)
    se = np.array([p[1] for p in points], dtype=float)
    overall = analysis.get("overall") or {}
    centre = overall.get("estimate")
    if centre is None:
        centre = float(np.mean(np.log(effects) if ratio else effects)) if len(points) else 0.0

    def show(values: Any) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        return np.exp(values) if ratio else values

    fig, ax = new_chart(SIZE_IN, MARGINS_IN, "funnel-plot")
    top = float(se.max()) * 1.08 if len(se) else 1.0
    grid = np.linspace(0.0, top, 50)
    ax.plot(show(centre - Z95 * grid), grid, "--", color="grey", lw=0.8, gid="pseudo-ci-low")
    ax.plot(
        show(centre + Z95 * grid),
        grid,
        "--",
        color="grey",
        lw=0.8,
        gid="pseudo-ci-high",
        label="Pseudo 95% limits",
    )
    ax.plot(
        show([centre, centre]),
        [0, top],
        color="black",
        lw=0.8,
        gid="pooled-line",
        label="Pooled estimate",
    )
    ax.scatter(effects, se, s=22, color=BLUE, zorder=3, gid="studies", label="Studies")
    result = analysis.get("egger") or {}
    want = (len(points) >= min_k_egger(analysis)) if egger is None else egger
    if want and result.get("intercept") is not None and result.get("slope") is not None:
        line = result["intercept"] + result["slope"] * grid
        p = result.get("p_value")
        label = f"Egger regression ({fmt.p_value(p)})" if p is not None else "Egger regression"
        ax.plot(show(line), grid, color="#b22222", lw=1.0, gid="egger-line", label=label)
    if ratio:
        ax.set_xscale("log")
        set_ratio_ticks(ax.xaxis, *ax.get_xlim())
    ax.set_ylim(top, 0)
    ax.set_xlabel(f"{measure_label(analysis)}{' (log scale)' if ratio else ''}")
    ax.set_ylabel("Standard error")
    title = analysis.get("title") or analysis.get("id", "")
    chart_title(fig, f"{title}: funnel plot ({len(points)} studies)", legend=False)
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    return fig


def funnel_points(analysis: Mapping[str, Any]) -> list[tuple[float, float]]:
    """(effect on display scale, SE) of each study, as plotted."""
    ratio = is_ratio(analysis)
    return [
        (math.exp(s["yi"]) if ratio else s["yi"], math.sqrt(s["vi"]))
        for s in analysis.get("studies", [])
        if s.get("vi") is not None
    ]
