"""Text widths of the figures' font, measured from the font file, and word wrapping.

The figures are set in DejaVu Sans, the font matplotlib bundles, so every machine measures
the same widths. A width is the sum of the glyphs' advance widths read from the font's
``hmtx`` table with fontTools (a dependency of matplotlib; the font file is found with
:func:`matplotlib.font_manager.findfont`): public, stable APIs, and a dictionary look-up per
character instead of a FreeType layout per text. Kerning is left out, which can only make a
text measured wider than it is drawn (DejaVu's kerning pairs narrow, never widen), so a
layout made from these widths never overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from typing import Any

FONT_FAMILY = "DejaVu Sans"
#: What an SVG viewer is asked for: DejaVu Sans first (the widths the layout was made with),
#: then Bitstream Vera Sans (the same metrics), then narrower common fonts.
SVG_FONT_FAMILY = "'DejaVu Sans', 'Bitstream Vera Sans', Verdana, Arial, Helvetica, sans-serif"
#: Advance of a character the font lacks (a viewer draws it from a fallback font), in em.
MISSING_GLYPH_EM = 0.65


@dataclass(frozen=True)
class Face:
    """Metrics of one face of the font, in em (multiply by the size in points)."""

    advances: dict[str, float]  # character -> advance width
    ascent: float
    descent: float  # positive, below the baseline
    cap_height: float


@lru_cache(maxsize=4)
def face(weight: str = "normal", style: Any = "normal") -> Face:
    """The DejaVu Sans face of ``weight`` ("normal" | "bold") and ``style`` ("normal" |
    "italic"), read once per process."""
    from fontTools.ttLib import TTFont
    from matplotlib.font_manager import FontProperties, findfont

    path = findfont(FontProperties(family=FONT_FAMILY, weight=weight, style=style))
    with TTFont(path, lazy=True) as font:
        em = float(font["head"].unitsPerEm)
        metrics = font["hmtx"].metrics
        advances = {chr(cp): metrics[glyph][0] / em for cp, glyph in font.getBestCmap().items()}
        hhea = font["hhea"]
        glyf = font["glyf"]
        cap = glyf["H"].yMax if "H" in glyf else 0.73 * em
        return Face(advances, hhea.ascent / em, -hhea.descent / em, cap / em)


def text_width(text: str, size: float, weight: str = "normal", style: str = "normal") -> float:
    """Width in points of ``text`` set at ``size`` points (advance widths, no kerning)."""
    return size * _em_width(text, weight, style)


@lru_cache(maxsize=1 << 15)
def _em_width(text: str, weight: str, style: str) -> float:
    """Width of ``text`` in em; labels, headers and many numbers recur from plot to plot."""
    return sum(map(face(weight, style).advances.get, text, repeat(MISSING_GLYPH_EM)))


def _break_word(word: str, width: float, size: float, weight: str, style: str) -> list[str]:
    """A word wider than ``width`` cut into pieces that fit, after a hyphen or slash where
    there is one, else between characters."""
    pieces: list[str] = []
    rest = word
    while rest and text_width(rest, size, weight, style) > width:
        cut = 1
        for end in range(1, len(rest) + 1):
            if text_width(rest[:end], size, weight, style) > width:
                break
            cut = end
        soft = max(rest.rfind("-", 0, cut), rest.rfind("/", 0, cut))
        cut = soft + 1 if soft > 0 else cut
        pieces.append(rest[:cut])
        rest = rest[cut:]
    return pieces + ([rest] if rest else [])


def wrap(
    text: str, width: float, size: float, weight: str = "normal", style: str = "normal"
) -> list[str]:
    """``text`` broken into lines no wider than ``width`` points, at spaces (a word that is
    wider alone is broken after a hyphen or slash, else between characters). Nothing is cut:
    the lines joined with spaces give the text back (up to repeated spaces)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if text_width(candidate, size, weight, style) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        pieces = _break_word(word, width, size, weight, style)
        lines += pieces[:-1]
        line = pieces[-1] if pieces else ""
    if line or not lines:
        lines.append(line)
    return lines
