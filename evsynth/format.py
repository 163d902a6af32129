"""Number formatting shared by the report, the figures and their alt text (RevMan's conventions).

One home for every number a reader sees, so a figure and the report never disagree on a value
or on the P format. Estimates with 2 decimals, intervals as "0.78 to 0.99" (text) or
"0.78 [0.61, 0.99]" (forest-plot rows), P values as "P = 0.04" / "P = 0.005" / "P < 0.001",
counts with thousands separators ("18,176"), percentages without decimals ("12%"), data values
as entered ("12.345"). Missing values (None/NaN) are shown as an em dash, never as 0.
"""

from __future__ import annotations

import math

MISSING = "—"


def ratio(x: float | None, decimals: int = 2) -> str:
    """A ratio (RR, OR) or other estimate with fixed decimals: 0.886 -> "0.89"."""
    if x is None or math.isnan(x):
        return MISSING
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    text = f"{x:,.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


def interval(low: float | None, high: float | None, decimals: int = 2) -> str:
    """A confidence or prediction interval: "0.70 to 1.12"."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return MISSING
    return f"{ratio(low, decimals)} to {ratio(high, decimals)}"


def estimate_ci(
    estimate: float | None, low: float | None, high: float | None, decimals: int = 2
) -> str:
    """An estimate with its interval in brackets, as a forest-plot row prints it:
    "0.73 [0.55, 0.98]"."""
    return f"{ratio(estimate, decimals)} [{ratio(low, decimals)}, {ratio(high, decimals)}]"


def p_value(p: float | None) -> str:
    """RevMan style: "P < 0.001", "P = 0.004" (below 0.01), otherwise 2 decimals "P = 0.25"."""
    if p is None or math.isnan(p):
        return MISSING
    if p < 0.001:
        return "P < 0.001"
    if p < 0.01:
        return f"P = {p:.3f}"
    text = f"{p:.2f}"
    if text == "1.00":
        return "P = 1.00"
    return f"P = {text}"


def count(n: float | int | None) -> str:
    """Integer with thousands separators: 18176 -> "18,176"."""
    if n is None or math.isnan(n):
        return MISSING
    return f"{round(float(n)):,}"


def percent(x: float | None, decimals: int = 0) -> str:
    """A percentage already on the 0-100 scale (I², weights): 11.55 -> "12%"."""
    if x is None or math.isnan(x):
        return MISSING
    return f"{x:.{decimals}f}%"


def share(x: float | None, decimals: int = 0) -> str:
    """A proportion on the 0-1 scale as a percentage: 0.253 -> "25%"."""
    return MISSING if x is None or math.isnan(x) else percent(100.0 * x, decimals)


def tau2(x: float | None) -> str:
    """Between-study variance: 3 decimals ("0.007"), "< 0.001" for tiny positive values."""
    if x is None or math.isnan(x):
        return MISSING
    if 0 < x < 0.0005:
        return "< 0.001"
    return f"{x:.3f}"


def value(x: float | None, decimals: int = 2) -> str:
    """A measured quantity in its unit: integers stay integers ("-257"), else 2 decimals."""
    if x is None or math.isnan(x):
        return MISSING
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{x:,.0f}"


def as_given(x: float | None) -> str:
    """A data value exactly as entered (a mean, an SD): no rounding, thousands separated:
    12.345 -> "12.345", 1500.0 -> "1,500"."""
    if x is None or math.isnan(x):
        return MISSING
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,}"


def tick(x: float) -> str:
    """An axis tick: the shortest exact text, no exponent: 0.5 -> "0.5", 1000 -> "1000",
    0.001 -> "0.001", -2.5 -> "-2.5"."""
    text = f"{x:.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def per_1000(x: float | None) -> str:
    """Risk per 1000 people, rounded to a whole person: 10.78 -> "11"."""
    return count(x)


def years(x: float | None) -> str:
    """Follow-up in years with one decimal: 7 -> "7.0"."""
    return MISSING if x is None or math.isnan(x) else f"{x:.1f}"


def level(x: float) -> str:
    """A confidence level as a percentage: 0.95 -> "95%"."""
    return f"{100 * x:g}%"


def number(x: float) -> str:
    """A plain number without needless decimals: 1000 -> "1,000", 0.5 -> "0.5"."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,g}"


FILTERS = {
    "level": level,
    "number": number,
    "ratio": ratio,
    "interval": interval,
    "p_value": p_value,
    "count": count,
    "percent": percent,
    "share": share,
    "tau2": tau2,
    "value": value,
    "estimate_ci": estimate_ci,
    "as_given": as_given,
    "per_1000": per_1000,
    "years": years,
}
