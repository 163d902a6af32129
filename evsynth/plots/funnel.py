"""Funnel plot: study effects against their standard errors, with pseudo 95% limits."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from evsynth.plots.layout import is_ratio, measure_name, plot_style, set_ratio_ticks

Z95 = 1.959963984540054


def funnel_plot(analysis: dict, *, egger: bool | None = None) -> Figure:
    """Funnel plot of one analysis: effect (log axis for ratios) against SE, SE 0 at the top.

    Draws the pooled estimate, pseudo 95% confidence limits (estimate ± 1.96 SE) and, when
    ``egger`` is True or (``egger`` is None and k ≥ 10), Egger's regression line
    ``yi = intercept + slope·SE`` from ``analysis["egger"]`` (metafor ``regtest``,
    predictor "sei": the intercept is the limit estimate at SE = 0).
    """
    with plot_style():
        return _draw(analysis, egger)


def _draw(analysis: dict, egger: bool | None) -> Figure:
    ratio = is_ratio(analysis)
    studies = [s for s in analysis.get("studies", []) if s.get("vi") is not None]
    yi = np.array([s["yi"] for s in studies], dtype=float)
    se = np.sqrt(np.array([s["vi"] for s in studies], dtype=float))
    overall = analysis.get("overall") or {}
    centre = overall.get("estimate", float(np.mean(yi)) if len(yi) else 0.0)

    def show(values):
        values = np.asarray(values, dtype=float)
        return np.exp(values) if ratio else values

    fig = Figure(figsize=(5.0, 4.0))
    fig.set_gid("funnel-plot")
    ax = fig.add_subplot()
    top = float(se.max()) * 1.08 if len(se) else 1.0
    grid = np.linspace(0.0, top, 50)
    ax.plot(show(centre - Z95 * grid), grid, "--", color="grey", linewidth=0.8, gid="pseudo-ci-low")
    ax.plot(
        show(centre + Z95 * grid),
        grid,
        "--",
        color="grey",
        linewidth=0.8,
        gid="pseudo-ci-high",
        label="Pseudo 95% limits",
    )
    ax.plot(
        show([centre, centre]),
        [0, top],
        color="black",
        linewidth=0.8,
        gid="pooled-line",
        label="Pooled estimate",
    )
    ax.scatter(show(yi), se, s=22, color="#1f4e79", zorder=3, gid="studies", label="Studies")
    result = analysis.get("egger") or {}
    k = len(studies)
    want = (k >= 10) if egger is None else egger
    if want and result.get("intercept") is not None and result.get("slope") is not None:
        line = result["intercept"] + result["slope"] * grid
        label = (
            f"Egger regression (P = {result['p_value']:.2f})"
            if result.get("p_value") is not None
            else "Egger regression"
        )
        ax.plot(show(line), grid, color="#b22222", linewidth=1.0, gid="egger-line", label=label)
    if ratio:
        ax.set_xscale("log")
        set_ratio_ticks(ax.xaxis, *ax.get_xlim())
    ax.set_ylim(top, 0)
    name = measure_name(analysis)
    ax.set_xlabel(f"{name} ({'log scale' if ratio else 'difference'})")
    ax.set_ylabel("Standard error")
    ax.set_title(
        f"{analysis.get('title', analysis.get('id', ''))}: funnel plot ({k} studies)", fontsize=9
    )
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    fig.tight_layout()
    return fig


def funnel_points(analysis: dict) -> list[tuple[float, float]]:
    """(effect on display scale, SE) of each study, as plotted."""
    ratio = is_ratio(analysis)
    return [
        (math.exp(s["yi"]) if ratio else s["yi"], math.sqrt(s["vi"]))
        for s in analysis.get("studies", [])
        if s.get("vi") is not None
    ]
