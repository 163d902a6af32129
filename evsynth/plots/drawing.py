"""A small vector drawing (text, lines, rectangles, polygons) written as SVG by hand, or
rasterised to PNG through matplotlib's public API.

A forest plot is a table of text with a few lines, squares and diamonds. Written directly as
SVG it costs a few milliseconds; drawn through matplotlib's SVG backend it cost about 60 ms
(with a subclassed renderer) or 200 ms (through ``savefig``). Coordinates are points
(1/72 inch) from the top-left corner, y downwards, as in SVG; text is placed by its baseline
and anchored at its start, middle or end. The same items drawn as PNG go through
:class:`matplotlib.figure.Figure` (``Figure.text``, collections and patches placed with a
transform from points to inches), so the two files show the same picture.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from evsynth.plots.fonts import FONT_FAMILY, SVG_FONT_FAMILY

Point = tuple[float, float]
ANCHORS = {"start": "left", "middle": "center", "end": "right"}


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    text: str
    size: float
    weight: str = "normal"
    style: str = "normal"
    anchor: str = "start"  # start | middle | end
    fill: str = "#000000"


@dataclass(frozen=True)
class Lines:
    """Separate straight segments (CI lines, ticks), one path."""

    segments: tuple[tuple[Point, Point], ...]
    width: float
    color: str = "#000000"
    dash: str | None = None  # SVG stroke-dasharray, e.g. "2 2"


@dataclass(frozen=True)
class Rect:
    x: float
    y: float  # top
    width: float
    height: float
    fill: str


@dataclass(frozen=True)
class Polygon:
    points: tuple[Point, ...]
    fill: str
    stroke: str | None = None
    stroke_width: float = 0.0


@dataclass(frozen=True)
class Circle:
    x: float
    y: float
    radius: float
    fill: str


Item = Text | Lines | Rect | Polygon | Circle


@dataclass
class Group:
    """Items drawn together under one id (``<g id="…">``), optionally clipped to a rectangle
    of the drawing (see :meth:`Drawing.clip`)."""

    gid: str
    clip: str | None = None
    items: list[Item] = field(default_factory=list)

    def text(self, x: float, y: float, text: str, size: float, **style: str) -> None:
        """Text with its baseline at ``y``; ``style``: weight, style, anchor, fill."""
        if text:
            self.items.append(Text(x, y, text, size, **style))

    def lines(
        self,
        segments: Sequence[tuple[Point, Point]],
        width: float,
        color: str = "#000000",
        dash: str | None = None,
    ) -> None:
        if segments:
            self.items.append(Lines(tuple(segments), width, color, dash))

    def rect(self, x: float, y: float, width: float, height: float, fill: str) -> None:
        self.items.append(Rect(x, y, width, height, fill))

    def polygon(
        self,
        points: Sequence[Point],
        fill: str,
        stroke: str | None = None,
        stroke_width: float = 0.0,
    ) -> None:
        self.items.append(Polygon(tuple(points), fill, stroke, stroke_width))

    def circle(self, x: float, y: float, radius: float, fill: str) -> None:
        self.items.append(Circle(x, y, radius, fill))


@dataclass
class Drawing:
    """A picture of ``width`` × ``height`` points: groups of items in drawing order, on a
    white background, text in :data:`~evsynth.plots.fonts.FONT_FAMILY` at ``font_size``."""

    width: float
    height: float
    gid: str
    font_size: float
    groups: list[Group] = field(default_factory=list)
    clips: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)

    def group(self, gid: str, clip: str | None = None) -> Group:
        """A new group drawn above the groups made before it."""
        group = Group(gid, clip)
        self.groups.append(group)
        return group

    def find(self, gid: str) -> Group:
        """The group named ``gid`` (for tests and callers that add to it)."""
        return next(g for g in self.groups if g.gid == gid)

    def clip(self, cid: str, x: float, y: float, width: float, height: float) -> None:
        """Declare a clipping rectangle that groups can name."""
        self.clips[cid] = (x, y, width, height)

    def svg(self) -> bytes:
        """The drawing as an SVG 1.1 document (UTF-8); the same drawing gives the same bytes."""
        return svg_document(self).encode("utf-8")

    def png(self, dpi: int) -> bytes:
        """The drawing as a PNG at ``dpi``, rasterised by matplotlib (Agg)."""
        return png_document(self, dpi)


def num(value: float) -> str:
    """A coordinate with at most 2 decimals and no trailing zeros: 12.50 -> "12.5"."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _svg_text(item: Text, default_size: float) -> str:
    attrs = f'x="{num(item.x)}" y="{num(item.y)}"'
    if item.anchor != "start":
        attrs += f' text-anchor="{item.anchor}"'
    if item.size != default_size:
        attrs += f' font-size="{num(item.size)}"'
    if item.weight != "normal":
        attrs += f' font-weight="{item.weight}"'
    if item.style != "normal":
        attrs += f' font-style="{item.style}"'
    if item.fill != "#000000":
        attrs += f' fill="{item.fill}"'
    return f"<text {attrs}>{escape(item.text)}</text>"


def _svg_item(item: Item, default_size: float) -> str:
    if isinstance(item, Text):
        return _svg_text(item, default_size)
    if isinstance(item, Lines):
        d = " ".join(f"M{num(a[0])} {num(a[1])}L{num(b[0])} {num(b[1])}" for a, b in item.segments)
        dash = f' stroke-dasharray="{item.dash}"' if item.dash else ""
        return (
            f'<path d="{d}" fill="none" stroke="{item.color}" '
            f'stroke-width="{num(item.width)}"{dash}/>'
        )
    if isinstance(item, Rect):
        return (
            f'<rect x="{num(item.x)}" y="{num(item.y)}" width="{num(item.width)}" '
            f'height="{num(item.height)}" fill="{item.fill}"/>'
        )
    if isinstance(item, Circle):
        centre = f'cx="{num(item.x)}" cy="{num(item.y)}"'
        return f'<circle {centre} r="{num(item.radius)}" fill="{item.fill}"/>'
    points = " ".join(f"{num(x)},{num(y)}" for x, y in item.points)
    stroke = (
        f' stroke="{item.stroke}" stroke-width="{num(item.stroke_width)}" stroke-linejoin="miter"'
        if item.stroke
        else ""
    )
    return f'<polygon points="{points}" fill="{item.fill}"{stroke}/>'


def svg_document(drawing: Drawing) -> str:
    """SVG text of ``drawing``: text kept as text (searchable, selectable, read by screen
    readers), fixed ids, no date or generator."""
    w, h = num(drawing.width), num(drawing.height)
    out = [
        '<?xml version="1.0" encoding="utf-8" standalone="no"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}pt" height="{h}pt" '
        f'viewBox="0 0 {w} {h}" id={quoteattr(drawing.gid)} '
        f'font-family={quoteattr(SVG_FONT_FAMILY)} font-size="{num(drawing.font_size)}">',
    ]
    if drawing.clips:
        out.append("<defs>")
        for cid, (x, y, cw, ch) in drawing.clips.items():
            out.append(
                f'<clipPath id="{cid}"><rect x="{num(x)}" y="{num(y)}" '
                f'width="{num(cw)}" height="{num(ch)}"/></clipPath>'
            )
        out.append("</defs>")
    out.append(f'<rect width="{w}" height="{h}" fill="#ffffff"/>')
    for group in drawing.groups:
        if not group.items:
            continue
        clip = f' clip-path="url(#{group.clip})"' if group.clip else ""
        out.append(f'<g id="{group.gid}"{clip}>')
        out += [_svg_item(item, drawing.font_size) for item in group.items]
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _artist(item: Item, transform: Any) -> Any:
    """A matplotlib artist for a shape item, placed with ``transform`` (points to display)."""
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Circle as CirclePatch
    from matplotlib.patches import Polygon as PolygonPatch
    from matplotlib.patches import Rectangle

    if isinstance(item, Lines):
        style = (0, tuple(float(v) for v in item.dash.split())) if item.dash else "solid"
        segments = [list(s) for s in item.segments]
        return LineCollection(
            segments,
            colors=item.color,
            linewidths=item.width,
            linestyles=[style],
            capstyle="butt",
            transform=transform,
        )
    if isinstance(item, Rect):
        corner = (item.x, item.y)
        return Rectangle(
            corner, item.width, item.height, facecolor=item.fill, lw=0, transform=transform
        )
    if isinstance(item, Circle):
        centre = (item.x, item.y)
        return CirclePatch(centre, item.radius, facecolor=item.fill, lw=0, transform=transform)
    assert isinstance(item, Polygon)
    return PolygonPatch(
        item.points,
        closed=True,
        facecolor=item.fill,
        edgecolor=item.stroke or "none",
        linewidth=item.stroke_width,
        joinstyle="miter",
        transform=transform,
    )


def png_document(drawing: Drawing, dpi: int) -> bytes:
    """PNG of ``drawing`` through matplotlib's public API: a Figure of the drawing's size, each
    item an artist placed by a transform from points (top-left origin) to the display."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.transforms import Affine2D, Bbox, TransformedBbox

    fig = Figure(figsize=(drawing.width / 72, drawing.height / 72), dpi=dpi)
    points = Affine2D().scale(1 / 72, -1 / 72).translate(0, drawing.height / 72)
    to_display = points + fig.dpi_scale_trans
    clips = {
        cid: TransformedBbox(Bbox.from_bounds(x, y, w, h), to_display)
        for cid, (x, y, w, h) in drawing.clips.items()
    }
    fonts: dict[tuple[float, str, str], FontProperties] = {}
    for group in drawing.groups:
        for item in group.items:
            if isinstance(item, Text):
                key = (item.size, item.weight, item.style)
                if key not in fonts:
                    style: Any = item.style  # "normal" | "italic"
                    fonts[key] = FontProperties(
                        family=FONT_FAMILY, size=item.size, weight=item.weight, style=style
                    )
                artist: Any = fig.text(
                    item.x,
                    item.y,
                    item.text,
                    transform=to_display,
                    ha=ANCHORS[item.anchor],
                    va="baseline",
                    fontproperties=fonts[key],
                    color=item.fill,
                    parse_math=False,
                )
            else:
                artist = fig.add_artist(_artist(item, to_display))
            if group.clip:
                artist.set_clip_box(clips[group.clip])
    buffer = io.BytesIO()
    with matplotlib.rc_context({"font.family": FONT_FAMILY}):
        fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
