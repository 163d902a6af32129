"""The template context of each part of the report, built from the results (their JSON) and
the review's settings. Every number is formatted here, by :mod:`evsynth.format`, never in the
template; every word comes from the results or the review.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from evsynth import format as fmt
from evsynth.errors import EvsynthError
from evsynth.report import rules
from evsynth.report.grade import Certainty
from evsynth.report.settings import safe_url

_DOI = re.compile(r"doi:\s*(10\.[^\s;,]+)", re.IGNORECASE)
_PMID = re.compile(r"PMID:\s*(\d+)", re.IGNORECASE)

METHOD_NAMES = {
    "z": "Wald CI",
    "hksj": "Hartung–Knapp–Sidik–Jonkman CI",
    "hksj_modified": "modified Hartung–Knapp–Sidik–Jonkman CI (never narrower than Wald)",
}


def anchor(row_id: str) -> str:
    """HTML id of a raw row: "trials.csv:3" → "row-trials-csv-3"."""
    return "row-" + re.sub(r"[^A-Za-z0-9]+", "-", str(row_id)).strip("-")


def citation_links(text: str | None) -> list[dict[str, str]]:
    """Links of a ``doi_or_pmid`` cell: every DOI to doi.org, every PMID to PubMed."""
    if not text:
        return []
    links = [
        {"text": f"doi:{d.rstrip('.')}", "url": f"https://doi.org/{d.rstrip('.')}"}
        for d in _DOI.findall(text)
    ]
    links += [
        {"text": f"PMID:{p}", "url": f"https://pubmed.ncbi.nlm.nih.gov/{p}/"}
        for p in _PMID.findall(text)
    ]
    return [link for link in links if safe_url(link["url"])]


def source_links(text: str | None) -> list[str]:
    """The http(s) URLs of a ``source_url`` cell (several separated by " ; ")."""
    return [u.strip() for u in str(text or "").split(" ; ") if safe_url(u.strip())]


# --- figures -------------------------------------------------------------------------------

_PROLOG = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.IGNORECASE | re.DOTALL)
_UNSAFE_TEXT = ("<script", "<foreignobject", "javascript:")
_EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=")
_ID = re.compile(r'\sid="([^"]+)"')
_ID_REF = re.compile(r'(id="|href="#)([^"]+)"|url\(#([^)]+)\)')


class UnsafeFigureError(EvsynthError, ValueError):
    """An SVG figure holds active content; the report refuses to inline it."""


def _has_active_content(svg: str) -> bool:
    text = svg.lower()
    return any(s in text for s in _UNSAFE_TEXT) or _EVENT_HANDLER.search(text) is not None


def inline_svg(svg: str, prefix: str, alt: str) -> Markup:
    """SVG text ready to inline: prolog removed, ids made unique per figure, role and label set.
    An SVG with scripts, event handlers or foreignObject is refused."""
    body = _PROLOG.sub("", svg).strip()
    if _has_active_content(body):
        raise UnsafeFigureError(
            f"figure {prefix} contains active content (script or event handler)"
        )
    ids = set(_ID.findall(body))

    def prefixed(match: re.Match[str]) -> str:
        name = match.group(2) if match.group(1) is not None else match.group(3)
        if name not in ids:
            return match.group(0)
        if match.group(1) is not None:
            return f'{match.group(1)}{prefix}-{name}"'
        return f"url(#{prefix}-{name})"

    body = _ID_REF.sub(prefixed, body)
    body = body.replace("<svg ", f'<svg role="img" aria-label="{escape(alt)}" ', 1)
    return Markup(body)


#: The order of an analysis's figures in the report, by the kind in the file name.
FIGURE_ORDER = ("forest", "bubble", "dose_response", "loo", "cumulative", "funnel")
FIGURE_CAPTIONS = {
    "forest": "Forest plot",
    "bubble": "Meta-regression (bubble plot)",
    "dose_response": "Dose–response curve",
    "loo": "Leave-one-out analysis",
    "cumulative": "Cumulative meta-analysis",
    "funnel": "Funnel plot",
}
#: The smallest text a figure may show on screen (CSS px); narrower boxes scroll instead.
LEGIBLE_PX = 7.0
_VIEWBOX_WIDTH = re.compile(r'viewBox="\s*[-\d.eE]+[\s,]+[-\d.eE]+[\s,]+([\d.eE]+)')
_FONT_SIZE = re.compile(r"font-size[:=]\s*\"?([\d.]+)(?:px)?")


def legible_width(svg: str) -> int | None:
    """The narrowest width (CSS px) at which the smallest text of an SVG figure is still
    :data:`LEGIBLE_PX` tall: its viewBox width × LEGIBLE_PX / its smallest font size (font
    sizes are in viewBox units). None when the figure has no text or no viewBox."""
    width = _VIEWBOX_WIDTH.search(svg)
    sizes = [float(s) for s in _FONT_SIZE.findall(svg) if float(s) > 0]
    if width is None or not sizes:
        return None
    return math.ceil(float(width.group(1)) * LEGIBLE_PX / min(sizes))


def _figure_key(stem: str, analysis_id: str, subgroups: Sequence[str]) -> tuple[int, int, str]:
    rest = stem[len(analysis_id) + 1 :]
    kind, _, detail = rest.partition(".")
    rank = FIGURE_ORDER.index(kind) if kind in FIGURE_ORDER else len(FIGURE_ORDER)
    sub = subgroups.index(detail) + 1 if detail in subgroups else 0
    return rank, sub, rest


def figure_context(stem: str, figures: Mapping[str, str], caption: str) -> dict[str, Any]:
    """One figure: its inlined SVG, alt text (which states the figure's result), caption, the
    width that keeps its text legible, and links to the full-size files (relative to the
    report, results/report.html)."""
    alt = figures.get(f"{stem}.alt.txt", "").strip() or f"{caption}: {stem}"
    safe = re.sub(r"[^A-Za-z0-9]+", "-", stem)
    svg = figures[f"{stem}.svg"]
    return {
        "name": stem,
        "id": f"fig-{safe}",
        "alt": alt,
        "caption": caption,
        "svg": inline_svg(svg, f"f-{safe}", alt),
        "min_width": legible_width(svg),
        "links": [
            {"text": ext.upper(), "url": f"figures/{stem}.{ext}"}
            for ext in ("svg", "png")
            if f"{stem}.{ext}" in figures
        ],
    }


def analysis_of_figure(name: str) -> str:
    """The analysis a figure file belongs to: figures are named ``{analysis}.{kind}[.…]``
    and analysis ids hold no dot (config schema, ``identifier``)."""
    return name.partition(".")[0]


def figures_by_analysis(figures: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``{analysis id: {file name: text}}``: the figure files grouped once, so that finding
    an analysis's figures does not scan every file of the review."""
    grouped: dict[str, dict[str, str]] = {}
    for name, text in figures.items():
        grouped.setdefault(analysis_of_figure(name), {})[name] = text
    return grouped


def analysis_figures(
    analysis: Mapping[str, Any], figures: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Every SVG figure of ``analysis`` (from the figures stage's manifests), in report order:
    forest plots (overall, then by each subgroup), bubble, dose–response, leave-one-out,
    cumulative and funnel plots."""
    aid = analysis["id"]
    stems = [n[:-4] for n in figures if n.endswith(".svg") and n.startswith(aid + ".")]
    subgroups = analysis.get("subgroups") or {}
    order = list(subgroups)
    out = []
    for stem in sorted(stems, key=lambda s: _figure_key(s, aid, order)):
        kind, _, detail = stem[len(aid) + 1 :].partition(".")
        caption = FIGURE_CAPTIONS.get(kind, "Figure")
        if detail:  # a subgroup's or a moderator's key: named by its title
            named = subgroups.get(detail) or (analysis.get("meta_regression") or {}).get(detail)
            caption += f" by {rules.lower_first(str((named or {}).get('title') or detail))}"
        out.append(figure_context(stem, figures, caption))
    return out


def loose_figures(figures: Mapping[str, str], claimed: set[str]) -> list[dict[str, Any]]:
    """The SVG figures no analysis claims (``claimed``: their file names), by name."""
    stems = sorted(n[:-4] for n in figures if n.endswith(".svg") and n not in claimed)
    return [figure_context(s, figures, "Figure") for s in stems]


# --- analyses ------------------------------------------------------------------------------


def _display(analysis: Mapping[str, Any], p: Mapping[str, Any], key: str) -> Any:
    suffix = "_exp" if analysis.get("scale") == "log" else ""
    return p.get(key + suffix)


def participants_text(p: Mapping[str, Any]) -> str:
    """ "47,636", or "≥ 40,032 (arm sizes of 7 of 8 trials)" when some trials don't report them."""
    n, with_n, k = p.get("participants"), p.get("participants_trials", 0), p.get("trials", 0)
    if n is None:
        return "not reported"
    if with_n < k:
        return f"≥ {fmt.count(n)} (arm sizes of {with_n} of {k} trials)"
    return fmt.count(n)


def pooled_line(analysis: Mapping[str, Any], p: Mapping[str, Any], label: str) -> dict[str, Any]:
    """One row of a pooled table, formatted."""
    row_ids = list(p.get("row_ids") or [])
    return {
        "label": label,
        "trials": rules.trials(p),
        "participants": participants_text(p),
        "estimate": fmt.ratio(_display(analysis, p, "estimate")),
        "ci": fmt.interval(_display(analysis, p, "ci_low"), _display(analysis, p, "ci_high")),
        "p": fmt.p_value(p.get("p_value")),
        "i2": fmt.percent(p.get("i2")) if p.get("k", 0) > 1 else fmt.MISSING,
        "tau2": fmt.tau2(p.get("tau2")) if p.get("model") == "random" else fmt.MISSING,
        "pi": fmt.interval(_display(analysis, p, "pi_low"), _display(analysis, p, "pi_high")),
        "pi_note": p.get("pi_note"),
        "rows": [{"row_id": r, "anchor": anchor(r)} for r in row_ids],
        "direction": rules.direction(analysis, p),
    }


def method_text(analysis: Mapping[str, Any]) -> str:
    """ "REML random effects, modified Hartung–Knapp–Sidik–Jonkman CI" / "Mantel–Haenszel fixed
    effect"."""
    if analysis.get("model") == "fixed":
        name = {"MH": "Mantel–Haenszel", "Peto": "Peto", "IV": "inverse-variance"}[
            analysis.get("fixed_method", "IV")
        ]
        return f"{name} fixed effect"
    return (
        f"{analysis['method']} random effects, "
        f"{METHOD_NAMES.get(analysis['ci_method'], analysis['ci_method'])}"
    )


def _cell(value: Any, info: Mapping[str, Any]) -> str:
    if value is None:
        return fmt.MISSING
    levels = info.get("levels") or {}
    key = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if key in levels:
        return str(levels[key])
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return fmt.value(value, 1) if abs(value) < 100 else fmt.count(value)
    return str(value)


def study_row(
    s: Mapping[str, Any], analysis: Mapping[str, Any], columns: Sequence[str]
) -> dict[str, Any]:
    """One row of the table of included trials, with the review's columns."""
    log = analysis.get("scale") == "log"
    variables = analysis.get("variables") or {}
    counts = s.get("input") == "2x2"
    means = s.get("input") == "means"

    def arm(side: str) -> str:
        if counts:
            return f"{fmt.count(s.get('events_' + side))}/{fmt.count(s.get('n_' + side))}"
        if means:
            return (
                f"{fmt.value(s.get('mean_' + side))} ({fmt.value(s.get('sd_' + side))}); "
                f"n = {fmt.count(s.get('n_' + side))}"
            )
        return ""

    effect = s["yi_exp"] if log else s["yi"]
    return {
        "label": s["label"],
        "comparison": s.get("comparison") or "",
        "combined": s.get("combined") or "",
        "flags": list(s.get("flags") or []),
        "anchor": anchor(s["row_id"]),
        "row_ids": [{"row_id": r, "anchor": anchor(r)} for r in s.get("row_ids") or [s["row_id"]]],
        "arms": counts or means,
        "treat": arm("treat"),
        "control": arm("control"),
        "measure": s.get("measure") or analysis["measure"],
        "effect": fmt.ratio(effect),
        "ci": fmt.interval(s["ci_low_exp"], s["ci_high_exp"])
        if log
        else fmt.interval(s["ci_low"], s["ci_high"]),
        "weight": fmt.percent(s.get("weight_pct"), 1),
        "cells": [_cell(s.get(c), variables.get(c) or {}) for c in columns],
    }


def regression_table(analysis: Mapping[str, Any], reg: Mapping[str, Any]) -> list[dict[str, str]]:
    """The coefficient rows of a meta-regression (slopes per ``per`` units, ratio scale for
    ratio measures)."""
    if reg.get("note") or not reg.get("coef"):
        return []
    log = analysis.get("scale") == "log"
    per = float(reg.get("per") or 1)
    rows = []
    for i, name in enumerate(reg["names"]):
        scale = 1.0 if i == 0 else per
        values = [scale * reg[k][i] for k in ("coef", "ci_low", "ci_high")]
        if log:
            values = [math.exp(v) for v in values]
        label = (
            "Intercept"
            if i == 0
            else (
                f"per {fmt.number(per)} {reg.get('unit') or ''}".rstrip()
                if not reg.get("categorical")
                else str(name)
            )
        )
        rows.append(
            {
                "name": label,
                "estimate": fmt.ratio(values[0]),
                "ci": fmt.interval(values[1], values[2]),
                "p": fmt.p_value(reg["p_value"][i]),
            }
        )
    return rows


def certainty_context(cert: Certainty | None) -> dict[str, Any] | None:
    if cert is None:
        return None
    return {"label": cert.label, "symbols": cert.symbols}
