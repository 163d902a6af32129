"""Assemble the report's context from the results and render the single-file HTML.

:func:`build_report` is pure: results, figures, previous results, narrative and settings in,
HTML out. It never reads the clock or the file system (the templates ship with the package),
so the same inputs give byte-identical output; ``version`` (a hash of the inputs or
SOURCE_DATE_EPOCH) is chosen by the caller. :func:`load_inputs` reads them from disk for
``scripts/report.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from evsynth import format as fmt
from evsynth.errors import EvsynthError
from evsynth.report import changes as changes_mod
from evsynth.report import conclusions as rules
from evsynth.report import grade
from evsynth.report.conclusions import direction, outcome_name

TEMPLATE = "report.html.j2"

_DOI = re.compile(r"doi:\s*(10\.[^\s;,]+)", re.IGNORECASE)
_PMID = re.compile(r"PMID:\s*(\d+)", re.IGNORECASE)


#: Section headings of a review that does not name its own (``headings:`` in the narrative).
DEFAULT_HEADINGS = {
    "bottom_line": "Bottom line",
    "mechanism": "Background",
    "bone": "Benefits: pooled results by dose",
    "cardiovascular": "Single-trial markers",
    "dosing": "Dosing",
    "pitfalls": "Harms",
    "sof": "Summary of findings",
    "recommendation": "Clinical recommendation",
    "changes": "What changed since the last report",
    "references": "References",
    "provenance": "Provenance appendix",
}


def anchor(row_id: str) -> str:
    """HTML id of a raw row: "fractures.csv:3" → "row-fractures-csv-3"."""
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
    return links


def source_links(text: str | None) -> list[str]:
    """The URLs of a ``source_url`` cell (several separated by " ; "); only http(s) kept."""
    return [
        u.strip()
        for u in str(text or "").split(" ; ")
        if u.strip().startswith(("http://", "https://"))
    ]


# --- figures -------------------------------------------------------------------------------

_PROLOG = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.IGNORECASE | re.DOTALL)
#: Active content in an SVG (searched in the lower-cased text): substrings, and event handlers.
_UNSAFE_TEXT = ("<script", "<foreignobject", "javascript:")
_EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=")
_ID = re.compile(r'\sid="([^"]+)"')  # an attribute follows white space (faster than \b)
_ID_REF = re.compile(r'(id="|href="#)([^"]+)"|url\(#([^)]+)\)')


class UnsafeFigureError(EvsynthError, ValueError):
    """An SVG figure holds active content; the report refuses to inline it."""


def _has_active_content(svg: str) -> bool:
    """Whether ``svg`` holds a script, a foreignObject, a javascript: URL or an event handler
    attribute (in any letter case)."""
    text = svg.lower()
    return any(s in text for s in _UNSAFE_TEXT) or _EVENT_HANDLER.search(text) is not None


def inline_svg(svg: str, prefix: str, alt: str) -> Markup:
    """SVG text ready to inline: prolog removed, ids made unique per figure, role and label set.

    The figures are drawn by evsynth.plots (matplotlib escapes their text), but they are
    checked anyway: an SVG with scripts, event handlers or foreignObject is refused.
    """
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

    # One pass over the text: every id="…", href="#…" and url(#…) naming an id of the figure
    # gets the prefix (a replace per id made this quadratic in the size of the figure).
    body = _ID_REF.sub(prefixed, body)
    body = body.replace("<svg ", f'<svg role="img" aria-label="{escape(alt)}" ', 1)
    return Markup(body)


def figure_context(figures: dict[str, str], name: str) -> dict[str, Any] | None:
    svg = figures.get(f"{name}.svg")
    if svg is None:
        return None
    alt = figures.get(f"{name}.alt.txt", "").strip() or f"Figure {name}"
    return {
        "name": name,
        "id": "fig-" + re.sub(r"[^A-Za-z0-9]+", "-", name),
        "alt": alt,
        "svg": inline_svg(svg, "f-" + re.sub(r"[^A-Za-z0-9]+", "-", name), alt),
    }


# --- analyses ------------------------------------------------------------------------------


def _pooled_line(
    analysis: dict[str, Any], p: dict[str, Any], label: str, row_ids: list[str]
) -> dict[str, Any]:
    suffix = "_exp" if analysis.get("scale") == "log" else ""
    return {
        "label": label,
        "k": fmt.count(p["k"]),
        "participants": fmt.count(_participants(analysis, row_ids)),
        "estimate": fmt.ratio(p["estimate" + suffix]),
        "ci": fmt.interval(p["ci_low" + suffix], p["ci_high" + suffix]),
        "p": fmt.p_value(p["p_value"]),
        "i2": fmt.percent(p["i2"]),
        "tau2": fmt.tau2(p["tau2"]),
        "pi": fmt.interval(p.get("pi_low" + suffix), p.get("pi_high" + suffix))
        if p["k"] > 1
        else fmt.MISSING,
        "rows": [{"row_id": r, "anchor": anchor(r)} for r in row_ids],
        "direction": direction(analysis, p),
    }


def _participants(analysis: dict[str, Any], row_ids: list[str]) -> int | None:
    chosen = [s for s in analysis["studies"] if s["row_id"] in set(row_ids)]
    if not chosen or any(s.get("n_treat") is None or s.get("n_control") is None for s in chosen):
        return None
    return int(sum(s["n_treat"] + s["n_control"] for s in chosen))


def _yes_no(flag: bool | None) -> str:
    return "not reported" if flag is None else ("yes" if flag else "no")


def _study_row(s: dict[str, Any], scale: str) -> dict[str, Any]:
    counts = s.get("input") == "2x2"
    return {
        "label": s["label"],
        "comparison": s.get("comparison") or "",
        "anchor": anchor(s["row_id"]),
        "row_id": s["row_id"],
        "counts": counts,
        "treat": f"{fmt.count(s['events_treat'])}/{fmt.count(s['n_treat'])}" if counts else "",
        "control": f"{fmt.count(s['events_control'])}/{fmt.count(s['n_control'])}"
        if counts
        else "",
        "effect": fmt.ratio(s["yi_exp"] if scale == "log" else s["yi"]),
        "ci": fmt.interval(s["ci_low_exp"], s["ci_high_exp"])
        if scale == "log"
        else fmt.interval(s["ci_low"], s["ci_high"]),
        "weight": fmt.percent(s.get("weight_pct"), 1),
        "dose": fmt.count(s.get("daily_equivalent_iu")),
        "dose_band": s.get("dose_band") or fmt.MISSING,
        "calcium": _yes_no(s.get("calcium_coadministered")),
        "blinding": s.get("blinding") or fmt.MISSING,
        "follow_up": fmt.years(s.get("follow_up_years")),
    }


def analysis_context(
    analysis: dict[str, Any],
    figures: dict[str, str],
    settings: dict[str, Any],
    cert: grade.Certainty,
) -> dict[str, Any]:
    pooled = analysis["overall"]
    row_ids = [s["row_id"] for s in analysis["studies"]]
    subgroups = []
    first = settings["bottom_line"].get("dose_subgroup")
    ordered = sorted((analysis.get("subgroups") or {}).items(), key=lambda kv: kv[0] != first)
    for key, sub in ordered:
        subgroups.append(
            {
                "key": key,
                "title": sub.get("title", key),
                "lines": [
                    _pooled_line(analysis, g, g["group"], g.get("row_ids", []))
                    for g in sub["groups"]
                ],
                "test": rules.subgroup_test(sub),
                "sentence": rules.subgroup_sentence(analysis, key, settings),
                "group_sentences": [
                    rules.group_sentence(analysis, g, settings) for g in sub["groups"]
                ],
            }
        )
    names = [f"{analysis['id']}.{f}" for f in settings.get("figures", ["forest"])]
    return {
        "id": analysis["id"],
        "anchor": "analysis-" + analysis["id"],
        "title": analysis["title"],
        "measure": analysis["measure"],
        "method": f"{analysis.get('method')} random effects, "
        f"{str(analysis.get('ci_method', '')).upper()} CI",
        "overall": _pooled_line(analysis, pooled, "All trials", row_ids) if pooled else None,
        "tau2_ci": fmt.interval(
            (analysis.get("tau2_ci") or {}).get("low"),
            (analysis.get("tau2_ci") or {}).get("high"),
            3,
        ),
        "sentence": rules.effect_sentence(analysis, cert, settings) if pooled else None,
        "subgroups": subgroups,
        "dose_sentence": rules.dose_sentence(analysis, "daily_equivalent_iu", settings),
        "studies": [_study_row(s, analysis.get("scale", "log")) for s in analysis["studies"]],
        "excluded": [{**e, "anchor": anchor(e["row_id"])} for e in analysis.get("excluded", [])],
        "figures": [f for f in (figure_context(figures, n) for n in names) if f],
        "labels": analysis.get("labels") or {},
    }


def marker_context(marker: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    eff = rules.marker_effect(marker)
    return {
        "marker": marker["marker"],
        "group": marker.get("marker_group"),
        "anchor": anchor(marker["row_id"]),
        "row_id": marker["row_id"],
        "publication": marker.get("publication") or "",
        "timepoint": fmt.count(marker.get("timepoint_months")),
        "numbers": eff["numbers"]
        if marker.get("include") and eff["numbers"]
        else settings["bottom_line"]["not_available"],
        "available": bool(marker.get("include") and eff["numbers"]),
        "sentence": rules.marker_sentence(marker, settings),
        "inconsistent": bool(marker.get("published_ci_excludes_estimate")),
        "md": fmt.value(marker.get("mean_difference")),
        "md_ci": (
            f"{fmt.value(marker.get('md_ci_low'))} to {fmt.value(marker.get('md_ci_high'))}"
            if marker.get("md_ci_low") is not None
            else fmt.MISSING
        ),
    }


def provenance_rows(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every raw row behind the report, included and excluded, once, in row_id order."""
    rows: dict[str, dict[str, Any]] = {}

    def add(r: dict[str, Any], status: str, used_in: str | None) -> None:
        entry = rows.setdefault(
            r["row_id"],
            {
                "row_id": r["row_id"],
                "anchor": anchor(r["row_id"]),
                "study_id": r.get("study_id", ""),
                "label": r.get("label") or r.get("marker") or r.get("study_id", ""),
                "status": status,
                "reason": r.get("reason") or r.get("exclusion_reason") or "",
                "quote": r.get("quote") or "",
                "sources": source_links(r.get("source_url")),
                "citations": citation_links(r.get("doi_or_pmid")),
                "citation_text": r.get("doi_or_pmid") or "",
                "used_in": [],
            },
        )
        if used_in and used_in not in entry["used_in"]:
            entry["used_in"].append(used_in)
        for key in ("quote",):
            if not entry[key] and r.get(key):
                entry[key] = r[key]

    for ds in results.values():
        for a in ds.get("analyses", []):
            for s in a["studies"]:
                add(s, "included", a["id"])
            for e in a.get("excluded", []):
                add(e, "excluded", a["id"])
        for m in ds.get("markers", []):
            for row in m.get("markers", []):
                add(row, "included" if row.get("include") else "excluded", m["id"])

    def key(rid: str) -> tuple[str, int]:
        file, _, line = rid.partition(":")
        return (file, int(line) if line.isdigit() else 0)

    return [rows[r] for r in sorted(rows, key=key)]


def trial_references(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    refs: dict[str, dict[str, Any]] = {}
    for ds in results.values():
        for a in ds.get("analyses", []):
            for s in a["studies"]:
                refs.setdefault(
                    s["study_id"],
                    {
                        "label": s["label"],
                        "citation": s.get("doi_or_pmid") or "",
                        "links": citation_links(s.get("doi_or_pmid")),
                    },
                )
        for m in ds.get("markers", []):
            for row in m.get("markers", []):
                refs.setdefault(
                    row["study_id"],
                    {
                        "label": row["study_id"],
                        "citation": row.get("doi_or_pmid") or "",
                        "links": citation_links(row.get("doi_or_pmid")),
                    },
                )
    return [refs[k] for k in sorted(refs)]


# --- conclusions and the whole report -----------------------------------------------------


def conclusions_of(results: dict[str, dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    """Every rule-made sentence of the report, keyed, plus the certainty of each analysis."""
    analyses = {k: a for k, a in changes_mod.pooled_analyses(results).items() if a.get("overall")}
    marker_sets = {m["id"]: m for ds in results.values() for m in ds.get("markers", [])}
    markers = marker_sets.get(settings["bottom_line"]["markers"], {}).get("markers", [])
    certainties = {k: grade.certainty(a, settings) for k, a in analyses.items()}
    sentences: dict[str, str] = {}
    for k, a in analyses.items():
        sentences[f"{k}: effect"] = rules.effect_sentence(a, certainties[k], settings)
        for key in a.get("subgroups") or {}:
            s = rules.subgroup_sentence(a, key, settings)
            if s:
                sentences[f"{k}: subgroups by {key}"] = s
        d = rules.dose_sentence(a, "daily_equivalent_iu", settings)
        if d:
            sentences[f"{k}: dose"] = d
        nnh = harm_sentence(a)
        if nnh:
            sentences[f"{k}: NNH"] = nnh
    for m in markers:
        sentences[f"marker: {m['marker']}"] = rules.marker_sentence(m, settings)
    bottom = rules.bottom_line(analyses, certainties, markers, settings)
    recs = rules.recommendation(analyses, markers, settings)
    for i, s in enumerate(bottom, 1):
        sentences[f"bottom line {i}"] = s
    for i, s in enumerate(recs, 1):
        sentences[f"recommendation {i}"] = s
    return {
        "sentences": sentences,
        "certainties": certainties,
        "analyses": analyses,
        "markers": markers,
        "bottom": bottom,
        "recommendations": recs,
    }


def harm_sentence(analysis: dict[str, Any]) -> str | None:
    nnt = analysis.get("single_trial_nnt")
    if not nnt:
        return None
    study = next((s for s in analysis["studies"] if s["study_id"] == nnt.get("study_id")), None)
    who = study["label"] if study else nnt.get("study_id", "the trial")
    if study and study.get("calcium_coadministered"):
        who += " (vitamin D given with calcium)"
    return rules.nnh_sentence(nnt, outcome_name(analysis), who)


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("evsynth.report", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(fmt.FILTERS)
    env.filters["anchor"] = anchor
    return env


def build_report(
    results: dict[str, dict[str, Any]],
    figures: dict[str, str],
    previous: dict[str, dict[str, Any]] | None,
    narrative: dict[str, Any],
    settings: dict[str, Any],
    *,
    version: str,
) -> str:
    """The evidence summary as one self-contained HTML document.

    ``results``: ``{dataset: contents of results/analyses/{dataset}.json}``;
    ``figures``: ``{file name: text}`` of results/figures (``{name}.svg`` and ``{name}.alt.txt``);
    ``previous``: the results of the last good report in the same shape, or None (first report);
    ``narrative``: config/narrative.yaml; ``settings``: config/report.yaml; ``version``: shown
    in the footer, chosen by the caller (never the clock).
    """
    c = conclusions_of(results, settings)
    analyses, certainties = c["analyses"], c["certainties"]
    previous_sentences = (
        conclusions_of(previous, settings)["sentences"] if previous is not None else None
    )
    changes = changes_mod.compare(results, previous, c["sentences"], previous_sentences)
    bl = settings["bottom_line"]
    # The template shows the bottom line's outcomes in full; the other analyses enter the
    # report through its tables only, so only these contexts (and their figures) are built.
    shown = [a for a in [*bl["benefit_outcomes"], *bl["harm_outcomes"]] if a in analyses]
    contexts = {k: analysis_context(analyses[k], figures, settings, certainties[k]) for k in shown}
    groups = []
    for group, heading in bl["marker_groups"].items():
        groups.append(
            {
                "heading": heading,
                "markers": [
                    marker_context(m, settings)
                    for m in c["markers"]
                    if m.get("marker_group") == group
                ],
            }
        )
    harm = []
    for a in bl["harm_outcomes"]:
        if a in analyses:
            harm.append(
                {
                    "analysis": contexts[a],
                    "nnh": harm_sentence(analyses[a]),
                    "absolute": analyses[a].get("absolute") or {},
                }
            )
    sof = [
        grade.sof_row(
            analyses[a],
            certainties[a],
            rules.effect_statement(analyses[a], certainties[a], settings),
        )
        for a in [*bl["benefit_outcomes"], *bl["harm_outcomes"]]
        if a in analyses
    ]
    marker_set = next(
        (m for ds in results.values() for m in ds.get("markers", []) if m["id"] == bl["markers"]),
        None,
    )
    context = {
        "version": version,
        "title": narrative["title"],
        "headings": {**DEFAULT_HEADINGS, **(narrative.get("headings") or {})},
        "narrative": narrative,
        "bottom": c["bottom"],
        "bone": [contexts[a] for a in bl["benefit_outcomes"] if a in contexts],
        "marker_title": marker_set["title"] if marker_set else "",
        "marker_groups": groups,
        "harm": harm,
        "sof": sof,
        "recommendations": c["recommendations"],
        "changes": changes,
        "provenance": provenance_rows(results),
        "trial_refs": trial_references(results),
        "narrative_refs": [
            {**r, "links": citation_links(r.get("doi_or_pmid"))}
            for r in narrative.get("references", [])
        ],
        "refnum": {r["id"]: i for i, r in enumerate(narrative.get("references", []), 1)},
        "not_available": bl["not_available"],
        "intervention": settings["intervention"],
    }
    return environment().get_template(TEMPLATE).render(context)


# --- reading the inputs (scripts/report.py) -------------------------------------------------


def _read_results(folder: Path, digest: Any | None = None) -> dict[str, dict[str, Any]]:
    """``{dataset: results}`` of the analyses JSON files in ``folder`` (their text is added
    to ``digest`` when one is given)."""
    out = {}
    for path in sorted(folder.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        if isinstance(data, dict) and "analyses" in data and "dataset" in data:
            out[data["dataset"]] = data
            if digest is not None:
                _add_to_digest(digest, f"results/{path.name}", text)
    return out


def _add_to_digest(digest: Any, name: str, text: str) -> None:
    """Add one named input to ``digest``; lengths delimit the parts, so no two different
    sets of inputs feed it the same bytes."""
    for part in (name.encode(), text.encode()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)


def _figure_files(folder: Path) -> list[Path]:
    """The figure files of the last figures run: those its manifests
    (``{dataset}.figures.json``) list. A figure the config no longer asks for may still lie
    in the folder from an earlier run; it is not the current result and is not shown. A
    folder without manifests (figures put there by hand) is taken whole."""
    manifests = sorted(folder.glob("*.figures.json"))
    if not manifests:
        return sorted(folder.glob("*"))
    listed = {
        name for m in manifests for name in json.loads(m.read_text(encoding="utf-8"))["files"]
    }
    return [folder / name for name in sorted(listed) if (folder / name).is_file()]


def load_inputs(
    results_dir: str | Path,
    narrative: str | Path,
    settings: str | Path,
    previous_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Everything :func:`build_report` needs, read from ``results_dir``, the results to compare
    with (``previous_dir``, or none for a first report) and the two YAML files, with
    ``version`` = the first 12 hex digits of the SHA-256 of all inputs."""
    root = Path(results_dir)
    digest = hashlib.sha256()
    results = _read_results(root / "analyses", digest)
    figures = {
        p.name: p.read_text(encoding="utf-8")
        for p in _figure_files(root / "figures")
        if p.name.endswith((".svg", ".alt.txt"))
    }
    for name, text in figures.items():
        _add_to_digest(digest, f"figures/{name}", text)
    previous = None
    if previous_dir is not None:
        _add_to_digest(digest, "previous", "")  # a first report and a later one differ
        previous = _read_results(Path(previous_dir), digest)
    narrative_text = Path(narrative).read_text(encoding="utf-8")
    settings_text = Path(settings).read_text(encoding="utf-8")
    _add_to_digest(digest, "narrative", narrative_text)
    _add_to_digest(digest, "settings", settings_text)
    narrative_data, settings_data = yaml.safe_load(narrative_text), yaml.safe_load(settings_text)
    return {
        "results": results,
        "figures": figures,
        "previous": previous,
        "narrative": narrative_data,
        "settings": settings_data,
        "version": digest.hexdigest()[:12],
    }
