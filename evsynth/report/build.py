"""Assemble the report's context from the results and render the single-file HTML.

:func:`build_report` is pure: results, figures, previous results, narrative, settings and the
review's config in, HTML out. It never reads the clock or the file system (the templates ship
with the package), so the same inputs give byte-identical output; ``version`` (a hash of the
inputs) is chosen by the caller. :func:`load_inputs` reads the inputs for ``scripts/report.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from evsynth import format as fmt
from evsynth.report import changes as changes_mod
from evsynth.report import conclusions, grade, rules
from evsynth.report import context as ctx
from evsynth.report.certainty import certainty_of
from evsynth.report.settings import load_narrative, load_settings

TEMPLATE = "report.html.j2"


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
    subgroups = [
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
    regressions = [
        {
            "title": reg.get("title", key),
            "sentence": rules.regression_sentence(analysis, reg, settings),
            "rows": ctx.regression_table(analysis, reg),
        }
        for key, reg in _in_order(analysis.get("meta_regression"), analysis.get("moderator_order"))
    ]
    sensitivity = [
        {
            "title": s["title"],
            "note": s.get("note"),
            "line": ctx.pooled_line(analysis, s["pooled"], s["title"]) if s.get("pooled") else None,
        }
        for s in analysis.get("sensitivity") or []
    ]
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
        "subgroups": subgroups,
        "regressions": regressions,
        "sensitivity": sensitivity,
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


def sof_row(
    analysis: Mapping[str, Any],
    cert: grade.Certainty | None,
    statement: str,
    footnotes: dict[str, str],
    review: Mapping[str, Any],
) -> dict[str, Any]:
    """One Summary of Findings row in GRADEpro's layout (Schünemann et al., Cochrane Handbook
    ch. 14): assumed and corresponding risk, risk difference per 1,000 with its CI, relative
    effect, participants (studies), follow-up, certainty with lettered footnotes, comments."""
    pooled = analysis.get("overall")
    absolute = analysis.get("absolute") or {}
    letters = []
    for d in cert.downgrades if cert else ():
        text = d.footnote
        letter = footnotes.setdefault(text, chr(ord("a") + len(footnotes)))
        letters.append(letter)
    follow = analysis.get("follow_up")
    follow_text = fmt.MISSING
    if follow:
        span = (
            fmt.years(follow["low"])
            if follow["low"] == follow["high"]
            else f"{fmt.years(follow['low'])} to {fmt.years(follow['high'])}"
        )
        follow_text = f"{span} {follow['unit']}".strip()
    if pooled:
        relative = rules.relative_text(analysis, pooled)
        studies = f"{ctx.participants_text(pooled)} in {rules.trials(pooled)}"
    else:
        relative, studies = fmt.MISSING, analysis.get("not_estimable") or fmt.MISSING
    low, high = absolute.get("difference_per_1000_ci") or (None, None)
    return {
        "analysis_id": analysis["id"],
        "outcome": analysis["title"],
        "assumed": f"{fmt.per_1000(absolute.get('per_1000_control'))} per 1,000"
        if absolute
        else fmt.MISSING,
        "assumed_source": absolute.get("control_risk_source") or "",
        "corresponding": (
            f"{fmt.per_1000(absolute['per_1000_treat'])} per 1,000 "
            f"({fmt.interval(*_pair(absolute['per_1000_treat_ci']), 0)})"
        )
        if absolute
        else fmt.MISSING,
        "difference": (
            f"{_difference_text(absolute['difference_per_1000'])} (from "
            f"{_difference_text(low).removesuffix(' per 1,000')} to "
            f"{_difference_text(high).removesuffix(' per 1,000')})"
        )
        if absolute
        else fmt.MISSING,
        "relative": relative,
        "participants": studies,
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
    sentences.update({f"bottom line {i}": s for i, s in enumerate(bottom, 1)})
    sentences.update({f"recommendation {i}": s for i, s in enumerate(recs, 1)})
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


def _sections(
    settings: Mapping[str, Any],
    c: Mapping[str, Any],
    figures: Mapping[str, str],
    narrative: Mapping[str, Any],
    review: Mapping[str, Any],
) -> list[dict[str, Any]]:
    analyses, certainties = c["analyses"], c["certainties"]
    out = []
    for section in settings["sections"]:
        marker = c["marker_sets"].get(section.get("markers", ""))
        out.append(
            {
                "id": section["id"],
                "heading": section["heading"],
                "intro": section.get("intro"),
                "analyses": [
                    analysis_context(analyses[a], figures, settings, certainties.get(a), review)
                    for a in section.get("analyses") or []
                    if a in analyses
                ],
                "markers": marker_context(marker, settings) if marker else None,
                "narrative": [narrative["blocks"][b] for b in section.get("narrative") or []],
            }
        )
    return out


def build_report(
    results: Mapping[str, Mapping[str, Any]],
    figures: Mapping[str, str],
    previous: Mapping[str, Mapping[str, Any]] | None,
    narrative: Mapping[str, Any],
    settings: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    version: str,
) -> str:
    """The evidence summary as one self-contained HTML document.

    ``results``: ``{dataset: results/analyses/{dataset}.json}``; ``figures``: ``{file name:
    text}`` of results/figures; ``previous``: the results of the report compared with, or
    None; ``narrative`` / ``settings``: as :mod:`evsynth.report.settings` loads them;
    ``config``: the review's validated config; ``version``: chosen by the caller.
    """
    review = config["review"]
    c = conclusions_of(results, settings, review)
    analyses, certainties = c["analyses"], c["certainties"]
    previous_sentences = (
        conclusions_of(previous, settings, review)["sentences"] if previous is not None else None
    )
    changes = changes_mod.compare(
        cast(Any, results), cast(Any, previous), c["sentences"], previous_sentences
    )
    footnotes: dict[str, str] = {}
    sof = [
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
    context = {
        "version": version,
        "title": review["title"],
        "review": review,
        "bottom": c["bottom"],
        "outcomes": [
            {
                "title": analyses[a]["title"],
                "anchor": "analysis-" + a,
                "certainty": ctx.certainty_context(certainties.get(a)),
                "direction": rules.direction(analyses[a]),
            }
            for a in settings["sof"]
            if a in analyses
        ],
        "sof": sof,
        "footnotes": [{"letter": v, "text": k} for k, v in footnotes.items()],
        "sections": _sections(settings, c, figures, narrative, review),
        "recommendations": c["recommendations"],
        "recommendation_narrative": narrative["blocks"].get("recommendation"),
        "claims": claim_rows(settings["claims"], analyses, c["marker_sets"], settings),
        "changes": changes,
        "provenance": provenance_rows(results),
        "trial_refs": trial_references(results),
        "narrative_refs": [
            {
                **r,
                "url": r.get("url") if ctx.source_links(r.get("url")) else None,
                "links": ctx.citation_links(r.get("doi_or_pmid")),
            }
            for r in narrative["references"]
        ],
        "refnum": {r["id"]: i for i, r in enumerate(narrative["references"], 1)},
    }
    return environment().get_template(TEMPLATE).render(context)


# --- reading the inputs (scripts/report.py) -------------------------------------------------


def _add_to_digest(digest: Any, name: str, text: str) -> None:
    """Add one named input to ``digest``; lengths delimit the parts, so no two different
    sets of inputs feed it the same bytes."""
    for part in (name.encode(), text.encode()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)


def _read_results(folder: Path, digest: Any | None = None) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(folder.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        if isinstance(data, dict) and "analyses" in data and "dataset" in data:
            out[data["dataset"]] = data
            if digest is not None:
                _add_to_digest(digest, f"results/{path.name}", text)
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
    the first 12 hex digits of the SHA-256 of all inputs.

    ``previous_version`` (``{"number", "date", "data_hash"}`` of the released version in
    ``previous_dir``) and ``version_info`` (the same of this report when it is rendered as a
    release) are accepted for the report's version line; not used yet."""
    root = Path(results_dir)
    digest = hashlib.sha256()
    results = _read_results(root / "analyses", digest)
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
    for name, path in (("narrative", narrative), ("settings", settings)):
        text = Path(path).read_text(encoding="utf-8") if path and Path(path).exists() else ""
        _add_to_digest(digest, name, text)
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
    }
