"""Deterministic figure files (SVG + PNG, byte-identical on rerun) and generated alt text."""

from __future__ import annotations

import io
import math
import os
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from matplotlib.figure import Figure

from evsynth.plots.layout import fmt_int, fmt_num, is_ratio, measure_name, plot_style, to_display

PNG_DPI = 150
SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
PNG_METADATA = {"Software": None}


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder + os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _add_titles(svg: str, titles: dict[str, str]) -> str:
    """Insert ``<title>full text</title>`` into the ``<g id="…">`` groups named in ``titles``
    (full study labels behind shortened ones: shown as tooltips, read by screen readers)."""
    for gid, full in titles.items():
        tag = f'<g id="{gid}">'
        svg = svg.replace(tag, f"{tag}\n   <title>{escape(full)}</title>", 1)
    return svg


def svg_bytes(fig: Figure) -> bytes:
    """The figure as SVG: text kept as text (DejaVu Sans), fixed ids, no date."""
    with plot_style():
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata=SVG_METADATA)
    text = _add_titles(buffer.getvalue(), getattr(fig, "_evsynth_titles", {}))
    return text.encode("utf-8")


def png_bytes(fig: Figure, dpi: int = PNG_DPI) -> bytes:
    """The figure as PNG at a fixed dpi, without software/date metadata."""
    with plot_style():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, metadata=PNG_METADATA)
    return buffer.getvalue()


def save_figure(fig: Figure, path_stem: str | Path, alt: str | None = None) -> list[Path]:
    """Write ``{path_stem}.svg`` and ``{path_stem}.png`` (and ``{path_stem}.alt.txt`` when
    ``alt`` is given) atomically; the same figure gives the same bytes on every run."""
    stem = Path(path_stem)
    written = []
    for suffix, data in ((".svg", svg_bytes(fig)), (".png", png_bytes(fig))):
        path = stem.with_name(stem.name + suffix)
        _write_atomic(path, data)
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


def write_analysis_figures(analysis: dict, outdir: str | Path) -> list[Path]:
    """Every figure of one analysis into ``outdir``: forest, one forest per subgroup,
    funnel / leave-one-out / cumulative when k ≥ 3, bubble per meta-regression moderator."""
    from evsynth.plots.bubble import bubble_plot
    from evsynth.plots.forest import forest_plot
    from evsynth.plots.funnel import funnel_plot

    out = Path(outdir)
    aid = analysis["id"]
    k = len(analysis.get("studies", []))
    jobs: list[tuple[str, object, str]] = []
    if not analysis.get("overall") and k == 0:
        return []
    jobs.append((f"{aid}.forest", lambda: forest_plot(analysis), alt_text(analysis, "forest")))
    for name in sorted(analysis.get("subgroups") or {}):
        jobs.append(
            (
                f"{aid}.forest.{name}",
                lambda name=name: forest_plot(analysis, name),
                alt_text(analysis, "forest", subgroup=name),
            )
        )
    if k >= 3:
        jobs.append((f"{aid}.funnel", lambda: funnel_plot(analysis), alt_text(analysis, "funnel")))
        if analysis.get("leave_one_out"):
            jobs.append(
                (
                    f"{aid}.loo",
                    lambda: forest_plot(analysis, variant="leave_one_out"),
                    alt_text(analysis, "loo"),
                )
            )
        if analysis.get("cumulative"):
            jobs.append(
                (
                    f"{aid}.cumulative",
                    lambda: forest_plot(analysis, variant="cumulative"),
                    alt_text(analysis, "cumulative"),
                )
            )
    for moderator in sorted(analysis.get("meta_regression") or {}):
        suffix = "bubble" if moderator == "daily_equivalent_iu" else f"bubble.{moderator}"
        jobs.append(
            (
                f"{aid}.{suffix}",
                lambda m=moderator: bubble_plot(analysis, m),
                alt_text(analysis, "bubble"),
            )
        )
    written: list[Path] = []
    for stem, make, alt in jobs:
        fig = make()  # type: ignore[operator]
        written += save_figure(fig, out / stem, alt=alt)
    return written
