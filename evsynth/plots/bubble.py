"""Bubble plot of a meta-regression: study effects against a moderator with the fitted line."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from evsynth.plots.layout import is_ratio, measure_name, plot_style, set_ratio_ticks

MODERATOR_LABELS = {"daily_equivalent_iu": "Daily-equivalent vitamin D dose (IU/day)"}
MAX_BUBBLE_PT2 = 600.0  # marker area of the heaviest study


def regression_band(
    fit: dict, x: np.ndarray, level: float | None = None
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


def bubble_plot(analysis: dict, moderator: str = "daily_equivalent_iu") -> Figure:
    """Bubble plot: study effects against ``moderator``, bubble area ∝ the study's weight
    1/(vi + tau²) in the meta-regression, with the fitted line and its CI band.
    """
    fit = (analysis.get("meta_regression") or {}).get(moderator)
    if fit is None:
        raise KeyError(f"analysis {analysis.get('id')!r} has no meta-regression on {moderator!r}")
    with plot_style():
        return _draw(analysis, moderator, fit)


def _draw(analysis: dict, moderator: str, fit: dict) -> Figure:
    ratio = is_ratio(analysis)
    ids = set(fit.get("row_ids") or [s.get("row_id") for s in analysis.get("studies", [])])
    studies = [
        s
        for s in analysis.get("studies", [])
        if s.get("row_id") in ids and s.get(moderator) is not None
    ]
    x = np.array([s[moderator] for s in studies], dtype=float)
    yi = np.array([s["yi"] for s in studies], dtype=float)
    weights = 1.0 / (np.array([s["vi"] for s in studies], dtype=float) + fit.get("tau2", 0.0))
    sizes = MAX_BUBBLE_PT2 * weights / weights.max() if len(weights) else weights
    show = np.exp if ratio else (lambda v: v)

    fig = Figure(figsize=(5.5, 4.0))
    fig.set_gid("bubble-plot")
    ax = fig.add_subplot()
    span = (x.max() - x.min()) if len(x) else 1.0
    grid = np.linspace(x.min() - 0.05 * span, x.max() + 0.05 * span, 100) if len(x) else np.zeros(0)
    if len(grid):
        if "vcov" in fit:
            pred, low, high = regression_band(fit, grid)
            ax.fill_between(
                grid,
                show(low),
                show(high),
                color="#1f4e79",
                alpha=0.15,
                linewidth=0,
                gid="ci-band",
                label=f"{round(100 * fit.get('level', 0.95))}% CI",
            )
        else:
            pred = fit["coef"][0] + fit["coef"][1] * grid
        ax.plot(
            grid,
            show(pred),
            color="#1f4e79",
            linewidth=1.2,
            gid="fitted-line",
            label="Meta-regression",
        )
    ax.scatter(
        x,
        show(yi),
        s=sizes,
        facecolor="#1f4e79",
        alpha=0.45,
        edgecolor="black",
        linewidth=0.5,
        zorder=3,
        gid="bubbles",
    )
    ax.axhline(1.0 if ratio else 0.0, color="grey", linewidth=0.6, linestyle=":")
    if ratio:
        ax.set_yscale("log")
        set_ratio_ticks(ax.yaxis, *ax.get_ylim())
    ax.set_xlabel(MODERATOR_LABELS.get(moderator, moderator.replace("_", " ")))
    name = measure_name(analysis)
    ax.set_ylabel(f"{name}{' (log scale)' if ratio else ''}")
    p = fit.get("p_value", [None, None])
    slope_p = p[1] if isinstance(p, list) and len(p) > 1 else None
    subtitle = f" (slope P = {slope_p:.2f})" if slope_p is not None else ""
    ax.set_title(
        f"{analysis.get('title', analysis.get('id', ''))}: meta-regression{subtitle}", fontsize=9
    )
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig
