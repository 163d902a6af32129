"""Text measurement, number formatting and sizing shared by the figures.

Widths are measured as matplotlib measures text to draw it (a FreeType layout of the bundled
DejaVu Sans font, :class:`matplotlib.textpath.TextToPath`), so a layout does not depend on a
renderer, a screen or the fonts installed on the machine.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

FONT_FAMILY = "DejaVu Sans"
FONT_SIZE = 8.0
ROW_HEIGHT_IN = 0.23
ELLIPSIS = "…"

#: rcParams every figure is drawn and saved with: bundled font, text kept as text in SVG,
#: fixed hash salt (element ids) and no timestamps.
RC_PARAMS: dict[str, object] = {
    "font.family": FONT_FAMILY,
    "font.size": FONT_SIZE,
    "svg.fonttype": "none",
    "svg.hashsalt": "evsynth",
    "svg.id": None,
    "path.simplify": False,
    "axes.unicode_minus": True,
    "savefig.dpi": 150,
    "figure.dpi": 100,
}

MEASURE_NAMES = {
    "RR": "Risk Ratio",
    "OR": "Odds Ratio",
    "HR": "Hazard Ratio",
    "IRR": "Rate Ratio",
    "RD": "Risk Difference",
    "MD": "Mean Difference",
    "SMD": "Std. Mean Difference",
}

METHOD_NAMES = {
    "REML": "REML",
    "DL": "DerSimonian-Laird",
    "ML": "maximum likelihood",
    "PM": "Paule-Mandel",
    "SJ": "Sidik-Jonkman",
    "HE": "Hedges",
    "EE": "equal effects",
}

CI_METHOD_NAMES = {
    "z": "Wald (normal)",
    "hksj": "Hartung-Knapp-Sidik-Jonkman",
    "hksj_modified": "modified Hartung-Knapp-Sidik-Jonkman (never narrower than Wald)",
}


@contextmanager
def plot_style() -> Iterator[None]:
    """Context in which figures are built and saved (see :data:`RC_PARAMS`)."""
    params: Any = RC_PARAMS
    with plt.rc_context(params):
        yield


@lru_cache(maxsize=64)
def font(size: float = FONT_SIZE, weight: str = "normal") -> FontProperties:
    """The figures' font (DejaVu Sans) at ``size`` points and ``weight``, one object per
    setting: matplotlib copies the properties it is given, so the object is never changed,
    and a text given it is made faster than from separate size and weight settings."""
    return FontProperties(family=FONT_FAMILY, size=size, weight=weight)


_TEXT_TO_PATH = TextToPath()


@lru_cache(maxsize=1 << 16)
def text_metrics(
    text: str, prop: FontProperties, ismath: Any = False
) -> tuple[float, float, float]:
    """(width, height, descent) in points of ``text`` set in ``prop``: matplotlib's own
    measurement (:meth:`matplotlib.textpath.TextToPath.get_text_width_height_descent`, a
    FreeType layout without hinting), which the SVG backend aligns text with.

    A FreeType layout costs about 15 µs per character. Layout (column widths) and drawing
    (alignment) both measure every text, and the labels, headings and counts recur in every
    figure of a review, so each distinct text is measured once per process. ``prop`` must
    not be changed afterwards (pass a copy).
    """
    return _TEXT_TO_PATH.get_text_width_height_descent(text, prop, ismath)


def text_width_in(text: str, size: float = FONT_SIZE, weight: str = "normal") -> float:
    """Width of ``text`` in inches when set in DejaVu Sans at ``size`` points: the width
    matplotlib measures (:func:`text_metrics`) plus a small pad."""
    if not text:
        return 0.0
    # ismath passed as the renderer passes it: lru_cache keys on the arguments as given
    return text_metrics(text, font(size, weight), False)[0] / 72.0 + 0.02


def shorten(text: str, max_width_in: float, size: float = FONT_SIZE, weight: str = "normal") -> str:
    """``text`` cut at the end with "…" so that it fits in ``max_width_in`` inches."""
    if text_width_in(text, size, weight) <= max_width_in:
        return text
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if text_width_in(text[:mid].rstrip() + ELLIPSIS, size, weight) <= max_width_in:
            low = mid
        else:
            high = mid - 1
    return text[:low].rstrip() + ELLIPSIS


def measure_name(analysis: dict) -> str:
    """ "Risk Ratio" for measure "RR"; the code itself for measures without a name."""
    code = str(analysis.get("measure") or "Effect")
    return MEASURE_NAMES.get(code, code)


def is_ratio(analysis: dict) -> bool:
    """True when the analysis is on the log scale (RR, OR, HR, IRR)."""
    return analysis.get("scale") == "log"


def to_display(value: float | None, ratio: bool) -> float:
    """Exponentiate a log-scale value for ratio measures; NaN for missing values."""
    if value is None:
        return math.nan
    return math.exp(value) if ratio else float(value)


def fmt_p(p: float | None) -> str:
    """P value as RevMan 5 prints it: "P < 0.00001", "P = 0.0008", "P = 0.04"."""
    if p is None or not math.isfinite(p):
        return "P not estimable"
    if p < 0.00001:
        return "P < 0.00001"
    if p >= 0.01:
        return f"P = {p:.2f}"
    digits = -math.floor(math.log10(p))
    text = f"{p:.{digits}f}"
    if float(text) >= 0.01:
        text = "0.01"
    return f"P = {text}"


def fmt_num(value: float | None, digits: int = 2) -> str:
    """Fixed-point number with a real minus sign; "NA" when missing."""
    if value is None or not math.isfinite(value):
        return "NA"
    text = f"{value:.{digits}f}"
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]
    return text.replace("-", "−")


def fmt_effect(estimate: float | None, low: float | None, high: float | None) -> str:
    """ "0.73 [0.55, 0.98]" (display scale)."""
    return f"{fmt_num(estimate)} [{fmt_num(low)}, {fmt_num(high)}]"


def fmt_int(value: float | None) -> str:
    """Integer with thousands separators; "—" when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{round(value):,}"


def heterogeneity_text(result: dict) -> str:
    """RevMan's heterogeneity line for a pooled result (PoolResult fields)."""
    if result.get("k", 0) < 2:
        return "Heterogeneity: Not applicable"
    return (
        f"Heterogeneity: Tau² = {fmt_num(result.get('tau2'))}; "
        f"Chi² = {fmt_num(result.get('q'))}, df = {result.get('q_df')} "
        f"({fmt_p(result.get('q_pvalue'))}); I² = {fmt_int(result.get('i2'))}%"
    )


def overall_test_text(result: dict) -> str:
    """RevMan's "Test for overall effect" line: Z for Wald CIs, t with df for HKSJ."""
    stat = result.get("statistic")
    value = fmt_num(abs(stat)) if stat is not None and math.isfinite(stat) else "NA"
    df = result.get("df")
    if result.get("ci_method", "z") != "z" and df is not None and math.isfinite(df):
        p_text = fmt_p(result.get("p_value"))
        return f"Test for overall effect: t = {value}, df = {round(df)} ({p_text})"
    return f"Test for overall effect: Z = {value} ({fmt_p(result.get('p_value'))})"


def subgroup_difference_text(block: dict) -> str:
    """ "Test for subgroup differences: Chi² = …, df = … (P = …), I² = …%" (I² from Q_between)."""
    q, df = block.get("q_between"), block.get("df")
    i2 = max(0.0, (q - df) / q * 100.0) if q and df is not None and q > 0 else 0.0
    return (
        f"Test for subgroup differences: Chi² = {fmt_num(q)}, df = {df} "
        f"({fmt_p(block.get('p_value'))}), I² = {fmt_num(i2, 1)}%"
    )


def method_text(analysis: dict) -> str:
    """ "Random effects (REML), 95% CI by Hartung-Knapp-Sidik-Jonkman"."""
    method = analysis.get("method", "REML")
    level = round(100 * analysis.get("level", 0.95))
    model = "Fixed (equal) effects" if method == "EE" else "Random effects"
    ci = CI_METHOD_NAMES.get(analysis.get("ci_method", "z"), analysis.get("ci_method", "z"))
    return f"{model} ({METHOD_NAMES.get(method, method)}), {level}% CI by {ci}"


def ratio_limits(values: list[float]) -> tuple[float, float, list[float]]:
    """RevMan-like symmetric log-axis limits and ticks covering ``values`` (display scale)."""
    scales = [
        (0.5, [0.5, 0.7, 1, 1.5, 2]),
        (0.2, [0.2, 0.5, 1, 2, 5]),
        (0.1, [0.1, 0.2, 0.5, 1, 2, 5, 10]),
        (0.05, [0.05, 0.2, 1, 5, 20]),
        (0.01, [0.01, 0.1, 1, 10, 100]),
        (0.001, [0.001, 0.1, 1, 10, 1000]),
    ]
    finite = [v for v in values if math.isfinite(v) and v > 0]
    for low, ticks in scales:
        if all(low <= v <= 1 / low for v in finite):
            return low, 1 / low, [float(t) for t in ticks]
    low, ticks = scales[-1]
    return low, 1 / low, [float(t) for t in ticks]


def identity_limits(values: list[float]) -> tuple[float, float, list[float]]:
    """Symmetric limits around 0 with round ticks covering ``values``."""
    finite = [abs(v) for v in values if math.isfinite(v)]
    span = max(finite, default=1.0) or 1.0
    step = 10 ** math.floor(math.log10(span))
    for mult in (1, 2, 2.5, 5, 10):
        if span <= mult * step:
            top = mult * step
            break
    ticks = [-top, -top / 2, 0.0, top / 2, top]
    return -top, top, ticks


def tick_label(value: float) -> str:
    """Axis tick text: "0.5", "1", "10", "−2"."""
    text = f"{value:g}"
    return text.replace("-", "−")


def set_ratio_ticks(axis, low: float, high: float) -> None:
    """Label a log axis at 1-2-5 steps between ``low`` and ``high`` (display scale)."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    ticks = [m * 10.0**e for e in range(-4, 5) for m in (1, 2, 5) if low <= m * 10.0**e <= high]
    if len(ticks) > 7:
        ticks = [t for t in ticks if f"{t:g}".lstrip("0.").startswith("1")]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(lambda value, _pos: tick_label(value))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())
