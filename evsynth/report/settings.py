"""The report's settings (``config/report.yaml``) and narrative (``config/narrative.yaml``) of
a review: read safely, checked against their schemas (``evsynth/schemas/``) and against the
review's config, every problem as ``file:line: key: problem``; defaults filled in.

Both files are optional: without them the report uses GRADE's plain-language wording, one
section per analysis, the GRADE statement of each analysis as its bottom line, and no
narrative.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evsynth.errors import DataValidationError
from evsynth.validate.config import _Problems, read_yaml, schema_problems

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"

#: GRADE plain-language statements by direction and certainty (Santesso et al. 2020, J Clin
#: Epidemiol 119:126). ``{intervention}`` and ``{outcome}`` are filled in.
WORDING: dict[str, Any] = {
    "benefit": {
        "high": "{intervention} reduces {outcome}",
        "moderate": "{intervention} probably reduces {outcome}",
        "low": "{intervention} may reduce {outcome}",
        "very low": "the evidence is very uncertain about the effect of {intervention} on "
        "{outcome}",
    },
    "harm": {
        "high": "{intervention} increases {outcome}",
        "moderate": "{intervention} probably increases {outcome}",
        "low": "{intervention} may increase {outcome}",
        "very low": "the evidence is very uncertain about the effect of {intervention} on "
        "{outcome}",
    },
    "no_difference": {
        "high": "{intervention} makes little or no difference to {outcome}",
        "moderate": "{intervention} probably makes little or no difference to {outcome}",
        "low": "{intervention} may make little or no difference to {outcome}",
        "very low": "the evidence is very uncertain about the effect of {intervention} on "
        "{outcome}",
    },
    "no_difference_short": "no evidence of a difference",
    "no_clear_benefit": "no clear benefit",
    "not_available": "numbers not available in the extracted sources",
}

#: The words a rule's sentence may use (``{name}``; everything else is refused).
PLACEHOLDERS = frozenset(
    {
        "intervention",
        "control",
        "outcome",
        "Outcome",
        "estimate",
        "trials",
        "certainty",
        "statement",
        "group",
        "list",
        "outcomes",
        "markers",
        "changed",
        "unchanged",
        "numbers",
        "marker",
    }
)


def placeholders(template: str) -> set[str]:
    """The ``{names}`` of a sentence template."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _check_templates(data: Mapping[str, Any], problems: _Problems) -> None:
    """Every sentence template uses known words only (``{list}``, ``{outcome}``, …)."""

    def walk(value: Any, path: tuple[str, ...]) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, (*path, str(key)))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*path, str(index)))
        elif isinstance(value, str) and path and path[-1] in ("say", "otherwise", "changed"):
            try:
                unknown = placeholders(value) - PLACEHOLDERS
            except ValueError as error:
                problems.add(path, f"not a valid sentence template ({error}); write {{name}}")
                return
            if unknown:
                problems.add(
                    path,
                    f"unknown word(s) {sorted(unknown)}; use any of "
                    f"{', '.join(sorted(PLACEHOLDERS))}",
                )

    walk(data, ())


def _check_references(
    data: Mapping[str, Any],
    config: Mapping[str, Any],
    narrative: Mapping[str, Any],
    problems: _Problems,
) -> None:
    analyses, markers = set(config["analyses"]), set(config.get("markers") or {})
    blocks = set(narrative.get("blocks") or {})

    def need(path: tuple[str, ...], name: str, known: set[str], what: str) -> None:
        if name not in known:
            problems.add(
                path,
                f"{name!r} is not one of the review's {what} "
                f"({', '.join(sorted(known)) or 'none'})",
            )

    for i, section in enumerate(data.get("sections") or []):
        for j, name in enumerate(section.get("analyses") or []):
            need(("sections", str(i), "analyses", str(j)), name, analyses, "analyses")
        if "markers" in section:
            need(("sections", str(i), "markers"), section["markers"], markers, "marker sets")
        for j, name in enumerate(section.get("narrative") or []):
            need(("sections", str(i), "narrative", str(j)), name, blocks, "narrative blocks")
    for key in ("bottom_line", "recommendation"):
        for i, rule in enumerate(data.get(key) or []):
            for j, name in enumerate(rule.get("analyses") or []):
                need((key, str(i), "analyses", str(j)), name, analyses, "analyses")
            if "markers" in rule:
                need((key, str(i), "markers"), rule["markers"], markers, "marker sets")
            if not rule.get("analyses") and "markers" not in rule:
                problems.add((key, str(i)), "a rule names its analyses or its markers")
    for j, name in enumerate(data.get("sof") or []):
        need(("sof", str(j)), name, analyses, "analyses")
    for i, claim in enumerate(data.get("claims") or []):
        if "analysis" in claim:
            need(("claims", str(i), "analysis"), claim["analysis"], analyses, "analyses")
        for j, name in enumerate(claim.get("analyses") or []):
            need(("claims", str(i), "analyses", str(j)), name, analyses, "analyses")
        checks = "expect" in claim or "nnt" in claim
        if checks and not ({"analysis", "analyses", "markers"} & set(claim)):
            problems.add(("claims", str(i)), "a checked claim names its analysis or markers")
        if "expect" in claim and "markers" not in claim and claim["expect"] == "changed":
            problems.add(("claims", str(i), "expect"), "changed is for markers")
        if "markers" in claim:
            need(("claims", str(i), "markers"), claim["markers"], markers, "marker sets")
    for name in data.get("markers") or {}:
        need(("markers", name), name, markers, "marker sets")


_SAFE_URL = re.compile(r"https?://[^\s\"'<>]+\Z", re.IGNORECASE)


def safe_url(url: str | None) -> bool:
    """Whether ``url`` is an http(s) address (the only kind a report links to)."""
    return bool(url) and _SAFE_URL.match(str(url).strip()) is not None


def _check_narrative(narrative: Mapping[str, Any], problems: _Problems) -> None:
    ids = [r["id"] for r in narrative.get("references") or []]
    known = set(ids)
    for i, ref in enumerate(narrative.get("references") or []):
        if ids.count(ref["id"]) > 1:
            problems.add(("references", str(i), "id"), f"reference id {ref['id']!r} is used twice")
        if ref.get("url") and not safe_url(ref["url"]):
            problems.add(
                ("references", str(i), "url"),
                f"{ref['url']!r} is not an http(s) address; only those are linked",
            )
    for name, block in (narrative.get("blocks") or {}).items():
        for j, item in enumerate(block["items"]):
            for c, cite in enumerate(item.get("cite") or []):
                if cite not in known:
                    problems.add(
                        ("blocks", name, "items", str(j), "cite", str(c)),
                        f"cites {cite!r}, which is not a reference id; add it to "
                        "references or fix the id",
                    )


def _check_grade(data: Mapping[str, Any], config: Mapping[str, Any], problems: _Problems) -> None:
    """The ``grade:`` settings of every analysis, each problem at the line of its key."""
    from evsynth.report.grade import GradeSettingsError, grade_settings

    grade = data.get("grade") or {}
    for outcome in grade.get("outcomes") or {}:
        if outcome not in config["analyses"]:
            problems.add(
                ("grade", "outcomes", str(outcome)),
                f"{outcome!r} is not one of the review's analyses",
            )
    seen: set[str] = set()
    for name in sorted(config["analyses"]):
        try:
            grade_settings(grade, name, source="")
        except GradeSettingsError as error:
            text = str(error).removeprefix(": ")
            where, _, message = text.partition(": ")
            if text not in seen:
                seen.add(text)
                problems.add(tuple(where.split(".")), message)


def _load(path: Path, what: str, schema: str) -> tuple[dict[str, Any], _Problems]:
    data, lines = read_yaml(path, what)
    problems = _Problems(lines)
    schema_problems(data, problems, SCHEMAS / schema)
    return data, problems


def _raise(path: Path, problems: _Problems) -> None:
    if problems.found:
        raise DataValidationError(problems.messages(str(path)))


def load_narrative(path: str | Path | None) -> dict[str, Any]:
    """The narrative (empty when the review has none); validated."""
    if path is None or not Path(path).exists():
        return {"blocks": {}, "references": []}
    data, problems = _load(Path(path), "narrative", "narrative.schema.yaml")
    if not problems.found:
        _check_narrative(data, problems)
    _raise(Path(path), problems)
    return {"blocks": data.get("blocks") or {}, "references": data.get("references") or []}


def load_settings(
    path: str | Path | None, config: Mapping[str, Any], narrative: Mapping[str, Any]
) -> dict[str, Any]:
    """The report settings with defaults filled in, checked against the review's config."""
    data: dict[str, Any] = {}
    if path is not None and Path(path).exists():
        data, problems = _load(Path(path), "report settings", "report.schema.yaml")
        if not problems.found:
            _check_templates(data, problems)
            _check_references(data, config, narrative, problems)
            _check_grade(data, config, problems)
        _raise(Path(path), problems)
    return with_defaults(data, config)


def with_defaults(data: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """Report settings with every default: wording, thresholds, one section per analysis,
    each analysis's GRADE statement as the bottom line, every analysis in the SoF."""
    analyses = sorted(config["analyses"])
    wording = {**WORDING, **(data.get("wording") or {})}
    for key in ("benefit", "harm", "no_difference"):
        wording[key] = {**WORDING[key], **((data.get("wording") or {}).get(key) or {})}
    sections = data.get("sections")
    if sections is None:
        sections = [{"id": "results", "heading": "Results", "analyses": analyses}]
        if config.get("markers"):
            sections += [
                {"id": f"markers-{m}", "heading": spec["title"], "markers": m}
                for m, spec in sorted(config["markers"].items())
            ]
    return {
        "alpha": data.get("alpha", 0.05),
        "subgroup_alpha": data.get("subgroup_alpha", 0.10),
        "grade": dict(data.get("grade") or {}),
        "wording": wording,
        "sections": sections,
        "sof": data.get("sof") or analyses,
        "bottom_line": data.get("bottom_line")
        or [{"analyses": analyses, "statement": True, "quantifier": "each"}],
        "recommendation": data.get("recommendation") or [],
        "markers": dict(data.get("markers") or {}),
        "trial_columns": data.get("trial_columns") or [],
        "claims": data.get("claims") or [],
    }
