"""Figure files: which figures an analysis has, drawn and saved deterministically (SVG + PNG,
byte-identical on rerun) with their alt text."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from evsynth.io.safe_io import write_bytes_atomic
from evsynth.parallel import collected_after, map_ordered
from evsynth.plots.alt_text import alt_text
from evsynth.plots.charts import chart_png, chart_svg
from evsynth.plots.drawing import Drawing
from evsynth.plots.forest_rows import Variant

#: Figure kinds an analysis can have (the ``figures.kinds`` setting of the config):
#: ``forest`` ({id}.forest), ``subgroups`` (one forest per subgroup, {id}.forest.{subgroup}),
#: ``leave_one_out`` ({id}.loo), ``cumulative``, ``funnel``, ``bubble`` (one per moderator,
#: {id}.bubble.{moderator}) and ``dose_response`` ({id}.dose_response).
FIGURE_KINDS = (
    "forest",
    "subgroups",
    "leave_one_out",
    "cumulative",
    "funnel",
    "bubble",
    "dose_response",
)
#: File formats (the ``figures.formats`` setting); every figure also gets its alt text.
FIGURE_FORMATS = ("svg", "png")
#: The setting when none is given: every kind, SVG + PNG.
ALL_FIGURES: dict[str, list[str]] = {"kinds": list(FIGURE_KINDS), "formats": list(FIGURE_FORMATS)}

#: Kinds drawn as a :class:`~evsynth.plots.drawing.Drawing` (plain data, no reference cycles:
#: freed as soon as written); the others are matplotlib figures, freed by one collection.
DRAWINGS = frozenset({"forest", "subgroups", "leave_one_out", "cumulative"})
PNG_DPI = 150
AnyFigure = Drawing | Figure


def svg_bytes(fig: AnyFigure) -> bytes:
    """The figure as SVG: text kept as text (DejaVu Sans), fixed ids, no date."""
    return fig.svg() if isinstance(fig, Drawing) else chart_svg(fig)


def png_bytes(fig: AnyFigure, dpi: int = PNG_DPI) -> bytes:
    """The figure as PNG at a fixed dpi, without software/date metadata."""
    return fig.png(dpi) if isinstance(fig, Drawing) else chart_png(fig, dpi)


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


def save_figure(
    fig: AnyFigure,
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
    render: dict[str, Callable[[AnyFigure], bytes]] = {"svg": svg_bytes, "png": png_bytes}
    stem = Path(path_stem)
    written = []
    for fmt in FIGURE_FORMATS:
        if fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            _write_atomic(path, render[fmt](fig))
            written.append(path)
    if alt is not None:
        path = stem.with_name(stem.name + ".alt.txt")
        _write_atomic(path, (alt.rstrip() + "\n").encode("utf-8"))
        written.append(path)
    return written


Job = tuple[str, str, Callable[[], AnyFigure], Callable[[], str]]


def figure_jobs(analysis: Mapping[str, Any]) -> list[Job]:
    """(kind, file stem, draw, alt text) of every figure ``analysis`` can have: forest, one
    forest per subgroup, funnel / leave-one-out / cumulative when k ≥ 3, a bubble plot per
    meta-regression moderator, the dose–response plot when the results hold one. Nothing is
    drawn or written until ``draw`` / ``alt`` is called."""
    from evsynth.plots.bubble import bubble_plot
    from evsynth.plots.dose_response import dose_response_plot
    from evsynth.plots.forest import forest_plot
    from evsynth.plots.funnel import funnel_plot

    aid = analysis["id"]
    k = len(analysis.get("studies", []))
    if not analysis.get("overall") and k == 0:
        return []
    jobs: list[Job] = []

    def add(kind: str, stem: str, draw: Callable[[], AnyFigure], alt: Callable[[], str]) -> None:
        jobs.append((kind, f"{aid}.{stem}", draw, alt))

    p = functools.partial
    add("forest", "forest", p(forest_plot, analysis), p(alt_text, analysis))
    for name in sorted(analysis.get("subgroups") or {}):
        add(
            "subgroups",
            f"forest.{name}",
            p(forest_plot, analysis, name),
            p(alt_text, analysis, subgroup=name),
        )
    if k >= 3:
        add("funnel", "funnel", p(funnel_plot, analysis), p(alt_text, analysis, "funnel"))
        variants: tuple[tuple[Variant, str], ...] = (
            ("leave_one_out", "loo"),
            ("cumulative", "cumulative"),
        )
        for variant, stem in variants:
            if analysis.get(variant):
                add(
                    variant,
                    stem,
                    p(forest_plot, analysis, variant=variant),
                    p(alt_text, analysis, variant),
                )
    for name in sorted(analysis.get("meta_regression") or {}):
        add(
            "bubble",
            f"bubble.{name}",
            p(bubble_plot, analysis, name),
            p(alt_text, analysis, "bubble", moderator=name),
        )
    if analysis.get("dose_response"):
        add(
            "dose_response",
            "dose_response",
            p(dose_response_plot, analysis),
            p(alt_text, analysis, "dose_response"),
        )
    return jobs


def write_analysis_figures(
    analysis: Mapping[str, Any],
    outdir: str | Path,
    figures: Mapping[str, Sequence[str]] | None = None,
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
        if kind not in kinds:
            continue
        if kind in DRAWINGS:
            written += save_figure(draw(), out / stem, alt=alt(), formats=formats)
            continue
        with collected_after():  # a matplotlib figure is a graph of reference cycles
            written += save_figure(draw(), out / stem, alt=alt(), formats=formats)
    return written


def _draw_analysis(task: tuple[dict, Mapping[str, Any] | None], outdir: str) -> list[str]:
    analysis, figures = task
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
