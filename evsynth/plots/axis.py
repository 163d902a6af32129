"""Effect axes: the forest plots' range chosen from the data, and readable ticks for the
other plots.

A forest plot's axis is one of RevMan's standard symmetric ranges: for ratios 0.5–2, 0.2–5,
0.1–10 or 0.01–100 on a log scale (0.001–1000 only when a point estimate lies beyond 100);
for differences ±1, ±2, ±4, ±10, ±20, ±40, … × 10ⁿ on a linear scale. Every forest-type plot of
one analysis (overall, each subgroup, leave-one-out, cumulative) uses the same range, so plots
of one outcome can be compared by eye.

The rule (:func:`forest_axis`): the narrowest standard range that holds

1. every point estimate (studies, overall, subgroups, leave-one-out and cumulative rows),
2. the overall pooled confidence interval whole, and
3. at least :data:`CI_END_SHARE` (85%) of the ends of the other intervals (studies, subgroups,
   leave-one-out and cumulative rows),

so that one very wide interval (a small trial, a subgroup of two trials with a t-based
interval) gets an arrow instead of squashing every other row. When no ratio range meets all
three, 0.01–100 is taken if it holds every point estimate (the intervals beyond it get
arrows), and 0.001–1000 only when a point estimate lies beyond 0.01–100.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from evsynth.plots.texts import is_ratio, to_display

#: RevMan's symmetric ratio ranges, narrowest first, with their ticks.
RATIO_RANGES: tuple[tuple[float, tuple[float, ...]], ...] = (
    (0.5, (0.5, 0.7, 1.0, 1.5, 2.0)),
    (0.2, (0.2, 0.5, 1.0, 2.0, 5.0)),
    (0.1, (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)),
    (0.01, (0.01, 0.1, 1.0, 10.0, 100.0)),
)
#: Used only when a point estimate or pooled interval lies beyond 0.01–100.
WIDEST_RATIO = (0.001, (0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0))
#: Multipliers of 10ⁿ for the half-width of a difference axis (ticks every half of it).
DIFFERENCE_STEPS = (1.0, 2.0, 4.0)
#: Share of study-interval ends a range must hold (rule 3).
CI_END_SHARE = 0.85
_SLACK = 1e-9  # relative: a value on a limit (a CI end of exactly 2.00) is inside


@dataclass(frozen=True)
class Axis:
    """An effect axis: limits and ticks on the display scale (ratios exponentiated)."""

    low: float
    high: float
    ticks: tuple[float, ...]
    log: bool

    @property
    def null(self) -> float:
        """The line of no effect: 1 for ratios, 0 for differences."""
        return 1.0 if self.log else 0.0

    def fraction(self, value: float) -> float:
        """Where ``value`` lies between the limits: 0 at ``low``, 1 at ``high`` (outside the
        range below 0 or above 1)."""
        if self.log:
            return math.log(value / self.low) / math.log(self.high / self.low)
        return (value - self.low) / (self.high - self.low)

    def holds(self, value: float) -> bool:
        """Whether ``value`` is within the limits."""
        span = self.high - self.low
        return self.low - _SLACK * span <= value <= self.high + _SLACK * span


@dataclass(frozen=True)
class AxisData:
    """What the range must show, on the display scale (see the module's rule)."""

    pooled: tuple[float, ...]  # ends of the overall interval: all inside
    points: tuple[float, ...]  # point estimates: all inside
    ends: tuple[float, ...]  # ends of the other intervals: a share inside


def _finite(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(v for v in values if math.isfinite(v))


def axis_data(analysis: Mapping[str, Any]) -> AxisData:
    """The values of every forest-type plot of ``analysis`` that the axis must show."""
    ratio = is_ratio(analysis)

    def show(result: Mapping[str, Any], key: str) -> float:
        return to_display(result.get(key), ratio)

    overall = analysis.get("overall") or {}
    rows = list(analysis.get("studies", []))
    for block in (analysis.get("subgroups") or {}).values():
        rows += block.get("groups", [])
    rows += list(analysis.get("leave_one_out") or []) + list(analysis.get("cumulative") or [])
    pooled = [show(overall, k) for k in ("ci_low", "ci_high")] if overall else []
    points = [show(overall, "estimate")] if overall else []
    points += [show(r, "yi" if "yi" in r else "estimate") for r in rows]
    ends = [show(r, k) for r in rows for k in ("ci_low", "ci_high")]
    return AxisData(_finite(pooled), _finite(points), tuple(ends))


def _meets(axis: Axis, data: AxisData, share: bool) -> bool:
    if not all(axis.holds(v) for v in data.pooled + data.points):
        return False
    if not share or not data.ends:
        return True
    inside = sum(1 for v in data.ends if math.isfinite(v) and axis.holds(v))
    return inside >= CI_END_SHARE * len(data.ends) - _SLACK


def ratio_axis(data: AxisData) -> Axis:
    """The narrowest of :data:`RATIO_RANGES` meeting the module's rule."""
    axes = [Axis(low, 1 / low, ticks, True) for low, ticks in RATIO_RANGES]
    for axis in axes:
        if _meets(axis, data, share=True):
            return axis
    if _meets(axes[-1], data, share=False):
        return axes[-1]
    low, ticks = WIDEST_RATIO
    return Axis(low, 1 / low, ticks, True)


def difference_axis(data: AxisData) -> Axis:
    """The narrowest symmetric linear range ±m·10ⁿ (m in 1, 2, 4) meeting the module's rule,
    ticks at −m, −m/2, 0, m/2, m (× 10ⁿ); when none up to ten times the largest finite value
    meets rule 3 (intervals without finite ends), the narrowest meeting rules 1 and 2. Without
    any value: ±1."""
    values = [abs(v) for v in data.pooled + data.points + data.ends if math.isfinite(v)]
    largest = max(values, default=0.0)
    if largest == 0.0:
        return Axis(-1.0, 1.0, (-1.0, -0.5, 0.0, 0.5, 1.0), False)
    first = math.floor(math.log10(largest)) - 3
    axes = [
        Axis(-top, top, tuple(round(t * top, 12) for t in (-1.0, -0.5, 0.0, 0.5, 1.0)), False)
        for top in (m * 10.0**e for e in range(first, first + 5) for m in DIFFERENCE_STEPS)
    ]
    for share in (True, False):
        for axis in axes:
            if _meets(axis, data, share=share):
                return axis
    return axes[-1]


def forest_axis(analysis: Mapping[str, Any]) -> Axis:
    """The one axis of every forest-type plot of ``analysis`` (see the module's rule)."""
    data = axis_data(analysis)
    return ratio_axis(data) if is_ratio(analysis) else difference_axis(data)


def ratio_ticks(low: float, high: float) -> list[float]:
    """Ticks for a log axis from ``low`` to ``high`` (display scale): 1-2-5 steps (…, 0.5, 1,
    2, 5, …) when three to eight of them fall in the range, powers of ten when more do, else
    evenly spaced round values (the widest step of 1, 2 or 5 × 10ⁿ giving at least three), so
    a narrow range never shows a single tick."""
    if not (low > 0 and high > low):
        return [1.0]
    decades = range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 2)

    def ladder(multipliers: tuple[float, ...]) -> list[float]:
        values = (round(m * 10.0**e, 12) for e in decades for m in multipliers)
        return [v for v in values if low <= v <= high]

    ticks = ladder((1.0, 2.0, 5.0))
    if len(ticks) > 8:
        return ladder((1.0,))
    if len(ticks) >= 3:
        return ticks
    for exponent in range(math.floor(math.log10(high - low)), -13, -1):
        for m in (5.0, 2.0, 1.0):
            step = m * 10.0**exponent
            first = math.ceil(low / step - _SLACK)
            linear = [round(i * step, 12) for i in range(first, int(high / step + _SLACK) + 1)]
            if len(linear) >= 3:
                return linear
    return ticks
