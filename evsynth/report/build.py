"""Assemble the report's context from the results and render the single-file HTML.

:func:`build_report` is pure: results, figures, previous results, narrative, settings and the
review's config in, HTML out. It never reads the clock or the file system (the templates ship
with the package), so the same inputs give byte-identical output; ``version`` (a hash of the
inputs) is chosen by the caller. :func:`load_inputs` reads the inputs for ``scripts/report.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from evsynth import format as fmt
from evsynth.io.safe_io import parse_json
from evsynth.report import changes as changes_mod
from evsynth.report import conclusions, grade, rules
from evsynth.report import context as ctx
from evsynth.report.certainty import certainty_of
from evsynth.report.fragments import Fragments, results_digests
from evsynth.report.settings import load_narrative, load_settings

TEMPLATE = "report.html.j2"
MACROS = "_macros.html.j2"


def analysis_context(
    analysis: Mapping[str, Any],
    figures: Mapping[str, str],
    settings: Mapping[str, Any],
    cert: grade.Certainty | None,
    review: Mapping[str, Any],
) -> dict[str, Any]:
    """Everything the report shows of one analysis."""
    pooled = analysis["overall"]
    columns = [c for c in settings["trial_columns"] if any(c in s for s in analysis["studies"])]
    variables = analysis.get("variables") or {}
    return {
        "id": analysis["id"],
        "anchor": "analysis-" + analysis["id"],
        "title": analysis["title"],
        "measure": analysis["measure_label"],
        "method": ctx.method_text(analysis),
        "level": fmt.level(analysis.get("level", 0.95)),
        "overall": ctx.pooled_line(analysis, pooled, "All trials") if pooled else None,
        "not_estimable": analysis.get("not_estimable"),
        "tau2_ci": fmt.interval(
            (analysis.get("tau2_ci") or {}).get("low"),
            (analysis.get("tau2_ci") or {}).get("high"),
            3,
        ),
        "sentence": rules.effect_sentence(analysis, cert, settings, review)
        if pooled and cert
        else None,
        "subgroups": _subgroup_contexts(analysis, settings, review),
        "regressions": _regression_contexts(analysis, settings),
        "sensitivity": _sensitivity_contexts(analysis),
        "egger_note": analysis.get("egger_note"),
        "dose_sentence": rules.dose_response_sentence(analysis, settings),
        "egger": fmt.p_value((analysis.get("egger") or {}).get("p_value"))
        if analysis.get("egger")
        else None,
        "nnt": harm_sentence(analysis, review),
        "flags": list(analysis.get("flags") or []),
        "studies": [ctx.study_row(s, analysis, columns) for s in analysis["studies"]],
        "columns": [(variables.get(c) or {}).get("title") or c for c in columns],
        "arm_labels": analysis.get("arm_labels") or ["Intervention", "Control"],
        "excluded": [{**e, "anchor": ctx.anchor(e["row_id"])} for e in analysis["excluded"]],
        "figures": ctx.analysis_figures(analysis, figures),
    }


def _subgroup_contexts(
    analysis: Mapping[str, Any], settings: Mapping[str, Any], review: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Each subgroup analysis in the review's order: its pooled lines, the test for subgroup
    differences, its sentences and the trials it could not place."""
    return [
        {
            "title": sub.get("title", key),
            "lines": [ctx.pooled_line(analysis, g, g["group"]) for g in sub["groups"]],
            "test": rules.subgroup_test(sub),
            "sentence": rules.subgroup_sentence(analysis, key, settings),
            "group_sentences": [
                rules.group_sentence(analysis, g, settings, review) for g in sub["groups"]
            ],
            "missing": list(sub.get("missing") or []),
        }
        for key, sub in _in_order(analysis.get("subgroups"), analysis.get("subgroup_order"))
    ]


def _regression_contexts(
    analysis: Mapping[str, Any], settings: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Each meta-regression in the review's order: its sentence and coefficient table."""
    return [
        {
            "title": reg.get("title", key),
            "sentence": rules.regression_sentence(analysis, reg, settings),
            "rows": ctx.regression_table(analysis, reg),
        }
        for key, reg in _in_order(analysis.get("meta_regression"), analysis.get("moderator_order"))
    ]


def _sensitivity_contexts(analysis: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each sensitivity analysis: its pooled line, or the note saying why it has none."""
    return [
        {
            "title": s["title"],
            "note": s.get("note"),
            "line": ctx.pooled_line(analysis, s["pooled"], s["title"]) if s.get("pooled") else None,
        }
        for s in analysis.get("sensitivity") or []
    ]


def _in_order(items: Mapping[str, Any] | None, order: Any) -> list[tuple[str, Any]]:
    """``items`` in the review's configured order (the JSON sorts its keys)."""
    items = items or {}
    keys = [k for k in (order or []) if k in items] + sorted(set(items) - set(order or []))
    return [(k, items[k]) for k in keys]


def harm_sentence(analysis: Mapping[str, Any], review: Mapping[str, Any]) -> str | None:
    """The single-trial NNT/NNH sentence of an analysis that names one (``nnt_trial``)."""
    nnt = analysis.get("single_trial_nnt")
    if not nnt:
        return None
    study = next(
        (s for s in analysis["studies"] if nnt["study_id"] in (s["study_id"], s["trial"])), None
    )
    who = study["label"] if study else nnt["study_id"]
    return rules.nnt_sentence(
        nnt, rules.outcome_name(analysis), who, str(review.get("follow_up_unit") or "years")
    )


def marker_context(marker_set: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The markers of a set, by group, each with its sentence and numbers."""
    spec = settings["markers"].get(marker_set["id"], {})
    label_col, group_col = spec.get("label", "marker"), spec.get("group", "marker_group")
    groups = spec.get("groups") or {
        g: g for g in sorted({str(m.get(group_col)) for m in marker_set["markers"]})
    }
    exploratory = {id(m) for m in marker_set["markers"]} - {
        id(m) for m in conclusions.decision_markers(marker_set["markers"], spec, None)
    }
    out = []
    for key, heading in groups.items():
        rows = []
        for m in (m for m in marker_set["markers"] if str(m.get(group_col)) == key):
            effect = rules.marker_effect(m)
            available = bool(m.get("include", True) and effect["numbers"])
            template = spec.get("changed", "{marker}: changed ({numbers}).")
            if not available:
                sentence = f"{m.get(label_col)}: {settings['wording']['not_available']}."
            elif effect["verdict"] == "changed":
                sentence = template.format(marker=m.get(label_col), numbers=effect["numbers"])
            elif effect["verdict"] == "no_difference":
                sentence = (
                    f"{m.get(label_col)}: {settings['wording']['no_difference_short']} "
                    f"({effect['numbers']})."
                )
            else:
                sentence = f"{m.get(label_col)}: {effect['numbers']} (no between-group test)."
            rows.append(
                {
                    "sentence": sentence,
                    "anchor": ctx.anchor(m["row_id"]),
                    "row_id": m["row_id"],
                    "exploratory": id(m) in exploratory and available,
                    "inconsistent": bool(m.get("published_ci_excludes_estimate")),
                    "md": fmt.value(m.get("mean_difference")),
                    "md_ci": fmt.interval(m.get("md_ci_low"), m.get("md_ci_high")),
                    "detail": "; ".join(
                        str(x)
                        for x in (
                            m.get("publication"),
                            f"{fmt.count(m['timepoint_months'])} months"
                            if m.get("timepoint_months") is not None
                            else None,
                        )
                        if x
                    ),
                }
            )
        out.append({"heading": heading, "markers": rows})
    return {"id": marker_set["id"], "title": marker_set["title"], "groups": out}


def _pair(values: Any) -> tuple[float, float]:
    return float(values[0]), float(values[1])


def _difference_text(value: float | None, unit: str = "per 1,000") -> str:
    """ "12 fewer per 1,000" / "3 more per 1,000" / "0 fewer per 1,000"."""
    if value is None:
        return fmt.MISSING
    rounded = round(value)
    return f"{fmt.count(abs(rounded))} {'more' if rounded > 0 else 'fewer'} {unit}"


def _per_1000_range(estimate: float, low: float, high: float) -> str:
    """GRADEpro's risk difference: "5 fewer per 1,000 (from 27 fewer to 22 more)"."""
    return (
        f"{_difference_text(estimate)} (from "
        f"{_difference_text(low).removesuffix(' per 1,000')} to "
        f"{_difference_text(high).removesuffix(' per 1,000')})"
    )


def _lower_higher(value: float, decimals: int) -> str:
    """ "2.30 lower" / "0.50 higher" / "0.00" on the measure's own scale."""
    shown = fmt.ratio(abs(value), decimals)
    if float(shown.replace(",", "")) == 0:
        return shown
    return f"{shown} {'lower' if value < 0 else 'higher'}"


def mean_difference_text(analysis: Mapping[str, Any], pooled: Mapping[str, Any]) -> str:
    """A difference of means on its own scale, as GRADEpro words it: "MD 15.11 lower (32.64
    lower to 2.43 higher)"; standardised: "SMD 0.54 SD lower (1.25 lower to 0.18 higher)"."""
    code = rules.measure_code(analysis)
    unit = " SD" if code == "SMD" else ""
    estimate, low, high = (float(pooled[k]) for k in ("estimate", "ci_low", "ci_high"))
    main = _lower_higher(estimate, 2)
    main = main.replace(" lower", f"{unit} lower").replace(" higher", f"{unit} higher")
    return f"{code} {main} ({_lower_higher(low, 2)} to {_lower_higher(high, 2)})"


def _control_means(analysis: Mapping[str, Any]) -> str:
    """The control groups' means of the included trials (GRADEpro: "the mean ranged from …")."""
    means = [
        float(s["mean_control"])
        for s in analysis["studies"]
        if s.get("input") == "means" and s.get("mean_control") is not None
    ]
    if not means:
        return fmt.MISSING
    k = len(means)
    groups = f"control groups of {k} trials" if k > 1 else "control group of 1 trial"
    if min(means) == max(means):
        return f"mean {fmt.value(means[0])} ({groups})"
    return f"mean ranged from {fmt.value(min(means))} to {fmt.value(max(means))} ({groups})"


def _anticipated(analysis: Mapping[str, Any], pooled: Mapping[str, Any] | None) -> dict[str, str]:
    """The SoF's assumed risk, corresponding risk and absolute difference of one analysis:
    per 1,000 for a ratio with a control risk or a risk difference, on the measure's own scale
    for a difference of means."""
    absolute = analysis.get("absolute") or {}
    out = {"assumed": fmt.MISSING, "source": "", "corresponding": fmt.MISSING}
    out["difference"] = fmt.MISSING
    if absolute:
        low, high = _pair(absolute["difference_per_1000_ci"])
        out |= {
            "assumed": f"{fmt.per_1000(absolute.get('per_1000_control'))} per 1,000",
            "source": str(absolute.get("control_risk_source") or ""),
            "corresponding": f"{fmt.per_1000(absolute['per_1000_treat'])} per 1,000 "
            f"({fmt.interval(*_pair(absolute['per_1000_treat_ci']), 0)})",
            "difference": _per_1000_range(absolute["difference_per_1000"], low, high),
        }
    elif pooled and analysis.get("scale") != "log":
        if analysis["measure"] == "RD":
            out["difference"] = _per_1000_range(
                1000 * pooled["estimate"], 1000 * pooled["ci_low"], 1000 * pooled["ci_high"]
            )
        else:
            # a standardised difference has no scale of its own: no control mean is shown
            smd = rules.measure_code(analysis) == "SMD"
            out |= {
                "assumed": fmt.MISSING if smd else _control_means(analysis),
                "difference": mean_difference_text(analysis, pooled),
            }
    return out


def _participants(pooled: Mapping[str, Any]) -> tuple[str, str]:
    """GRADEpro's "participants (studies)": "≥ 51,422 (11 trials; 12 comparisons)", with a note
    when some trials do not report their arm sizes."""
    n, with_n, k = (
        pooled.get("participants"),
        pooled.get("participants_trials", 0),
        pooled["trials"],
    )
    studies = rules.trials(pooled).replace(" (", "; ").removesuffix(")")
    if n is None:
        return f"not reported ({studies})", ""
    if with_n < k:
        return f"≥ {fmt.count(n)} ({studies})", f"arm sizes reported by {with_n} of {k} trials"
    return f"{fmt.count(n)} ({studies})", ""


def sof_row(
    analysis: Mapping[str, Any],
    cert: grade.Certainty | None,
    statement: str,
    footnotes: dict[str, str],
    review: Mapping[str, Any],
) -> dict[str, Any]:
    """One Summary of Findings row in GRADEpro's layout (Schünemann et al., Cochrane Handbook
    ch. 14): assumed and corresponding risk, risk difference per 1,000 (or the difference of
    means on its own scale) with its CI, relative effect, participants (studies), follow-up,
    certainty with lettered footnotes, comments."""
    pooled = analysis.get("overall")
    letters = []
    for d in cert.downgrades if cert else ():
        letters.append(footnotes.setdefault(d.footnote, chr(ord("a") + len(footnotes))))
    follow = analysis.get("follow_up")
    follow_text = fmt.MISSING
    if follow:
        span = (
            fmt.years(follow["low"])
            if follow["low"] == follow["high"]
            else f"{fmt.years(follow['low'])} to {fmt.years(follow['high'])}"
        )
        follow_text = f"{span} {follow['unit']}".strip()
    participants, note = fmt.MISSING, ""
    relative = fmt.MISSING
    if pooled:
        participants, note = _participants(pooled)
        if analysis.get("scale") == "log":
            relative = rules.relative_text(analysis, pooled)
    else:
        participants = analysis.get("not_estimable") or fmt.MISSING
    risks = _anticipated(analysis, pooled)
    return {
        "analysis_id": analysis["id"],
        "outcome": analysis["title"],
        "assumed": risks["assumed"],
        "assumed_source": risks["source"],
        "corresponding": risks["corresponding"],
        "difference": risks["difference"],
        "relative": relative,
        "participants": participants,
        "participants_note": note,
        "follow_up": follow_text,
        "certainty": ctx.certainty_context(cert),
        "letters": letters,
        "statement": statement,
    }


def provenance_rows(results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every raw row behind the report, included and excluded, once, in row order."""
    rows: dict[str, dict[str, Any]] = {}

    def add(r: Mapping[str, Any], status: str, used_in: str | None, label: str | None) -> None:
        entry = rows.setdefault(
            r["row_id"],
            {
                "row_id": r["row_id"],
                "anchor": ctx.anchor(r["row_id"]),
                "label": label or r.get("study_id", ""),
                "status": status,
                "reason": r.get("reason") or r.get("exclusion_reason") or "",
                "quote": r.get("quote") or "",
                "sources": ctx.source_links(r.get("source_url")),
                "citations": ctx.citation_links(r.get("doi_or_pmid")),
                "citation_text": r.get("doi_or_pmid") or "",
                "used_in": [],
            },
        )
        if used_in and used_in not in entry["used_in"]:
            entry["used_in"].append(used_in)

    for ds in results.values():
        for a in ds.get("analyses", []):
            for s in a["studies"]:
                for rid in s.get("row_ids") or [s["row_id"]]:
                    add({**s, "row_id": rid}, "included", a["title"], s["label"])
            for e in a.get("excluded", []):
                add(e, "excluded", a["title"], None)
        for m in ds.get("markers", []):
            for row in m.get("markers", []):
                add(
                    row,
                    "included" if row.get("include", True) else "excluded",
                    m["title"],
                    row.get("marker"),
                )

    def key(rid: str) -> tuple[str, int]:
        file, _, line = rid.partition(":")
        return (file, int(line) if line.isdigit() else 0)

    return [rows[r] for r in sorted(rows, key=key)]


def trial_references(results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    refs: dict[str, dict[str, Any]] = {}
    for ds in results.values():
        items = [s for a in ds.get("analyses", []) for s in a["studies"]]
        items += [
            {**r, "label": r.get("study_id")}
            for m in ds.get("markers", [])
            for r in m.get("markers", [])
        ]
        for s in items:
            refs.setdefault(
                str(s["study_id"]),
                {
                    "label": s.get("label") or s["study_id"],
                    "citation": s.get("doi_or_pmid") or "",
                    "links": ctx.citation_links(s.get("doi_or_pmid")),
                },
            )
    return [refs[k] for k in sorted(refs)]


def _claim_targets(
    claim: Mapping[str, Any], analyses: Mapping[str, Mapping[str, Any]]
) -> list[tuple[Mapping[str, Any], Mapping[str, Any] | None]]:
    """(analysis, estimate) pairs a claim is checked on: each analysis's overall estimate, one
    subgroup group of it, or one trial's own estimate (None when it has none)."""
    out: list[tuple[Mapping[str, Any], Mapping[str, Any] | None]] = []
    for name in claim.get("analyses") or [claim["analysis"]]:
        analysis = analyses.get(name)
        if analysis is None:
            continue
        if "study" in claim:
            study = next(
                (s for s in analysis["studies"] if claim["study"] in (s["study_id"], s["trial"])),
                None,
            )
            own = {**analysis, "measures": [study["measure"]]} if study else analysis
            out.append(
                (
                    own,
                    None
                    if study is None
                    else {
                        **study,
                        "estimate": study["yi"],
                        "estimate_exp": study.get("yi_exp"),
                        "trials": 1,
                        "comparisons": len(study["row_ids"]),
                    },
                )
            )
            continue
        found = conclusions.targets(
            {
                "analyses": [name],
                **({"subgroup": claim["subgroup"]} if "subgroup" in claim else {}),
            },
            analyses,
        )
        out.append((analysis, found[0].pooled if found else None))
    return out


def _claim_verdict(
    claim: Mapping[str, Any],
    analyses: Mapping[str, Mapping[str, Any]],
    marker_sets: Mapping[str, Mapping[str, Any]],
    settings: Mapping[str, Any],
) -> tuple[str, str]:
    if "nnt" in claim:
        nnt = (analyses.get(claim.get("analysis", "")) or {}).get("single_trial_nnt")
        if not nnt:
            return "not estimable", ""
        verdict = "reproduced" if nnt["rounded"] == claim["nnt"] else "contradicted"
        return verdict, f"{nnt['label']} (95% CI {nnt['ci_label']}; one trial)"
    if "markers" in claim:
        spec = settings["markers"].get(claim["markers"], {})
        chosen = conclusions.decision_markers(
            (marker_sets.get(claim["markers"]) or {}).get("markers", []),
            spec,
            claim.get("marker_groups"),
        )
        if not chosen:
            return "not estimable", ""
        verdicts = {rules.marker_effect(m)["verdict"] for m in chosen}
        verdict = "reproduced" if verdicts == {claim["expect"]} else "contradicted"
        return verdict, conclusions.marker_summary(chosen, spec, settings)
    shown, agree = [], []
    for analysis, estimate in _claim_targets(claim, analyses):
        if estimate is None:
            shown.append(f"{analysis['title']}: not estimable")
            agree.append(False)
            continue
        agree.append(rules.direction(analysis, estimate) == claim["expect"])
        shown.append(
            f"{analysis['title']}: {rules.estimate_text(analysis, estimate)}; "
            f"{rules.trials(estimate)}"
        )
    verdict = "reproduced" if agree and all(agree) else "contradicted"
    return verdict, "; ".join(shown)


def claim_rows(
    claims: list[Mapping[str, Any]],
    analyses: Mapping[str, Mapping[str, Any]],
    marker_sets: Mapping[str, Mapping[str, Any]],
    settings: Mapping[str, Any],
) -> list[dict[str, str]]:
    """Each claim of a source summary: reproduced or contradicted (with the computed numbers),
    or narrative / not computable (not checked)."""
    out = []
    for claim in claims:
        if "expect" in claim or "nnt" in claim:
            verdict, numbers = _claim_verdict(claim, analyses, marker_sets, settings)
        else:
            verdict = (
                "narrative (not computed)"
                if claim.get("kind", "narrative") == "narrative"
                else "not computable from these data"
            )
            numbers = ""
        out.append(
            {
                "id": str(claim["id"]),
                "text": claim["text"],
                "verdict": verdict,
                "numbers": numbers,
                "note": claim.get("note") or "",
            }
        )
    return out


def conclusions_of(
    results: Mapping[str, Mapping[str, Any]],
    settings: Mapping[str, Any],
    review: Mapping[str, Any],
) -> dict[str, Any]:
    """Every rule-made sentence of the report, keyed, plus the certainty of each analysis."""
    analyses = changes_mod.pooled_analyses(cast(Any, results))
    marker_sets = {m["id"]: m for ds in results.values() for m in ds.get("markers", [])}
    certainties = {
        k: certainty_of(a, settings["grade"]) for k, a in analyses.items() if a.get("overall")
    }
    sentences: dict[str, str] = {}
    for k, a in analyses.items():
        if k in certainties:
            sentences[f"{a['title']}: effect"] = rules.effect_sentence(
                a, certainties[k], settings, review
            )
        for key, sub in (a.get("subgroups") or {}).items():
            s = rules.subgroup_sentence(a, key, settings)
            if s:
                sentences[f"{a['title']}: by {sub.get('title', key)}"] = s
        for key, reg in (a.get("meta_regression") or {}).items():
            sentences[f"{a['title']}: on {reg.get('title', key)}"] = rules.regression_sentence(
                a, reg, settings
            )
    bottom = conclusions.apply_rules(
        settings["bottom_line"], analyses, certainties, marker_sets, settings, review
    )
    recs = conclusions.apply_rules(
        settings["recommendation"], analyses, certainties, marker_sets, settings, review
    )
    sentences.update({f"Bottom line {i}": s for i, s in enumerate(bottom, 1)})
    sentences.update({f"Recommendation {i}": s for i, s in enumerate(recs, 1)})
    return {
        "sentences": sentences,
        "certainties": certainties,
        "analyses": analyses,
        "marker_sets": marker_sets,
        "bottom": bottom,
        "recommendations": recs,
    }


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
    env.filters["anchor"] = ctx.anchor
    env.filters["upper_first"] = rules.upper_first
    return env


@dataclass(frozen=True)
class _Render:
    """How the report renders an analysis's section: with the template's ``analysis_block``
    macro (``macros``), reusing the stored section when a :class:`Fragments` store is given."""

    macros: Any
    fragments: Fragments | None = None

    def section(
        self, analysis_id: str, figures: Mapping[str, str], render: Callable[[], str]
    ) -> Markup:
        if self.fragments is None:
            return Markup(render())  # the macro's own output, escaped as it was rendered
        return self.fragments.section(analysis_id, figures, render)


def _section_context(
    section: Mapping[str, Any],
    c: Mapping[str, Any],
    figures: Mapping[str, Mapping[str, str]],
    settings: Mapping[str, Any],
    narrative: Mapping[str, Any],
    review: Mapping[str, Any],
    render: _Render,
) -> dict[str, Any]:
    analyses, certainties = c["analyses"], c["certainties"]
    marker = c["marker_sets"].get(section.get("markers", ""))

    def block(a: str) -> Markup:
        own = figures.get(a, {})
        return render.section(
            a,
            own,
            lambda: render.macros.analysis_block(
                analysis_context(analyses[a], own, settings, certainties.get(a), review)
            ),
        )

    return {
        "id": section["id"],
        "heading": section["heading"],
        "intro": section.get("intro"),
        "analyses": [block(a) for a in section.get("analyses") or [] if a in analyses],
        "markers": marker_context(marker, settings) if marker else None,
        "narrative": [narrative["blocks"][b] for b in section.get("narrative") or []],
        "figures": [],
    }


def _sections(
    settings: Mapping[str, Any],
    c: Mapping[str, Any],
    figures: Mapping[str, str],
    narrative: Mapping[str, Any],
    review: Mapping[str, Any],
    render: _Render,
) -> list[dict[str, Any]]:
    """The review's sections, then "Other analyses": every analysis no section names, and any
    figure no analysis claims, so every figure the config draws is reachable. Each analysis's
    section is rendered by ``render`` (or reused from its cache)."""
    grouped = ctx.figures_by_analysis(figures)
    out = [
        _section_context(s, c, grouped, settings, narrative, review, render)
        for s in settings["sections"]
    ]
    placed = {a for s in settings["sections"] for a in s.get("analyses") or []}
    rest = [a for a in c["analyses"] if a not in placed]
    claimed = {name for a in c["analyses"] for name in grouped.get(a, {}) if name.endswith(".svg")}
    loose = ctx.loose_figures(figures, claimed)
    if rest or loose:
        other = {"id": "other-analyses", "heading": "Other analyses", "analyses": rest}
        section = _section_context(other, c, grouped, settings, narrative, review, render)
        section["figures"] = loose
        out.append(section)
    return out


def first_screen(
    settings: Mapping[str, Any], c: Mapping[str, Any], review: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Each Summary of Findings outcome's bottom line: the GRADE statement, its numbers and its
    certainty (or why it is not estimable)."""
    analyses, certainties = c["analyses"], c["certainties"]
    out = []
    for aid in (a for a in settings["sof"] if a in analyses):
        analysis, cert = analyses[aid], certainties.get(aid)
        pooled = analysis.get("overall")
        numbers = f"{rules.estimate_text(analysis)}; {rules.trials(pooled)}" if pooled else ""
        out.append(
            {
                "title": analysis["title"],
                "anchor": "analysis-" + aid,
                "statement": rules.effect_statement(analysis, cert, settings, review)
                if cert
                else "",
                "numbers": numbers,
                "not_estimable": analysis.get("not_estimable") or "",
                "certainty": ctx.certainty_context(cert),
                "direction": rules.direction(analysis),
            }
        )
    return out


def change_summary(changes: changes_mod.Changes) -> list[dict[str, Any]]:
    """The first screen's list of what changed, each with its direction: certainty that fell
    or rose, estimates old → new, directions that turned, trials added, removed or changed."""
    out: list[dict[str, Any]] = [
        {
            "text": f"{c.analysis}: certainty {'fell' if c.fell else 'rose'}, {c.old} → {c.new}",
            "flag": c.fell,
        }
        for c in changes.certainty
    ]
    for line in changes.lines:
        if line.line != "All trials":
            continue
        if line.direction is not None:
            out.append(
                {
                    "text": f"{line.analysis}: {line.direction.old} → {line.direction.new}",
                    "flag": True,
                }
            )
        # the first screen keeps to the estimate, its CI and the trials; the rest is below
        shown = [
            f"{p.label} {p.old} → {p.new}"
            for p in line.changed_parts
            if p.label not in ("Participants", "I²")
        ]
        if shown:
            out.append({"text": f"{line.analysis}: " + "; ".join(shown), "flag": False})
    counts = {
        kind: sum(1 for r in changes.rows if r.kind == kind)
        for kind in ("added", "removed", "excluded", "changed")
    }
    words = {
        "added": "added",
        "removed": "removed",
        "excluded": "newly excluded",
        "changed": "with changed numbers",
    }
    rows = [f"{n} trial{'s' if n != 1 else ''} {words[k]}" for k, n in counts.items() if n]
    if rows:
        out.append({"text": "Trials: " + ", ".join(rows), "flag": False})
    if changes.analyses_added or changes.analyses_removed:
        out.append(
            {
                "text": "Analyses added: "
                + (", ".join(changes.analyses_added) or "none")
                + "; removed: "
                + (", ".join(changes.analyses_removed) or "none"),
                "flag": bool(changes.analyses_removed),
            }
        )
    return out


def edition(
    version: str,
    version_info: Mapping[str, Any] | None,
    changes: changes_mod.Changes,
) -> dict[str, str]:
    """The report's version line: its released version and date when it is one, its data
    version (the hash of its inputs), and the report it is compared with."""
    released = ""
    if version_info:
        released = f"Version {version_info['number']}"
        if version_info.get("date"):
            released += f" of {version_info['date']}"
    compared = ""
    if not changes.first_report:
        compared = f"compared with {changes.against}"
    return {"released": released, "data": version, "compared": compared}


def sof_caption(
    settings: Mapping[str, Any], sof: list[dict[str, Any]], review: Mapping[str, Any]
) -> str:
    """The SoF table's caption: the comparison, the unit of the risks shown and where GRADE's
    certainty starts (high for randomised trials, low for observational studies)."""
    starts = sorted({grade.grade_settings(settings["grade"], r["analysis_id"]).start for r in sof})
    why = {"high": " (randomised trials)", "low": " (observational studies)"}
    start = (
        f"certainty starts at {starts[0]}{why.get(starts[0], '')}"
        if len(starts) == 1
        else "certainty starts at " + " or ".join(starts) + " (see each outcome)"
    )
    risks = (
        "Risks per 1,000 people; " if any(r["corresponding"] != fmt.MISSING for r in sof) else ""
    )
    head = f"{rules.upper_first(review['intervention'])} compared with {review['control']} (GRADE)."
    return f"{head} {risks}{start}." if sof else head


def sof_rows(
    settings: Mapping[str, Any],
    c: Mapping[str, Any],
    footnotes: dict[str, str],
    review: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The Summary of Findings rows of the outcomes ``sof`` names, in its order; each
    downgrade's explanation is added to ``footnotes`` (text → letter)."""
    analyses, certainties = c["analyses"], c["certainties"]
    return [
        sof_row(
            analyses[a],
            certainties.get(a),
            rules.effect_statement(analyses[a], certainties[a], settings, review)
            if a in certainties
            else "",
            footnotes,
            review,
        )
        for a in settings["sof"]
        if a in analyses
    ]


def narrative_references(narrative: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The narrative's references with their checked links (an unsafe URL is dropped)."""
    return [
        {
            **r,
            "url": r.get("url") if ctx.source_links(r.get("url")) else None,
            "links": ctx.citation_links(r.get("doi_or_pmid")),
        }
        for r in narrative["references"]
    ]


def build_report(
    results: Mapping[str, Mapping[str, Any]],
    figures: Mapping[str, str],
    previous: Mapping[str, Mapping[str, Any]] | None,
    narrative: Mapping[str, Any],
    settings: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    version: str,
    previous_version: Mapping[str, Any] | None = None,
    version_info: Mapping[str, Any] | None = None,
    fragments: Fragments | None = None,
) -> str:
    """The evidence summary as one self-contained HTML document.

    ``results``: ``{dataset: results/analyses/{dataset}.json}``; ``figures``: ``{file name:
    text}`` of results/figures; ``previous``: the results of the report compared with, or
    None; ``narrative`` / ``settings``: as :mod:`evsynth.report.settings` loads them;
    ``config``: the review's validated config; ``version``: the data version, chosen by the
    caller; ``previous_version``: ``{"number", "date", "data_hash"}`` of the released version
    ``previous`` belongs to (None: the previous run); ``version_info``: the same mapping for
    this report when it is a released version; ``fragments``: the store of rendered analysis
    sections to reuse and fill (:mod:`evsynth.report.fragments`), or None to render every
    section. No date is ever read from the clock.
    """
    review = config["review"]
    c = conclusions_of(results, settings, review)
    analyses, certainties = c["analyses"], c["certainties"]
    before = conclusions_of(previous, settings, review) if previous is not None else None
    changes = changes_mod.compare(
        results,
        previous,
        c["sentences"],
        before["sentences"] if before else None,
        current_certainty=certainties,
        previous_certainty=before["certainties"] if before else None,
        previous_version=previous_version,
    )
    env = environment()
    render = _Render(env.get_template(MACROS).module, fragments)
    footnotes: dict[str, str] = {}
    sof = sof_rows(settings, c, footnotes, review)
    context = {
        "version": version,
        "edition": edition(version, version_info, changes),
        "title": review["title"],
        "review": review,
        "bottom": c["bottom"],
        "outcomes": first_screen(settings, c, review),
        "change_summary": change_summary(changes),
        "sof": sof,
        "sof_caption": sof_caption(settings, sof, review),
        "sof_difference_head": "Risk difference (95% CI)"
        if all(r["difference"].endswith(("fewer)", "more)")) for r in sof)
        else "Difference (95% CI)",
        "footnotes": [{"letter": v, "text": k} for k, v in footnotes.items()],
        "sections": _sections(settings, c, figures, narrative, review, render),
        "recommendations": c["recommendations"],
        "recommendation_narrative": narrative["blocks"].get("recommendation"),
        "claims": claim_rows(settings["claims"], analyses, c["marker_sets"], settings),
        "changes": changes,
        "provenance": provenance_rows(results),
        "trial_refs": trial_references(results),
        "narrative_refs": narrative_references(narrative),
        "refnum": {r["id"]: i for i, r in enumerate(narrative["references"], 1)},
    }
    return env.get_template(TEMPLATE).render(context)


# --- reading the inputs (scripts/report.py) -------------------------------------------------


def _add_to_digest(digest: Any, name: str, text: str | bytes) -> None:
    """Add one named input to ``digest``; lengths delimit the parts, so no two different
    sets of inputs feed it the same bytes. ``text`` as UTF-8 (bytes are taken as read)."""
    for part in (name.encode(), text.encode() if isinstance(text, str) else text):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)


def _read_results(
    folder: Path, digest: Any | None = None, hashes: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """``{dataset: results}`` of the results files in ``folder``; each file's bytes are fed
    to ``digest`` and their SHA-256 kept in ``hashes`` (by file name) when given. Each file
    is read, decoded and hashed once (a results file of 1,000 analyses is 56 MB)."""
    out = {}
    for path in sorted(folder.glob("*.json")):
        raw = path.read_bytes()
        data = parse_json(raw)
        if isinstance(data, dict) and "analyses" in data and "dataset" in data:
            out[data["dataset"]] = data
            if digest is not None:
                _add_to_digest(digest, f"results/{path.name}", raw)
            if hashes is not None:
                hashes[path.name] = hashlib.sha256(raw).hexdigest()
    return out


def _figure_files(folder: Path) -> list[Path]:
    """The figure files the figures stage's manifests (``{dataset}.figures.json``) list; a
    figure the config no longer asks for may still lie in the folder and is not shown. A
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
    config: Mapping[str, Any],
    narrative: str | Path | None,
    settings: str | Path | None,
    previous_dir: str | Path | None = None,
    *,
    previous_version: Mapping[str, Any] | None = None,
    version_info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything :func:`build_report` needs, read from ``results_dir``, the results to compare
    with (``previous_dir``, or none) and the two YAML files (validated), with ``version`` =
    the first 12 hex digits of the SHA-256 of all inputs. ``previous_version`` names the
    released version ``previous_dir`` holds (``{"number", "date", "data_hash"}``; None: the
    previous run) and ``version_info`` this report's own, when it is a released version; both
    are passed on to :func:`build_report`."""
    root = Path(results_dir)
    digest = hashlib.sha256()
    results_hashes: dict[str, str] = {}
    results = _read_results(root / "analyses", digest, results_hashes)
    figures = {}
    for p in _figure_files(root / "figures"):
        if p.name.endswith((".svg", ".alt.txt")):
            figures[p.name] = p.read_text(encoding="utf-8")
            _add_to_digest(digest, f"figures/{p.name}", figures[p.name])
        elif p.name.endswith(".png"):
            figures[p.name] = ""
            _add_to_digest(digest, f"figures/{p.name}", "")
    previous = None
    if previous_dir is not None:
        _add_to_digest(digest, "previous", "")
        previous = _read_results(Path(previous_dir), digest)
        _add_to_digest(digest, "previous version", json.dumps(previous_version, sort_keys=True))
    yaml_texts = []
    for name, path in (("narrative", narrative), ("settings", settings)):
        text = Path(path).read_text(encoding="utf-8") if path and Path(path).exists() else ""
        _add_to_digest(digest, name, text)
        yaml_texts.append(text)
    _add_to_digest(digest, "review", json.dumps(config["review"], sort_keys=True))
    narrative_data = load_narrative(narrative)
    settings_data = load_settings(settings, config, narrative_data)
    return {
        "results": results,
        "figures": figures,
        "previous": previous,
        "narrative": narrative_data,
        "settings": settings_data,
        "config": config,
        "version": digest.hexdigest()[:12],
        "previous_version": previous_version,
        "version_info": version_info,
        # what the store of rendered sections keys them by (evsynth.report.fragments)
        "yaml_texts": yaml_texts,
        "results_digests": results_digests(root / "analyses", results_hashes),
    }
