"""Forest plots in the layout of RevMan 5: standard, by subgroup, leave-one-out and cumulative.

Three steps, each its own function: :func:`evsynth.plots.forest_rows.forest_table` says what
the plot prints (rows, columns, footer); :func:`forest_layout` measures every text in the
figures' font and places the columns, rows and plot; :func:`draw_forest` draws the result as a
:class:`~evsynth.plots.drawing.Drawing` (SVG written directly, PNG through matplotlib).

- Columns are as wide as their longest text; study labels longer than :data:`LABEL_MAX_PT`
  wrap onto further lines (never cut), and a trial with several comparisons shows each
  comparison under its label.
- The axis is the analysis's one axis (:func:`evsynth.plots.axis.forest_axis`), the same in
  every forest-type plot of the analysis; an interval that runs off it ends in an arrow.
- Square area is proportional to the study's weight; diamonds span the pooled interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evsynth import format as fmt
from evsynth.plots.axis import Axis, forest_axis
from evsynth.plots.drawing import Drawing, Group
from evsynth.plots.fonts import face, text_width, wrap
from evsynth.plots.forest_rows import Column, ForestTable, Row, Variant, forest_table

FONT_SIZE = 8.0  # points
TITLE_SIZE = 9.5
SUBLABEL_SIZE = 7.0
LINE_PT = 16.56  # one row of the table (0.23 inch)
WRAP_PT = 10.5  # each further line of a wrapped label or note
BLANK_PT = 8.0  # the blank row before a total
PAD_PT = 10.0  # between columns
MARGIN_PT = 8.5
LABEL_MAX_PT = 172.8  # study labels wrap beyond 2.4 inches
MIN_PLOT_PT = 172.8
MAX_SQUARE_PT = 0.72 * LINE_PT  # side of the square of the heaviest study
DOT_RADIUS_PT = 2.25  # leave-one-out and cumulative rows
DIAMOND_HALF_PT = 6.0
ARROW_PT = 4.0
TICK_PT = 3.0
INK = "#000000"
BLUE = "#1f4e79"
RED = "#b22222"
GREY = "#444444"


def _width(text: str, bold: bool = False, size: float = FONT_SIZE) -> float:
    return text_width(text, size, "bold" if bold else "normal")


def _baseline(centre: float, size: float = FONT_SIZE) -> float:
    """Baseline that centres capitals and digits of ``size`` on ``centre``."""
    return centre + face().cap_height * size / 2


@dataclass(frozen=True)
class RowBox:
    """Where one row goes: its top, first-line centre and the lines of its label."""

    top: float
    centre: float
    lines: tuple[str, ...]  # label (or note / heading) lines
    sublines: tuple[str, ...]  # comparison lines, smaller, under the label
    height: float


@dataclass(frozen=True)
class ForestLayout:
    """Positions in points from the top-left corner (y downwards)."""

    width: float
    height: float
    x: Mapping[str, float]  # left edge of each column
    widths: Mapping[str, float]
    groups: Mapping[str, tuple[str, ...]]  # header above columns -> its (wrapped) lines
    title: tuple[str, ...]
    header_top: float
    header_lines: int  # lines of the group headers (the column headers follow)
    rows: tuple[RowBox, ...]
    data_top: float
    axis_y: float
    plot_x0: float
    plot_w: float
    footer: tuple[str, ...]
    favours: tuple[tuple[str, ...], tuple[str, ...]]

    def x_of(self, axis: Axis, value: float) -> float:
        """Horizontal position of an effect ``value`` in the plot column."""
        return self.plot_x0 + axis.fraction(value) * self.plot_w


def _column_widths(table: ForestTable) -> dict[str, float]:
    """Each column as wide as its widest cell or header; labels at most LABEL_MAX_PT; an arm's
    name must fit over its columns (its words may wrap, no word is cut)."""
    widths: dict[str, float] = {}
    for col in table.columns:
        cells = [_width(r.cells.get(col.key, ""), r.bold) for r in table.rows]
        if col.key == "label":
            cells = [min(_width(r.label, r.bold), LABEL_MAX_PT) for r in _study_like(table)]
        widths[col.key] = max([_width(col.header, True), *cells]) + PAD_PT
    arms: dict[str, list[str]] = {}
    for col in table.columns:
        if col.group:
            arms.setdefault(col.group, []).append(col.key)
    for name, keys in arms.items():
        widest_word = max(_width(word, True) for word in name.split()) + PAD_PT
        have = sum(widths[k] for k in keys)
        if widest_word > have:
            for k in keys:
                widths[k] += (widest_word - have) / len(keys)
    return widths


def _study_like(table: ForestTable) -> list[Row]:
    """Rows whose label sits in the label column (headings and notes span the table)."""
    return [r for r in table.rows if r.kind not in ("heading", "note", "blank")]


def _row_boxes(table: ForestTable, label_w: float, table_w: float, top: float) -> list[RowBox]:
    boxes = []
    for row in table.rows:
        weight = "bold" if row.bold else "normal"
        if row.kind == "blank":
            lines: list[str] = []
        elif row.kind in ("heading", "note"):
            lines = wrap(row.label, table_w, FONT_SIZE, weight)
        else:
            lines = wrap(row.label, label_w - PAD_PT, FONT_SIZE, weight)
        sub = wrap(row.sublabel, label_w - PAD_PT, SUBLABEL_SIZE) if row.sublabel else []
        extra = len(lines) + len(sub) - 1
        height = BLANK_PT if row.kind == "blank" else LINE_PT + max(extra, 0) * WRAP_PT
        boxes.append(RowBox(top, top + LINE_PT / 2, tuple(lines), tuple(sub), height))
        top += height
    return boxes


def forest_layout(table: ForestTable, axis: Axis) -> ForestLayout:
    """Measure the texts of ``table`` and place columns, rows, the plot and the footer."""
    widths = _column_widths(table)
    table_w = sum(widths.values())
    x, left = {}, MARGIN_PT
    for col in table.columns:
        x[col.key] = left
        left += widths[col.key]
    ticks = [fmt.tick(t) for t in axis.ticks]
    plot_x0 = MARGIN_PT + table_w + max(PAD_PT, _width(ticks[0]) / 2 + 4)
    plot_w = max(MIN_PLOT_PT, _width(table.effect_group, True), _width(table.effect_header, True))
    plot_w += 10
    width = plot_x0 + plot_w + max(MARGIN_PT, _width(ticks[-1]) / 2 + 4)
    title = tuple(wrap(table.title, width - 2 * MARGIN_PT, TITLE_SIZE, "bold"))
    groups = _header_groups(table, widths)
    header_top = MARGIN_PT + len(title) * TITLE_SIZE * 1.35 + 2
    header_lines = max((len(v) for v in groups.values()), default=1)
    data_top = header_top + LINE_PT * 2 + (header_lines - 1) * WRAP_PT
    rows = _row_boxes(table, widths["label"], table_w, data_top)
    axis_y = rows[-1].top + rows[-1].height if rows else data_top
    footer = tuple(line for text in table.footer for line in wrap(text, table_w, FONT_SIZE))
    half = plot_w / 2 - 6
    favours = (
        tuple(wrap(table.favours[0], half, FONT_SIZE)),
        tuple(wrap(table.favours[1], half, FONT_SIZE)),
    )
    favour_lines = max(len(favours[0]), len(favours[1]))
    below_axis = LINE_PT * 1.8 + favour_lines * WRAP_PT
    footer_h = max(len(footer) * LINE_PT, below_axis)
    return ForestLayout(
        width=width,
        height=axis_y + footer_h + MARGIN_PT,
        x=x,
        widths=widths,
        groups=groups,
        title=title,
        header_top=header_top,
        header_lines=header_lines,
        rows=tuple(rows),
        data_top=data_top,
        axis_y=axis_y,
        plot_x0=plot_x0,
        plot_w=plot_w,
        footer=footer,
        favours=favours,
    )


def _header_groups(table: ForestTable, widths: Mapping[str, float]) -> dict[str, tuple[str, ...]]:
    """The lines of each arm's name, wrapped to the width of its columns."""
    spans: dict[str, float] = {}
    for col in table.columns:
        if col.group:
            spans[col.group] = spans.get(col.group, 0.0) + widths[col.key]
    return {name: tuple(wrap(name, w - PAD_PT / 2, FONT_SIZE, "bold")) for name, w in spans.items()}


def _draw_headers(d: Drawing, table: ForestTable, lay: ForestLayout) -> None:
    g = d.group("title")
    for i, line in enumerate(lay.title):
        y = MARGIN_PT + (i + 0.5) * TITLE_SIZE * 1.35
        g.text(MARGIN_PT, _baseline(y, TITLE_SIZE), line, TITLE_SIZE, weight="bold")
    g = d.group("headers")
    first = lay.header_top + LINE_PT / 2
    column_y = first + LINE_PT + (lay.header_lines - 1) * WRAP_PT
    for name, lines in lay.groups.items():
        keys = [c.key for c in table.columns if c.group == name]
        centre = (lay.x[keys[0]] + lay.x[keys[-1]] + lay.widths[keys[-1]]) / 2
        shift = lay.header_lines - len(lines)  # bottom-aligned above the column headers
        for j, line in enumerate(lines):
            y = first + (shift + j) * WRAP_PT
            g.text(centre, _baseline(y), line, FONT_SIZE, weight="bold", anchor="middle")
    for col in table.columns:
        x, anchor = _cell_x(col, lay)
        g.text(x, _baseline(column_y), col.header, FONT_SIZE, weight="bold", anchor=anchor)
    effect_x = lay.x["effect"] + lay.widths["effect"] / 2
    plot_centre = lay.plot_x0 + lay.plot_w / 2
    group_y = first + (lay.header_lines - 1) * WRAP_PT
    for cx in (effect_x, plot_centre):
        g.text(
            cx, _baseline(group_y), table.effect_group, FONT_SIZE, weight="bold", anchor="middle"
        )
    g.text(
        plot_centre,
        _baseline(column_y),
        table.effect_header,
        FONT_SIZE,
        weight="bold",
        anchor="middle",
    )


def _cell_x(col: Column, lay: ForestLayout) -> tuple[float, str]:
    if col.align == "start":
        return lay.x[col.key], "start"
    return lay.x[col.key] + lay.widths[col.key] / 2, "middle"


def _draw_row_text(g: Group, row: Row, box: RowBox, table: ForestTable, lay: ForestLayout) -> None:
    weight = "bold" if row.bold else "normal"
    for j, line in enumerate(box.lines):
        g.text(MARGIN_PT, _baseline(box.centre + j * WRAP_PT), line, FONT_SIZE, weight=weight)
    for j, line in enumerate(box.sublines, start=len(box.lines)):
        y = _baseline(box.centre + j * WRAP_PT, SUBLABEL_SIZE)
        g.text(MARGIN_PT, y, line, SUBLABEL_SIZE, style="italic", fill=GREY)
    for col in table.columns:
        text = row.cells.get(col.key, "")
        if col.key != "label" and text:
            x, anchor = _cell_x(col, lay)
            g.text(x, _baseline(box.centre), text, FONT_SIZE, weight=weight, anchor=anchor)


@dataclass
class _Marks:
    """The plot column's groups, filled row by row."""

    ci: Group
    pi: Group
    squares: Group
    dots: Group
    diamonds: Group
    arrows: Group


def _interval(marks: _Marks, row: Row, y: float, axis: Axis, lay: ForestLayout) -> None:
    """The CI (or prediction-interval) line of ``row`` cut at the axis, with an arrow on each
    side where the interval runs beyond it."""
    if not (math.isfinite(row.low) and math.isfinite(row.high)):
        return
    x0 = lay.x_of(axis, max(row.low, axis.low))
    x1 = lay.x_of(axis, min(row.high, axis.high))
    if row.kind == "pi":
        marks.pi.lines([((x0, y), (x1, y))], 3.0, RED)
    elif row.kind != "subtotal" and row.kind != "total":
        marks.ci.lines([((x0, y), (x1, y))], 0.8, INK)
    h = ARROW_PT * 0.6  # arrows point out of the plot, just beyond its edges
    if row.low < axis.low:
        x = lay.plot_x0
        marks.arrows.polygon([(x - ARROW_PT, y), (x, y - h), (x, y + h)], INK)
    if row.high > axis.high:
        x = lay.plot_x0 + lay.plot_w
        marks.arrows.polygon([(x + ARROW_PT, y), (x, y - h), (x, y + h)], INK)


def _draw_mark(
    marks: _Marks, row: Row, y: float, axis: Axis, lay: ForestLayout, top: float
) -> None:
    if not math.isfinite(row.est) or row.kind not in (
        "study",
        "estimate",
        "pi",
        "subtotal",
        "total",
    ):
        return
    _interval(marks, row, y, axis, lay)
    x = lay.x_of(axis, row.est)
    if row.kind == "study" and axis.holds(row.est):
        side = MAX_SQUARE_PT * math.sqrt(max(row.weight or 0.0, 0.0) / top) if top > 0 else 0.0
        marks.squares.rect(x - side / 2, y - side / 2, side, side, BLUE)
    elif row.kind == "estimate" and axis.holds(row.est):
        marks.dots.circle(x, y, DOT_RADIUS_PT, BLUE)
    elif row.kind in ("subtotal", "total"):
        low, high = lay.x_of(axis, row.low), lay.x_of(axis, row.high)
        h = DIAMOND_HALF_PT
        marks.diamonds.polygon([(low, y), (x, y - h), (high, y), (x, y + h)], INK, INK, 0.5)


def _draw_rows(d: Drawing, table: ForestTable, lay: ForestLayout, axis: Axis) -> None:
    d.clip("plot-area", lay.plot_x0, lay.data_top, lay.plot_w, lay.axis_y - lay.data_top)
    null_x = lay.x_of(axis, axis.null)
    d.group("null-line").lines([((null_x, lay.data_top), (null_x, lay.axis_y))], 0.6)
    marks = _Marks(
        d.group("ci-lines"),
        d.group("pi-lines"),
        d.group("squares"),
        d.group("dots"),
        d.group("diamonds", clip="plot-area"),
        d.group("arrows"),
    )
    top = max((r.weight or 0.0 for r in table.rows if r.kind == "study"), default=0.0)
    for i, (row, box) in enumerate(zip(table.rows, lay.rows, strict=True)):
        _draw_row_text(d.group(f"row-{i}"), row, box, table, lay)
        _draw_mark(marks, row, box.centre, axis, lay, top)


def _draw_axis(d: Drawing, table: ForestTable, lay: ForestLayout, axis: Axis) -> None:
    g = d.group("axis")
    right = lay.plot_x0 + lay.plot_w
    segments = [((lay.plot_x0, lay.axis_y), (right, lay.axis_y))]
    label_y = _baseline(lay.axis_y + TICK_PT + LINE_PT * 0.45)
    for tick in axis.ticks:
        x = lay.x_of(axis, tick)
        segments.append(((x, lay.axis_y), (x, lay.axis_y + TICK_PT)))
        g.text(x, label_y, fmt.tick(tick), FONT_SIZE, anchor="middle")
    g.lines(segments, 0.8)
    g = d.group("favours")
    null_x = lay.x_of(axis, axis.null)
    first = lay.axis_y + LINE_PT * 1.5
    for lines, x, anchor in (
        (lay.favours[0], null_x - 6, "end"),
        (lay.favours[1], null_x + 6, "start"),
    ):
        for j, line in enumerate(lines):
            g.text(x, _baseline(first + j * WRAP_PT), line, FONT_SIZE, anchor=anchor)
    g = d.group("footer")
    for j, line in enumerate(lay.footer):
        g.text(MARGIN_PT, _baseline(lay.axis_y + (j + 0.5) * LINE_PT), line, FONT_SIZE)


def draw_forest(table: ForestTable, axis: Axis, gid: str = "forest-plot") -> Drawing:
    """Draw ``table`` on ``axis`` (see :func:`forest_layout`)."""
    lay = forest_layout(table, axis)
    d = Drawing(lay.width, lay.height, gid, FONT_SIZE)
    _draw_headers(d, table, lay)
    _draw_rows(d, table, lay, axis)
    _draw_axis(d, table, lay, axis)
    return d


def forest_plot(
    analysis: Mapping[str, Any],
    subgroup: str | None = None,
    *,
    variant: Variant = "standard",
) -> Drawing:
    """Forest plot of one analysis (a per-analysis dict of ``results/analyses/{dataset}.json``).

    ``subgroup`` names a key of ``analysis["subgroups"]``: studies are then grouped under their
    group's label, with a subtotal, heterogeneity and test lines per group and the test for
    subgroup differences. ``variant="leave_one_out"`` or ``"cumulative"`` plots
    ``analysis["leave_one_out"]`` / ``analysis["cumulative"]`` instead (one pooled estimate per
    row, equal dots). Every variant uses the analysis's one axis (:func:`forest_axis`).
    """
    table = forest_table(analysis, subgroup, variant)
    return draw_forest(table, forest_axis(analysis))
