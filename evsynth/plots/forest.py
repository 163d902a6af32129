"""Forest plots in the layout of RevMan 5: standard, by subgroup, leave-one-out and cumulative.

The table (study, events/total per arm, weight, effect with CI) and the plot share one row
grid whose height is :data:`evsynth.plots.layout.ROW_HEIGHT_IN` per row; every column is as wide
as its longest text measured in DejaVu Sans, so 2 and 40 studies need no manual sizing.
Long study labels are shortened with "…"; the full label is kept in the SVG as a ``<title>``
(see :func:`evsynth.plots.output.save_figure`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon
from matplotlib.ticker import NullLocator
from matplotlib.transforms import blended_transform_factory

from evsynth.plots.layout import (
    FONT_SIZE,
    ROW_HEIGHT_IN,
    fmt_effect,
    fmt_int,
    fmt_num,
    font,
    heterogeneity_text,
    identity_limits,
    is_ratio,
    measure_name,
    method_text,
    overall_test_text,
    plot_style,
    ratio_limits,
    shorten,
    subgroup_difference_text,
    text_width_in,
    tick_label,
    to_display,
)

Variant = Literal["standard", "leave_one_out", "cumulative"]

LABEL_MAX_IN = 2.4  # longest visible study label; longer ones end in "…"
PAD_IN = 0.14  # space between columns
GAP_IN = 0.3  # between the table and the plot (room for the first tick label)
MARGIN_IN = 0.12
MIN_PLOT_IN = 2.4
MAX_SQUARE_PT = 0.72 * ROW_HEIGHT_IN * 72  # side of the square of the heaviest study
DOT_PT = 4.5  # equal dots of leave-one-out / cumulative rows
TITLE_SIZE = FONT_SIZE + 1.5
ARM_LABELS = ("Vitamin D", "Control")


@dataclass
class Row:
    """One line of the forest plot: table cells plus what to draw in the plot column."""

    kind: str  # study | estimate | subtotal | total | pi | heading | events | note | blank
    cells: dict[str, str] = field(default_factory=dict)
    span: str | None = None  # text across the table (headings, heterogeneity lines)
    arms_span: str | None = None  # generic rows: published estimate across the arm columns
    est: float = math.nan  # display scale
    low: float = math.nan
    high: float = math.nan
    weight: float | None = None
    full_label: str | None = None
    bold: bool = False


@dataclass
class Column:
    """A table column: key into :attr:`Row.cells`, two header lines and alignment."""

    key: str
    header: str
    group: str = ""  # header above the column (arm name), shared by neighbours
    align: str = "center"


def _pooled_display(result: dict, ratio: bool) -> tuple[float, float, float]:
    return (
        to_display(result.get("estimate"), ratio),
        to_display(result.get("ci_low"), ratio),
        to_display(result.get("ci_high"), ratio),
    )


def _sum(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return float(sum(present)) if present else None


def _study_row(study: dict, ratio: bool, measure: str) -> Row:
    cells = {
        "label": study.get("label") or study.get("study_id", ""),
        "weight": f"{fmt_num(study.get('weight_pct'), 1)}%",
        "effect": "",
    }
    est = to_display(study.get("yi"), ratio)
    low, high = to_display(study.get("ci_low"), ratio), to_display(study.get("ci_high"), ratio)
    cells["effect"] = fmt_effect(est, low, high)
    row = Row("study", cells, est=est, low=low, high=high, weight=study.get("weight_pct"))
    row.full_label = cells["label"]
    if study.get("input") == "generic":
        published = study.get("effect_measure") or measure
        if study.get("effect") is not None:
            row.arms_span = "{} {} (published)".format(
                published,
                fmt_effect(
                    study["effect"], study.get("effect_ci_low"), study.get("effect_ci_high")
                ),
            )
        else:
            row.arms_span = f"{published}: published estimate"
    else:
        for key, value in (
            ("e1", study.get("events_treat")),
            ("n1", study.get("n_treat")),
            ("e2", study.get("events_control")),
            ("n2", study.get("n_control")),
        ):
            row.cells[key] = fmt_int(value)
    return row


def _pooled_row(kind: str, label: str, result: dict, studies: list[dict], ratio: bool) -> list[Row]:
    """Subtotal/Total row with participants and weight, followed by its "Total events" row."""
    est, low, high = _pooled_display(result, ratio)
    weight = _sum([s.get("weight_pct") for s in studies])
    row = Row(
        kind,
        {
            "label": label,
            "n1": fmt_int(_sum([s.get("n_treat") for s in studies])),
            "n2": fmt_int(_sum([s.get("n_control") for s in studies])),
            "weight": f"{fmt_num(weight, 1)}%" if weight is not None else "",
            "effect": fmt_effect(est, low, high),
        },
        est=est,
        low=low,
        high=high,
        bold=True,
    )
    two_by_two = [s for s in studies if s.get("input") != "generic"]
    rows = [row]
    if two_by_two:
        rows.append(
            Row(
                "events",
                {
                    "label": "Total events",
                    "e1": fmt_int(_sum([s.get("events_treat") for s in two_by_two])),
                    "e2": fmt_int(_sum([s.get("events_control") for s in two_by_two])),
                },
            )
        )
    return rows


def _pi_row(result: dict, ratio: bool) -> list[Row]:
    low, high = to_display(result.get("pi_low"), ratio), to_display(result.get("pi_high"), ratio)
    if result.get("k", 0) < 2 or not (math.isfinite(low) and math.isfinite(high)):
        return []
    level = round(100 * result.get("level", 0.95))
    return [
        Row(
            "pi",
            {"label": "Prediction interval", "effect": f"[{fmt_num(low)}, {fmt_num(high)}]"},
            est=to_display(result.get("estimate"), ratio),
            low=low,
            high=high,
            full_label=f"{level}% prediction interval",
        )
    ]


def _standard_rows(analysis: dict, subgroup: str | None) -> tuple[list[Row], list[str]]:
    ratio = is_ratio(analysis)
    measure = analysis.get("measure", "")
    studies = analysis.get("studies", [])
    overall = analysis.get("overall") or {}
    rows: list[Row] = []
    footer: list[str] = []
    if subgroup is not None:
        block = (analysis.get("subgroups") or {}).get(subgroup)
        if block is None:
            known = ", ".join(sorted(analysis.get("subgroups") or {})) or "none"
            raise KeyError(
                f"analysis {analysis.get('id')!r} has no subgroup {subgroup!r} (known: {known})"
            )
        placed: set[str] = set()
        for number, group in enumerate(block.get("groups", []), start=1):
            ids = set(group.get("row_ids", []))
            members = [s for s in studies if s.get("row_id") in ids]
            placed |= ids
            rows.append(Row("heading", span=f"{number} {group.get('group')}", bold=True))
            rows.extend(_study_row(s, ratio, measure) for s in members)
            rows.extend(_pooled_row("subtotal", "Subtotal (95% CI)", group, members, ratio))
            rows.append(Row("note", span=heterogeneity_text(group)))
            rows.append(Row("note", span=overall_test_text(group)))
            rows.append(Row("blank"))
        missing = [s for s in studies if s.get("row_id") not in placed]
        if missing:
            names = ", ".join(s.get("label", "") for s in missing)
            footer.append(f"Not in any subgroup (no value recorded): {names}")
    else:
        rows.extend(_study_row(s, ratio, measure) for s in studies)
        rows.append(Row("blank"))
    if overall:
        rows.extend(_pooled_row("total", "Total (95% CI)", overall, studies, ratio))
        rows.extend(_pi_row(overall, ratio))
        footer[:0] = [heterogeneity_text(overall), overall_test_text(overall)]
    if subgroup is not None:
        footer.insert(2, subgroup_difference_text(analysis["subgroups"][subgroup]))
    footer.append(method_text(analysis))
    if any(s.get("input") == "generic" for s in studies):
        footer.append(
            "Rows without counts: published estimate (95% CI) entered as generic inverse "
            "variance; their events are not in the totals."
        )
    return rows, footer


def _sensitivity_rows(analysis: dict, variant: Variant) -> tuple[list[Row], list[str]]:
    ratio = is_ratio(analysis)
    key = "leave_one_out" if variant == "leave_one_out" else "cumulative"
    entries = analysis.get(key) or []
    if not entries:
        raise KeyError(f"analysis {analysis.get('id')!r} has no {key!r} results to plot")
    rows: list[Row] = []
    for entry in entries:
        est, low, high = _pooled_display(entry, ratio)
        label = entry.get("label", "")
        label = f"Omitting {label}" if key == "leave_one_out" else f"+ {label}"
        rows.append(
            Row(
                "estimate",
                {
                    "label": label,
                    "k": str(entry.get("k", "")),
                    "tau2": fmt_num(entry.get("tau2")),
                    "i2": f"{fmt_int(entry.get('i2'))}%",
                    "effect": fmt_effect(est, low, high),
                },
                est=est,
                low=low,
                high=high,
                full_label=label,
            )
        )
    overall = analysis.get("overall") or {}
    footer = []
    if overall:
        est, low, high = _pooled_display(overall, ratio)
        rows.append(Row("blank"))
        rows.append(
            Row(
                "total",
                {
                    "label": "All studies (95% CI)",
                    "k": str(overall.get("k", "")),
                    "tau2": fmt_num(overall.get("tau2")),
                    "i2": f"{fmt_int(overall.get('i2'))}%",
                    "effect": fmt_effect(est, low, high),
                },
                est=est,
                low=low,
                high=high,
                bold=True,
            )
        )
    if key == "leave_one_out":
        footer.append("Each row: pooled estimate of all studies except the one named.")
    else:
        footer.append("Each row: pooled estimate of the studies up to and including the one named.")
    footer.append(method_text(analysis))
    return rows, footer


def _columns(analysis: dict, variant: Variant) -> list[Column]:
    level = round(100 * analysis.get("level", 0.95))
    model = "Fixed" if analysis.get("method") == "EE" else "Random"
    effect = Column(
        "effect",
        f"IV, {model}, {level}% CI",
        measure_name(analysis),
    )
    if variant != "standard":
        label = "Study omitted" if variant == "leave_one_out" else "Study added"
        return [
            Column("label", label, align="left"),
            Column("k", "k"),
            Column("tau2", "Tau²"),
            Column("i2", "I²"),
            effect,
        ]
    treat, control = analysis.get("arm_labels") or ARM_LABELS
    return [
        Column("label", "Study or subgroup", align="left"),
        Column("e1", "Events", treat),
        Column("n1", "Total", treat),
        Column("e2", "Events", control),
        Column("n2", "Total", control),
        Column("weight", "Weight"),
        effect,
    ]


def _axis_limits(rows: list[Row], ratio: bool) -> tuple[float, float, list[float]]:
    values: list[float] = []
    for row in rows:
        if row.kind in {"study", "estimate"}:
            values += [row.low, row.high]
        elif row.kind in {"subtotal", "total"}:
            values += [row.low, row.high, row.est]
    if ratio:
        low, high, ticks = ratio_limits(values)
        if low < 0.01:  # a huge CI alone must not squash the plot: cover the estimates
            core = [r.est for r in rows if r.kind in {"study", "estimate"}]
            core += [v for r in rows if r.kind in {"total", "subtotal"} for v in (r.low, r.high)]
            low, high, ticks = ratio_limits(core)
        return low, high, ticks
    return identity_limits(values)


def forest_plot(
    analysis: dict,
    subgroup: str | None = None,
    *,
    variant: Variant = "standard",
) -> Figure:
    """Forest plot of one analysis (a per-analysis dict of ``results/analyses/{dataset}.json``).

    ``subgroup`` names a key of ``analysis["subgroups"]``: studies are then grouped with a
    subtotal, heterogeneity and test lines per group and the test for subgroup differences.
    ``variant="leave_one_out"`` or ``"cumulative"`` plots ``analysis["leave_one_out"]`` /
    ``analysis["cumulative"]`` instead (one pooled estimate per row, equal dots).
    """
    if variant not in ("standard", "leave_one_out", "cumulative"):
        raise ValueError(
            f"variant must be 'standard', 'leave_one_out' or 'cumulative', not {variant!r}"
        )
    if variant != "standard" and subgroup is not None:
        raise ValueError("subgroup applies to the standard forest plot only")
    with plot_style():
        return _draw(analysis, subgroup, variant)


def _draw(analysis: dict, subgroup: str | None, variant: Variant) -> Figure:
    ratio = is_ratio(analysis)
    if variant == "standard":
        rows, footer = _standard_rows(analysis, subgroup)
    else:
        rows, footer = _sensitivity_rows(analysis, variant)
    columns = _columns(analysis, variant)

    # ---- visible labels (shortened) and column widths measured from the text
    for row in rows:
        if "label" in row.cells:
            weight = "bold" if row.bold else "normal"
            row.cells["label"] = shorten(row.cells["label"], LABEL_MAX_IN, weight=weight)
    widths: dict[str, float] = {}
    for col in columns:
        texts = [text_width_in(col.header, weight="bold")]
        texts += [
            text_width_in(r.cells.get(col.key, ""), weight="bold" if r.bold else "normal")
            for r in rows
        ]
        widths[col.key] = max(texts) + PAD_IN
    groups: dict[str, list[str]] = {}
    for col in columns:
        if col.group:
            groups.setdefault(col.group, []).append(col.key)
    for name, keys in groups.items():  # group header must fit over its columns
        need = text_width_in(name, weight="bold") + PAD_IN
        have = sum(widths[k] for k in keys)
        if need > have:
            for k in keys:
                widths[k] += (need - have) / len(keys)
    arm_keys = [c.key for c in columns if c.key in {"e1", "n1", "e2", "n2"}]
    spans = [text_width_in(r.arms_span) for r in rows if r.arms_span]
    if arm_keys and spans:
        need, have = max(spans) + PAD_IN, sum(widths[k] for k in arm_keys)
        if need > have:
            for k in arm_keys:
                widths[k] += (need - have) / len(arm_keys)
    table_w = sum(widths.values())
    span_w = [text_width_in(r.span or "", weight="bold" if r.bold else "normal") for r in rows]
    span_w += [text_width_in(t) for t in footer]
    widest_span = max(span_w, default=0.0) + 0.05
    if widest_span > table_w:
        widths["label"] += widest_span - table_w
        table_w = widest_span
    labels = analysis.get("labels") or {}
    left_label, right_label = labels.get("left", ""), labels.get("right", "")
    favour_w = max(text_width_in(left_label), text_width_in(right_label))
    effect_col = next(c for c in columns if c.key == "effect")
    plot_w = max(
        MIN_PLOT_IN,
        2 * favour_w + 0.3,
        text_width_in(effect_col.header, weight="bold") + 0.2,
        text_width_in(effect_col.group, weight="bold") + 0.2,
    )

    # ---- rows: title, 2 header lines, data rows, footer (axis ticks + favours share it)
    title = analysis.get("title") or analysis.get("id", "")
    if subgroup is not None:
        block = analysis["subgroups"][subgroup]
        title = f"{title}: by {str(block.get('title') or subgroup).lower()}"
    elif variant == "leave_one_out":
        title = f"{title}: leave-one-out analysis"
    elif variant == "cumulative":
        title = f"{title}: cumulative meta-analysis"
    title = shorten(title, MARGIN_IN + table_w + GAP_IN + plot_w, size=TITLE_SIZE, weight="bold")
    n_head, n_data = 3, len(rows)
    n_foot = max(len(footer), 3)
    fig_w = MARGIN_IN + table_w + GAP_IN + plot_w + MARGIN_IN
    fig_h = 2 * MARGIN_IN + (n_head + n_data + n_foot) * ROW_HEIGHT_IN + 0.08
    fig = Figure(figsize=(fig_w, fig_h))
    fig.set_gid("forest-plot")
    titles: dict[str, str] = {}
    fig._evsynth_titles = titles  # type: ignore[attr-defined]  # read by save_figure

    def y_of(row: float) -> float:
        """Centre of a row (0 = first header line) in inches from the bottom."""
        return fig_h - MARGIN_IN - (row + 0.5) * ROW_HEIGHT_IN

    inch = fig.dpi_scale_trans
    x_left: dict[str, float] = {}
    x = MARGIN_IN
    for col in columns:
        x_left[col.key] = x
        x += widths[col.key]
    plot_x0 = MARGIN_IN + table_w + GAP_IN

    def cell_x(col: Column) -> tuple[float, str]:
        if col.align == "left":
            return x_left[col.key], "left"
        return x_left[col.key] + widths[col.key] / 2, "center"

    # title and headers
    fig.text(
        MARGIN_IN,
        y_of(0),
        title,
        transform=inch,
        ha="left",
        va="center",
        weight="bold",
        size=TITLE_SIZE,
    )
    for name, keys in groups.items():
        centre = (x_left[keys[0]] + x_left[keys[-1]] + widths[keys[-1]]) / 2
        fig.text(centre, y_of(1), name, transform=inch, ha="center", va="center", weight="bold")
    for col in columns:
        cx, ha = cell_x(col)
        fig.text(cx, y_of(2), col.header, transform=inch, ha=ha, va="center", weight="bold")
    if effect_col.group:  # the table's copy is drawn with the column groups above
        fig.text(
            plot_x0 + plot_w / 2,
            y_of(1),
            effect_col.group,
            transform=inch,
            ha="center",
            va="center",
            weight="bold",
        )
    fig.text(
        plot_x0 + plot_w / 2,
        y_of(2),
        effect_col.header,
        transform=inch,
        ha="center",
        va="center",
        weight="bold",
    )

    # the plot axes covers exactly the data rows: data row i is centred at y = i + 0.5
    bottom = fig_h - MARGIN_IN - (n_head + n_data) * ROW_HEIGHT_IN
    ax = fig.add_axes(
        (plot_x0 / fig_w, bottom / fig_h, plot_w / fig_w, n_data * ROW_HEIGHT_IN / fig_h)
    )
    ax.set_gid("forest-axes")
    ax.set_ylim(n_data, 0)
    xmin, xmax, ticks = _axis_limits(rows, ratio)
    if ratio:
        ax.set_xscale("log")
    ax.set_xlim(xmin, xmax)
    ax.set_xticks(ticks, [tick_label(t) for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yticks([])
    for side in ("top", "left", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="x", labelsize=FONT_SIZE, length=3, pad=2)
    ax.patch.set_visible(False)
    null = 1.0 if ratio else 0.0
    ax.axvline(null, color="black", linewidth=0.6, zorder=1, gid="null-line")

    studies_w = [r.weight for r in rows if r.kind == "study" and r.weight]
    max_w = max(studies_w, default=1.0)
    marks = _Marks()
    n_diamonds = 0
    for i, row in enumerate(rows):
        yc = i + 0.5
        row_y = y_of(n_head + i)
        weight = "bold" if row.bold else "normal"
        row_font = font(weight=weight)
        if row.span is not None:
            fig.text(
                MARGIN_IN,
                row_y,
                row.span,
                transform=inch,
                ha="left",
                va="center",
                fontproperties=row_font,
            )
        for col in columns:
            text = row.cells.get(col.key)
            if not text:
                continue
            cx, ha = cell_x(col)
            artist = fig.text(
                cx, row_y, text, transform=inch, ha=ha, va="center", fontproperties=row_font
            )
            if col.key == "label":
                gid = f"label-{i}"
                artist.set_gid(gid)
                full = row.full_label or text
                if full != text:
                    titles[gid] = full
        if row.arms_span:
            x0 = x_left[arm_keys[0]]
            x1 = x_left[arm_keys[-1]] + widths[arm_keys[-1]]
            fig.text(
                (x0 + x1) / 2,
                row_y,
                row.arms_span,
                transform=inch,
                ha="center",
                va="center",
                style="italic",
                gid=f"published-{i}",
            )
        if not math.isfinite(row.est):
            continue
        if row.kind in {"study", "estimate", "pi"}:
            marks.interval(row, yc, xmin, xmax, thick=row.kind == "pi")
        if row.kind == "study":
            square_pt = MAX_SQUARE_PT * math.sqrt(max(row.weight or 0.0, 0.0) / max_w)
            marks.squares.append((row.est, yc, square_pt))
        elif row.kind == "estimate":
            marks.dots.append((row.est, yc))
        elif row.kind in {"subtotal", "total"}:
            half = 0.36
            diamond = Polygon(
                [(row.low, yc), (row.est, yc - half), (row.high, yc), (row.est, yc + half)],
                closed=True,
                facecolor="black",
                edgecolor="black",
                linewidth=0.5,
                gid=f"diamond-{row.kind}-{n_diamonds}",
            )
            ax.add_patch(diamond)
            n_diamonds += 1
    marks.draw(ax, xmin, xmax)

    # below the axis: favours labels (row 2 of the footer) and footer lines in the table
    foot0 = n_head + n_data
    label_y = y_of(foot0 + 1.6)
    blend = blended_transform_factory(ax.transData, inch)
    pad = 0.04 * (math.log(xmax / xmin) if ratio else (xmax - xmin))
    left_x = null / math.exp(pad) if ratio else null - pad
    right_x = null * math.exp(pad) if ratio else null + pad
    fig.text(
        left_x, label_y, left_label, transform=blend, ha="right", va="center", gid="favours-left"
    )
    fig.text(
        right_x, label_y, right_label, transform=blend, ha="left", va="center", gid="favours-right"
    )
    for j, line in enumerate(footer):
        fig.text(
            MARGIN_IN,
            y_of(foot0 + j),
            line,
            transform=inch,
            ha="left",
            va="center",
            gid=f"footer-{j}",
        )
    return fig


@dataclass
class _Marks:
    """What the plot column draws, gathered row by row and added as one artist per kind of
    mark: CI lines, prediction intervals, squares, dots and the arrows where an interval
    leaves the axis. matplotlib's cost is per artist, so a plot of 40 studies costs a handful
    of artists instead of over a hundred. y is a row centre in data units."""

    ci: list[tuple[float, float, float]] = field(default_factory=list)  # (low, high, y)
    pi: list[tuple[float, float, float]] = field(default_factory=list)
    squares: list[tuple[float, float, float]] = field(default_factory=list)  # (x, y, side pt)
    dots: list[tuple[float, float]] = field(default_factory=list)
    left: list[float] = field(default_factory=list)  # y of left arrows
    right: list[float] = field(default_factory=list)

    def interval(self, row: Row, y: float, xmin: float, xmax: float, *, thick: bool) -> None:
        """The CI (or, ``thick``, prediction-interval) line of ``row``, cut at the axis
        limits, with an arrow on each side where the interval goes beyond them."""
        (self.pi if thick else self.ci).append((max(row.low, xmin), min(row.high, xmax), y))
        if row.low < xmin:
            self.left.append(y)
        if row.high > xmax:
            self.right.append(y)

    def draw(self, ax, xmin: float, xmax: float) -> None:
        """Add the marks to ``ax`` (its limits already fixed: nothing is autoscaled)."""
        if self.ci:
            segments = [[(low, y), (high, y)] for low, high, y in self.ci]
            ax.add_collection(
                LineCollection(segments, colors="black", linewidths=0.8, gid="ci-lines"),
                autolim=False,
            )
        if self.pi:
            segments = [[(low, y), (high, y)] for low, high, y in self.pi]
            lines = LineCollection(
                segments, colors="#b22222", linewidths=3.0, capstyle="butt", gid="pi-lines"
            )
            ax.add_collection(lines, autolim=False)
        if self.squares:
            xs, ys, sides = zip(*self.squares, strict=True)
            ax.scatter(
                xs,
                ys,
                s=[v * v for v in sides],  # marker area in pt²: area ∝ weight
                marker="s",
                c="#1f4e79",
                linewidths=0,
                zorder=2,
                gid="squares",
            )
        if self.dots:
            xs, ys = zip(*self.dots, strict=True)
            dots = Line2D(
                xs, ys, marker="o", markersize=DOT_PT, linestyle="none", color="#1f4e79", gid="dots"
            )
            ax.add_line(dots)
        for rows_y, edge, marker, gid in (
            (self.left, xmin, "<", "arrows-left"),
            (self.right, xmax, ">", "arrows-right"),
        ):
            if rows_y:
                arrows = Line2D(
                    [edge] * len(rows_y),
                    rows_y,
                    marker=marker,
                    markersize=4,
                    linestyle="none",
                    color="black",
                    gid=gid,
                    clip_on=False,
                )
                ax.add_line(arrows)
