"""Shared pieces of the chart figures drawn with matplotlib (funnel, bubble, dose–response):
the style they are drawn and saved in, readable ratio ticks, labelled points, and saving.

Public matplotlib API only: figures are made with :class:`matplotlib.figure.Figure` and
saved with :meth:`~matplotlib.figure.Figure.savefig` (text kept as text, a fixed
``svg.hashsalt`` for the element ids, no date), so the same figure gives the same bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from evsynth import format as fmt
from evsynth.plots.axis import ratio_ticks
from evsynth.plots.fonts import FONT_FAMILY, text_width, wrap

FONT_SIZE = 8.0
LABEL_SIZE = 6.5  # point labels
SIZE_IN = (5.8, 4.4)  # bubble and dose-response plots
MARGINS_IN = (0.8, 0.55, 0.25, 0.6)  # left, bottom, right, top: room for title and legend
MAX_POINT_PT2 = 600.0  # marker size (pt²) of the heaviest study
BLUE = "#1f4e79"

#: rcParams every chart is drawn and saved with: bundled font, text kept as text in SVG,
#: fixed hash salt (element ids) and no timestamps.
RC_PARAMS: dict[str, Any] = {
    "font.family": FONT_FAMILY,
    "font.size": FONT_SIZE,
    "svg.fonttype": "none",
    "svg.hashsalt": "evsynth",
    "path.simplify": False,
    "axes.unicode_minus": False,  # "-0.5", as the report and the forest plots print it
    "figure.dpi": 100,
}
SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
PNG_METADATA = {"Software": None}


@contextmanager
def plot_style() -> Iterator[None]:
    """Context in which charts are built and saved (see :data:`RC_PARAMS`)."""
    params: Any = RC_PARAMS  # (matplotlib's stubs type the keys as literals)
    with matplotlib.rc_context(params):
        yield


def chart_svg(fig: Figure) -> bytes:
    """The chart as SVG (text as text in DejaVu Sans, fixed ids, no date)."""
    buffer = io.StringIO()
    with plot_style():
        fig.savefig(buffer, format="svg", metadata=SVG_METADATA)
    return buffer.getvalue().encode("utf-8")


def chart_png(fig: Figure, dpi: int) -> bytes:
    """The chart as PNG at ``dpi``, without software metadata."""
    buffer = io.BytesIO()
    with plot_style():
        fig.savefig(buffer, format="png", dpi=dpi, metadata=PNG_METADATA)
    return buffer.getvalue()


def set_ratio_ticks(axis: Any, low: float, high: float) -> None:
    """Label a log axis (``ax.xaxis`` or ``ax.yaxis``) with :func:`ratio_ticks` between
    ``low`` and ``high``, as plain numbers ("0.5", "1", "2"), without minor ticks."""
    axis.set_major_locator(FixedLocator(ratio_ticks(low, high)))
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: fmt.tick(value)))
    axis.set_minor_locator(NullLocator())


def new_chart(
    size_in: tuple[float, float], margins_in: tuple[float, float, float, float], gid: str
) -> tuple[Figure, Axes]:
    """A figure of ``size_in`` inches with one axes placed by fixed margins in inches (left,
    bottom, right, top): the same layout for every chart, with no automatic layout (which
    measures every text) and room at the top for the title and the legend."""
    width, height = size_in
    fig = Figure(figsize=size_in)
    fig.set_gid(gid)
    left, bottom, right, top = margins_in
    box = (
        left / width,
        bottom / height,
        (width - left - right) / width,
        (height - bottom - top) / height,
    )
    return fig, fig.add_axes(box)


def chart_title(fig: Figure, title: str, *, legend: bool = True) -> None:
    """The chart's title at the top and, below it on the right, the legend of the axes."""
    width, height = fig.get_size_inches()
    fig.suptitle(title, fontsize=9, y=1 - 0.12 / height)
    if legend:
        anchor = (1 - 0.25 / width, 1 - 0.3 / height)
        fig.legend(loc="upper right", bbox_to_anchor=anchor, ncol=2, fontsize=7, frameon=False)


def set_effect_axis(ax: Axes, values: np.ndarray, *, ratio: bool, label: str) -> None:
    """The y axis of effects: limits around ``values`` (display scale) with a margin, a log
    scale with readable ticks (:func:`set_ratio_ticks`) for ratios, and its title."""
    finite = values[np.isfinite(values) & ((values > 0) if ratio else True)]
    data = np.log(finite) if ratio else finite
    low, high = (float(data.min()), float(data.max())) if data.size else (-0.1, 0.1)
    pad = max(0.08 * (high - low), 0.05)
    low, high = low - pad, high + pad
    if ratio:
        ax.set_yscale("log")
        low, high = float(np.exp(low)), float(np.exp(high))
        set_ratio_ticks(ax.yaxis, low, high)
        label = f"{label} (log scale)"
    ax.set_ylim(low, high)
    ax.set_ylabel(label)


@dataclass(frozen=True)
class Curve:
    """A fitted line with its confidence band (``low``/``high`` None: no band), display scale."""

    x: np.ndarray
    y: np.ndarray
    low: np.ndarray | None
    high: np.ndarray | None
    label: str
    band_label: str
    gid: str


@dataclass(frozen=True)
class Studies:
    """Study points: position (display scale), weight (marker area ∝ weight) and name."""

    x: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    labels: Sequence[str]
    gid: str


@dataclass(frozen=True)
class ChartText:
    """The words of a chart, from the results."""

    gid: str
    title: str
    x_title: str
    y_title: str  # the measure's label


def curve_and_studies(
    text: ChartText, ratio: bool, curve: Curve | None, studies: Studies
) -> Figure:
    """A chart of study effects against a variable with a fitted curve and its band (bubble
    and dose-response plots): marker area ∝ weight, each study named (:func:`label_points`),
    the line of no effect, a log effect axis with readable ticks for ratios."""
    fig, ax = new_chart(SIZE_IN, MARGINS_IN, text.gid)
    drawn_x, drawn_y = [studies.x], [studies.y]
    if curve is not None:
        if curve.low is not None and curve.high is not None:
            ax.fill_between(
                curve.x,
                curve.low,
                curve.high,
                color=BLUE,
                alpha=0.15,
                linewidth=0,
                gid="ci-band",
                label=curve.band_label,
            )
            drawn_y += [curve.low, curve.high]
        ax.plot(curve.x, curve.y, color=BLUE, linewidth=1.3, gid=curve.gid, label=curve.label)
        drawn_x.append(curve.x)
        drawn_y.append(curve.y)
    top = float(np.nanmax(studies.weights)) if np.isfinite(studies.weights).any() else 0.0
    sizes = MAX_POINT_PT2 * np.nan_to_num(studies.weights / (top or 1.0), nan=0.0)
    ax.scatter(
        studies.x,
        studies.y,
        s=sizes,
        facecolor=BLUE,
        alpha=0.45,
        edgecolor="black",
        linewidth=0.5,
        zorder=3,
        gid=studies.gid,
    )
    ax.axhline(1.0 if ratio else 0.0, color="grey", linewidth=0.6, linestyle=":", gid="null-line")
    xs = np.concatenate(drawn_x)
    xs = xs[np.isfinite(xs)]
    if xs.size:
        span = float(xs.max() - xs.min()) or 1.0
        ax.set_xlim(xs.min() - 0.03 * span, xs.max() + 0.03 * span)
    set_effect_axis(ax, np.concatenate(drawn_y), ratio=ratio, label=text.y_title)
    ax.set_xlabel(text.x_title)
    chart_title(fig, text.title, legend=curve is not None)
    points = [
        Point(float(a), float(b), marker_radius(float(size)), str(label))
        for a, b, size, label in zip(studies.x, studies.y, sizes, studies.labels, strict=True)
        if np.isfinite(a) and np.isfinite(b)
    ]
    label_points(fig, ax, points)
    return fig


@dataclass(frozen=True)
class Point:
    """A marked point to label: data position, marker radius (points) and its label."""

    x: float
    y: float
    radius: float
    label: str


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in points from the bottom left
Placed = tuple[Box, str, str]  # the box, and the text's horizontal and vertical alignment


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(a: Box, frame: Box) -> bool:
    return frame[0] <= a[0] and a[2] <= frame[2] and frame[1] <= a[1] and a[3] <= frame[3]


def _candidates(cx: float, cy: float, r: float, w: float, h: float) -> list[Placed]:
    """Label boxes around a marker at (cx, cy): right, left, above, below, then diagonals."""
    g, d = r + 1.5, (r + 1.5) * 0.7
    return [
        ((cx + g, cy - h / 2, cx + g + w, cy + h / 2), "left", "center"),
        ((cx - g - w, cy - h / 2, cx - g, cy + h / 2), "right", "center"),
        ((cx - w / 2, cy + g, cx + w / 2, cy + g + h), "center", "bottom"),
        ((cx - w / 2, cy - g - h, cx + w / 2, cy - g), "center", "top"),
        ((cx + d, cy + d, cx + d + w, cy + d + h), "left", "bottom"),
        ((cx + d, cy - d - h, cx + d + w, cy - d), "left", "top"),
        ((cx - d - w, cy + d, cx - d, cy + d + h), "right", "bottom"),
        ((cx - d - w, cy - d - h, cx - d, cy - d), "right", "top"),
    ]


def place_labels(
    fig: Figure, ax: Axes, points: Sequence[Point], texts: Sequence[str]
) -> list[Placed] | None:
    """A box beside each point for its text that overlaps no marker and no other label and
    stays inside the axes (positions in points); None when some point has no such place."""
    to_pt = ax.transData + fig.dpi_scale_trans.inverted()
    width, height = fig.get_size_inches()
    f = ax.get_position()
    frame = (f.x0 * width * 72, f.y0 * height * 72, f.x1 * width * 72, f.y1 * height * 72)
    centres = [(72 * a, 72 * b) for a, b in to_pt.transform([(p.x, p.y) for p in points])]
    taken: list[Box] = [
        (cx - p.radius, cy - p.radius, cx + p.radius, cy + p.radius)
        for p, (cx, cy) in zip(points, centres, strict=True)
    ]
    placed = []
    for p, (cx, cy), text in zip(points, centres, texts, strict=True):
        w, h = text_width(text, LABEL_SIZE), LABEL_SIZE * 0.95
        spot = next(
            (
                c
                for c in _candidates(cx, cy, p.radius, w, h)
                if _inside(c[0], frame) and not any(_overlaps(c[0], t) for t in taken)
            ),
            None,
        )
        if spot is None:
            return None
        taken.append(spot[0])
        placed.append(spot)
    return placed


def label_points(fig: Figure, ax: Axes, points: Sequence[Point]) -> None:
    """Name each point beside its marker (small text placed where it overlaps nothing); when
    the names do not all fit, number the points and list the numbers under the axes."""
    texts = [p.label for p in points]
    placed = place_labels(fig, ax, points, texts)
    if placed is None:
        texts = [str(i) for i in range(1, len(points) + 1)]
        _add_key(fig, ax, [p.label for p in points])
        placed = place_labels(fig, ax, points, texts)
    for i, (p, text) in enumerate(zip(points, texts, strict=True)):
        style: dict[str, Any] = {
            "fontsize": LABEL_SIZE,
            "parse_math": False,
            "gid": f"point-label-{i}",
        }
        if placed is None:  # crowded even as numbers: beside the marker, overlaps accepted
            offset = (p.radius + 1.5, 0.0)
            ax.annotate(
                text,
                (p.x, p.y),
                xytext=offset,
                textcoords="offset points",
                ha="left",
                va="center",
                **style,
            )
            continue
        box, ha, va = placed[i]
        x = {"left": box[0], "right": box[2], "center": (box[0] + box[2]) / 2}[ha]
        y = {"bottom": box[1], "top": box[3], "center": (box[1] + box[3]) / 2}[va]
        fig.text(x / 72, y / 72, text, transform=fig.dpi_scale_trans, ha=ha, va=va, **style)


def _add_key(fig: Figure, ax: Axes, labels: Sequence[str]) -> None:
    """Grow the figure at the bottom for the key "1 Name   2 Name …" and write it there; the
    axes keep their size and their distance from the top."""
    width, height = fig.get_size_inches()
    lines = key_lines(
        [f"{i} {label}" for i, label in enumerate(labels, start=1)], (width - 0.4) * 72
    )
    extra = (len(lines) * LABEL_SIZE * 1.3 + 6) / 72
    f = ax.get_position()
    fig.set_size_inches(width, height + extra)
    new_h = height + extra
    ax.set_position((f.x0, (f.y0 * height + extra) / new_h, f.width, f.height * height / new_h))
    for j, line in enumerate(lines):
        y = (extra * 72 - 4 - (j + 0.8) * LABEL_SIZE * 1.3) / 72
        fig.text(
            0.2,
            y,
            line,
            transform=fig.dpi_scale_trans,
            fontsize=LABEL_SIZE,
            parse_math=False,
            gid=f"point-key-{j}",
        )


def key_lines(entries: Sequence[str], width: float, gap: str = "   ") -> list[str]:
    """``entries`` packed into lines of at most ``width`` points, an entry broken over lines
    only when it is wider than a line by itself."""
    lines: list[str] = []
    for entry in entries:
        joined = f"{lines[-1]}{gap}{entry}" if lines else entry
        if lines and text_width(joined, LABEL_SIZE) <= width:
            lines[-1] = joined
        else:
            lines += wrap(entry, width, LABEL_SIZE)
    return lines


def marker_radius(size_pt2: float) -> float:
    """Radius in points of a round scatter marker of size ``size_pt2`` (matplotlib's ``s``:
    the square of the marker's diameter in points)."""
    return math.sqrt(max(size_pt2, 0.0)) / 2
