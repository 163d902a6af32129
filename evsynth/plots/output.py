"""Deterministic figure files (SVG + PNG, byte-identical on rerun) and generated alt text."""

from __future__ import annotations

import codecs
import functools
import io
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from matplotlib import cbook
from matplotlib.backends.backend_mixed import MixedModeRenderer
from matplotlib.backends.backend_svg import FigureCanvasSVG, RendererSVG
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, fontManager, get_font

from evsynth.io.safe_io import write_bytes_atomic
from evsynth.parallel import collected_after, map_ordered
from evsynth.plots.layout import (
    fmt_int,
    fmt_num,
    is_ratio,
    measure_name,
    plot_style,
    text_metrics,
    to_display,
)

#: Figure kinds an analysis can have (the ``figures.kinds`` setting of the config):
#: ``forest`` ({id}.forest), ``subgroups`` (one forest per subgroup, {id}.forest.{subgroup}),
#: ``leave_one_out`` ({id}.loo), ``cumulative``, ``funnel`` and ``bubble`` (one per moderator).
FIGURE_KINDS = ("forest", "subgroups", "leave_one_out", "cumulative", "funnel", "bubble")
#: File formats (the ``figures.formats`` setting); every figure also gets its alt text.
FIGURE_FORMATS = ("svg", "png")
#: The setting when none is given: every kind, SVG + PNG.
ALL_FIGURES: dict[str, list[str]] = {"kinds": list(FIGURE_KINDS), "formats": list(FIGURE_FORMATS)}

PNG_DPI = 150
SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
PNG_METADATA = {"Software": None}


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`evsynth.io.safe_io.write_bytes_atomic`, not
    flushed to disk: the workflow regenerates figures); a file that already holds ``data`` is
    left as it is. A rerun after one count changed draws every figure of the dataset again
    but rewrites only those that differ (replacing thousands of unchanged files cost more
    than drawing them on some file systems)."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except OSError:  # no such file (or unreadable): write it
        pass
    write_bytes_atomic(path, data, durable=False)


def _add_titles(svg: str, titles: dict[str, str]) -> str:
    """Insert ``<title>full text</title>`` into the ``<g id="…">`` groups named in ``titles``
    (full study labels behind shortened ones: shown as tooltips, read by screen readers)."""
    for gid, full in titles.items():
        tag = f'<g id="{gid}">'
        svg = svg.replace(tag, f"{tag}\n   <title>{escape(full)}</title>", 1)
    return svg


@functools.lru_cache(maxsize=256)
def _font_height_metrics(prop: FontProperties) -> tuple[float | None, float | None, float]:
    """(ascent, descent, line gap) of the font of ``prop`` at 72 dpi, in pixels: what
    ``matplotlib.text.Text._get_layout`` computes from the font's OS/2 or hhea table for every
    text it lays out (same expression, same numbers), once per font."""
    font: Any = get_font(fontManager._find_fonts_by_props(prop))
    tables = [
        ("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"),
        ("hhea", "lineGap", "ascent", "descent"),
    ]
    dpi = 72  # the SVG canvas draws at 72 dpi
    for table_name, linegap_key, ascent_key, descent_key in tables:
        table = font.get_sfnt_table(table_name)
        if table is None:
            continue
        fontsize = prop.get_size_in_points()
        units_per_em = font.get_sfnt_table("head")["unitsPerEm"]
        scale = 1 / units_per_em * fontsize * dpi / 72
        return table[ascent_key] * scale, -table[descent_key] * scale, table[linegap_key] * scale
    return None, None, 0.0


class _RendererSVG(RendererSVG):
    """matplotlib's SVG renderer, remembering text metrics from one figure to the next.

    The SVG renderer measures each text afresh (FreeType layout) in every figure, and the
    same labels, counts and headings recur in every figure of a review. Its measurement is
    a function of the text, the font properties and ``ismath`` only (``TextToPath``), so
    remembering it changes no byte of the output.
    """

    def get_text_width_height_descent(self, s, prop, ismath):
        return text_metrics(s, prop.copy(), ismath)

    def _get_font_height_metrics(self, prop):
        # Asked for by Text._get_layout of every text; without it matplotlib looks the font
        # up and reads its tables each time.
        return _font_height_metrics(prop.copy())


class _CanvasSVG(FigureCanvasSVG):
    """``FigureCanvasSVG`` drawing with :class:`_RendererSVG` (``print_svg`` as matplotlib's)."""

    def print_svg(self, filename, *, bbox_inches_restore=None, metadata=None, **_ignored):
        # matplotlib drops the savefig options print_svg does not take (dpi, facecolor,
        # edgecolor, orientation) only for its own canvases; they are ignored here likewise.
        with cbook.open_file_cm(filename, "w", encoding="utf-8") as fh:
            if not cbook.file_requires_unicode(fh):
                fh = codecs.getwriter("utf-8")(fh)
            dpi = self.figure.dpi
            self.figure.dpi = 72
            width, height = self.figure.get_size_inches()
            w, h = width * 72, height * 72
            renderer = MixedModeRenderer(
                self.figure,
                width,
                height,
                dpi,
                _RendererSVG(w, h, fh, image_dpi=dpi, metadata=metadata),
                bbox_inches_restore=bbox_inches_restore,
            )
            self.figure.draw(renderer)
            renderer.finalize()


def svg_bytes(fig: Figure) -> bytes:
    """The figure as SVG: text kept as text (DejaVu Sans), fixed ids, no date."""
    previous = fig.canvas
    with plot_style():
        buffer = io.StringIO()
        try:
            _CanvasSVG(fig)
            fig.savefig(buffer, format="svg", metadata=SVG_METADATA)
        finally:
            fig.set_canvas(previous)
    text = _add_titles(buffer.getvalue(), getattr(fig, "_evsynth_titles", {}))
    return text.encode("utf-8")


def png_bytes(fig: Figure, dpi: int = PNG_DPI) -> bytes:
    """The figure as PNG at a fixed dpi, without software/date metadata."""
    with plot_style():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, metadata=PNG_METADATA)
    return buffer.getvalue()


def save_figure(
    fig: Figure,
    path_stem: str | Path,
    alt: str | None = None,
    formats: Sequence[str] = FIGURE_FORMATS,
) -> list[Path]:
    """Write ``{path_stem}.svg`` and ``{path_stem}.png`` (the ``formats`` asked for, in the
    order of :data:`FIGURE_FORMATS`) and ``{path_stem}.alt.txt`` when ``alt`` is given,
    atomically; the same figure gives the same bytes on every run."""
    unknown = sorted(set(formats) - set(FIGURE_FORMATS))
    if unknown:
        raise ValueError(f"unknown figure format(s) {unknown}; use {list(FIGURE_FORMATS)}")
    render = {"svg": svg_bytes, "png": png_bytes}
    stem = Path(path_stem)
    written = []
    for fmt in FIGURE_FORMATS:
        if fmt not in formats:
            continue
        path = stem.with_name(f"{stem.name}.{fmt}")
        _write_atomic(path, render[fmt](fig))
        written.append(path)
    if alt is not None:
        path = stem.with_name(stem.name + ".alt.txt")
        _write_atomic(path, (alt.rstrip() + "\n").encode("utf-8"))
        written.append(path)
    return written


def _participants(studies: list[dict]) -> int | None:
    total = [s.get("n_treat", 0) or 0 for s in studies] + [
        s.get("n_control", 0) or 0 for s in studies
    ]
    return int(sum(total)) if any(total) else None


def _pooled_phrase(analysis: dict, result: dict) -> str:
    ratio = is_ratio(analysis)
    name = measure_name(analysis).lower()
    est = to_display(result.get("estimate"), ratio)
    low, high = to_display(result.get("ci_low"), ratio), to_display(result.get("ci_high"), ratio)
    level = round(100 * result.get("level", analysis.get("level", 0.95)))
    text = f"pooled {name} {fmt_num(est)} ({level}% CI {fmt_num(low)} to {fmt_num(high)})"
    if result.get("i2") is not None and result.get("k", 0) >= 2:
        text += f", I² {fmt_int(result['i2'])}%"
    return text.replace("−", "-")


def _sentence_case(text: str) -> str:
    """ "Hip fracture" -> "hip fracture"; acronyms ("AVADEC", "D3") stay as they are."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def _trials(k: int | None) -> str:
    return f"{k} trial{'' if k == 1 else 's'}"


def alt_text(analysis: dict, kind: str = "forest", subgroup: str | None = None) -> str:
    """One alt-text sentence generated from the numbers of ``analysis``.

    ``kind``: "forest", "loo", "cumulative", "funnel" or "bubble" (``subgroup`` for
    subgroup forest plots). Example: "Forest plot of hip fracture: 8 trials, 44,000
    participants; pooled risk ratio 0.91 (95% CI 0.78 to 1.06), I² 12%."
    """
    title = _sentence_case(str(analysis.get("title") or analysis.get("id", "")))
    studies = analysis.get("studies", [])
    k = len(studies)
    n = _participants(studies)
    counts = _trials(k) + (f", {n:,} participants" if n else "")
    overall = analysis.get("overall") or {}
    pooled = _pooled_phrase(analysis, overall) if overall else "no pooled estimate"
    if kind == "forest" and subgroup is None:
        return f"Forest plot of {title}: {counts}; {pooled}."
    if kind == "forest":
        block = analysis["subgroups"][subgroup]
        parts = [
            f"{g.get('group')} {_pooled_phrase(analysis, g).removeprefix('pooled ')}"
            f" ({_trials(g.get('k'))})"
            for g in block.get("groups", [])
        ]
        p = block.get("p_value")
        test = f"test for subgroup differences P = {p:.2f}" if p is not None else ""
        name = _sentence_case(str(block.get("title") or subgroup))
        return f"Forest plot of {title} by {name}: " + "; ".join(parts) + f"; {test}."
    if kind in ("loo", "leave_one_out", "cumulative"):
        key = "cumulative" if kind == "cumulative" else "leave_one_out"
        ratio = is_ratio(analysis)
        values = [to_display(e.get("estimate"), ratio) for e in analysis.get(key) or []]
        what = "Leave-one-out" if key == "leave_one_out" else "Cumulative"
        spread = (
            f"estimates range from {fmt_num(min(values))} to {fmt_num(max(values))}"
            if values
            else "no estimates"
        )
        text = f"{what} forest plot of {title}: {len(values)} analyses; {spread}; "
        return f"{text}all {counts}: {pooled}.".replace("−", "-")
    if kind == "funnel":
        egger = analysis.get("egger") or {}
        test = (
            f"; Egger test P = {egger['p_value']:.2f}" if egger.get("p_value") is not None else ""
        )
        return (
            f"Funnel plot of {title}: {counts} plotted by effect and standard error "
            f"around the {pooled}{test}."
        )
    name = measure_name(analysis).lower()
    if kind == "bubble":
        fits = analysis.get("meta_regression") or {}
        moderator, fit = next(iter(sorted(fits.items())))
        p = fit.get("p_value", [None, None])[1]
        p_text = f" (P = {p:.2f})" if p is not None else ""
        unit, what = 1.0, moderator.replace("_", " ")
        if moderator == "daily_equivalent_iu":
            unit, what = 1000.0, "daily-equivalent vitamin D dose"
        change = fit["coef"][1] * unit
        per = "per 1,000 IU/day" if unit == 1000.0 else f"per unit of {what}"
        if is_ratio(analysis):
            slope = f"the {name} changes by a factor of {fmt_num(math.exp(change))} {per}"
        else:
            slope = f"the {name} changes by {fmt_num(change)} {per}"
        return (
            f"Bubble plot of {title}: effects of {_trials(fit.get('k', k))} against {what}; "
            f"in the meta-regression {slope}{p_text}."
        ).replace("−", "-")
    raise ValueError(f"unknown figure kind {kind!r}")


def figure_jobs(analysis: dict) -> list[tuple[str, str, Callable[[], Figure], str]]:
    """(kind, file stem, draw, alt text) of every figure ``analysis`` can have: forest, one
    forest per subgroup, funnel / leave-one-out / cumulative when k ≥ 3, a bubble plot per
    meta-regression moderator. Nothing is drawn until ``draw`` is called."""
    from evsynth.plots.bubble import bubble_plot
    from evsynth.plots.forest import forest_plot
    from evsynth.plots.funnel import funnel_plot

    aid = analysis["id"]
    k = len(analysis.get("studies", []))
    if not analysis.get("overall") and k == 0:
        return []
    jobs: list[tuple[str, str, Callable[[], Figure], str]] = [
        ("forest", f"{aid}.forest", lambda: forest_plot(analysis), alt_text(analysis, "forest"))
    ]
    for name in sorted(analysis.get("subgroups") or {}):
        jobs.append(
            (
                "subgroups",
                f"{aid}.forest.{name}",
                functools.partial(forest_plot, analysis, name),
                alt_text(analysis, "forest", subgroup=name),
            )
        )
    if k >= 3:
        jobs.append(
            ("funnel", f"{aid}.funnel", lambda: funnel_plot(analysis), alt_text(analysis, "funnel"))
        )
        if analysis.get("leave_one_out"):
            jobs.append(
                (
                    "leave_one_out",
                    f"{aid}.loo",
                    lambda: forest_plot(analysis, variant="leave_one_out"),
                    alt_text(analysis, "loo"),
                )
            )
        if analysis.get("cumulative"):
            jobs.append(
                (
                    "cumulative",
                    f"{aid}.cumulative",
                    lambda: forest_plot(analysis, variant="cumulative"),
                    alt_text(analysis, "cumulative"),
                )
            )
    for moderator in sorted(analysis.get("meta_regression") or {}):
        suffix = "bubble" if moderator == "daily_equivalent_iu" else f"bubble.{moderator}"
        jobs.append(
            (
                "bubble",
                f"{aid}.{suffix}",
                functools.partial(bubble_plot, analysis, moderator),
                alt_text(analysis, "bubble"),
            )
        )
    return jobs


def write_analysis_figures(
    analysis: dict, outdir: str | Path, figures: Mapping[str, Sequence[str]] | None = None
) -> list[Path]:
    """The figures of one analysis (see :func:`figure_jobs`) into ``outdir``, limited to the
    ``figures`` setting: ``{"kinds": [...], "formats": [...]}`` (see :data:`FIGURE_KINDS`,
    :data:`FIGURE_FORMATS`; a missing key means all). Returns the files written."""
    settings = {**ALL_FIGURES, **(figures or {})}
    kinds, formats = set(settings["kinds"]), list(settings["formats"])
    unknown = sorted(kinds - set(FIGURE_KINDS))
    if unknown:
        raise ValueError(f"unknown figure kind(s) {unknown}; use {list(FIGURE_KINDS)}")
    out = Path(outdir)
    written: list[Path] = []
    for kind, stem, draw, alt in figure_jobs(analysis):
        if kind in kinds:
            written += save_figure(draw(), out / stem, alt=alt, formats=formats)
    return written


def _draw_analysis(task: tuple[dict, Mapping[str, Any] | None], outdir: str) -> list[str]:
    analysis, figures = task
    with collected_after():
        return [p.name for p in write_analysis_figures(analysis, outdir, figures)]


def write_dataset_figures(
    analyses: Sequence[dict],
    outdir: str | Path,
    settings: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    *,
    workers: int = 1,
) -> list[str]:
    """Every figure of ``analyses`` into ``outdir``, with ``workers`` processes; the sorted
    names of the files written (the manifest). ``settings`` maps an analysis id to its
    ``figures`` setting (absent: all figures). Each figure is drawn on its own from its
    analysis alone, so the files are the same bytes whatever the number of workers."""
    settings = settings or {}
    tasks = [(a, settings.get(a["id"])) for a in analyses]
    names = map_ordered(functools.partial(_draw_analysis, outdir=str(outdir)), tasks, workers)
    return sorted(name for group in names for name in group)
