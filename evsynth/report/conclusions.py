"""The review's conclusion rules (``bottom_line`` and ``recommendation`` in report.yaml),
applied to the results.

A rule's targets are its analyses' overall estimates, or one subgroup group of each
(``subgroup: {variable, group}``); ``when`` asks a direction of them (benefit, harm,
no_difference, any). ``quantifier``:

* ``each`` (default): one sentence per target meeting ``when`` — the rule's ``say``, or with
  ``statement: true`` the target's GRADE plain-language statement with its numbers;
* ``all`` / ``any`` / ``none``: one sentence, ``say`` when all / any / none of the targets meet
  ``when``, else ``otherwise`` (if given).

A marker rule (``markers: <set>``, optional ``groups``) speaks of a set's decision markers
(exploratory ones never decide): ``when: changed`` with a quantifier, or no ``when`` for the
summary sentence ``{markers}`` ("lowered troponin but showed no evidence of a difference for
blood pressure").

Sentence words (``{name}``): ``intervention``, ``control``; per target ``outcome``,
``Outcome``, ``estimate``, ``trials``, ``certainty``, ``statement``, ``group``; per rule
``list`` (each matching target as "outcome (estimate)"), ``outcomes``, ``markers``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evsynth.report import rules
from evsynth.report.grade import Certainty


@dataclass(frozen=True)
class Target:
    """One estimate a rule looks at: an analysis's overall estimate or one subgroup group."""

    analysis: Mapping[str, Any]
    pooled: Mapping[str, Any]
    group: str | None

    @property
    def direction(self) -> str:
        return rules.direction(self.analysis, self.pooled)


def join(items: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def targets(rule: Mapping[str, Any], analyses: Mapping[str, Mapping[str, Any]]) -> list[Target]:
    """The estimates a rule speaks about (analyses without an estimate are left out)."""
    out = []
    for name in rule.get("analyses") or []:
        analysis = analyses.get(name)
        if not analysis or not analysis.get("overall"):
            continue
        sub = rule.get("subgroup")
        if sub is None:
            out.append(Target(analysis, analysis["overall"], None))
            continue
        groups = ((analysis.get("subgroups") or {}).get(sub["variable"]) or {}).get("groups", [])
        out += [Target(analysis, g, g["group"]) for g in groups if g["group"] == sub["group"]]
    return out


def _target_words(
    t: Target,
    certainty: Certainty | None,
    settings: Mapping[str, Any],
    review: Mapping[str, Any],
) -> dict[str, str]:
    words = rules.words(review, t.analysis)
    words.update(
        estimate=rules.estimate_text(t.analysis, t.pooled),
        trials=rules.trials(t.pooled),
        group=t.group or "",
        certainty=f"{certainty.label} certainty" if certainty else "",
        statement=rules.effect_statement(t.analysis, certainty, settings, review)
        if certainty and t.group is None
        else "",
    )
    return words


def _listed(ts: Sequence[Target]) -> str:
    return join(
        [
            f"{rules.outcome_name(t.analysis)} ({rules.estimate_text(t.analysis, t.pooled)})"
            for t in ts
        ]
    )


def _meets(t: Target, when: str) -> bool:
    return when == "any" or t.direction == when


def _analysis_rule(
    rule: Mapping[str, Any],
    analyses: Mapping[str, Mapping[str, Any]],
    certainties: Mapping[str, Certainty],
    settings: Mapping[str, Any],
    review: Mapping[str, Any],
) -> list[str]:
    ts = targets(rule, analyses)
    when = rule.get("when", "any")
    quantifier = rule.get("quantifier", "each")
    if quantifier == "each":
        out = []
        for t in ts:
            if not _meets(t, when):
                continue
            cert = certainties.get(t.analysis["id"])
            if rule.get("dose_response"):
                sentence = rules.dose_response_sentence(t.analysis, settings)
                out += [sentence] if sentence else []
            elif rule.get("statement") and t.group is None and cert is not None:
                out.append(rules.effect_sentence(t.analysis, cert, settings, review))
            elif "say" in rule:
                out.append(rule["say"].format(**_target_words(t, cert, settings, review)))
        return out
    if not ts:
        return []
    matching = [t for t in ts if _meets(t, when)]
    holds = {"all": len(matching) == len(ts), "any": bool(matching), "none": not matching}[
        quantifier
    ]
    template = rule.get("say") if holds else rule.get("otherwise")
    if not template:
        return []
    shown = ts if (quantifier in ("all", "none") and holds) else matching
    words = {
        **rules.words(review),
        "list": _listed(shown),
        "outcomes": join([rules.outcome_name(t.analysis) for t in shown]),
        "group": ts[0].group or "",
    }
    return [template.format(**words)]


def decision_markers(
    markers: Sequence[Mapping[str, Any]], spec: Mapping[str, Any], groups: Sequence[str] | None
) -> list[Mapping[str, Any]]:
    """Included markers of ``groups`` (all when None) that are not exploratory."""
    group_col = spec.get("group", "marker_group")
    label_col = spec.get("label", "marker")
    flag, words = spec.get("exploratory"), [w.lower() for w in spec.get("exploratory_words", [])]
    return [
        m
        for m in markers
        if m.get("include", True)
        and (groups is None or m.get(group_col) in groups)
        and not (flag and m.get(flag))
        and not any(w in str(m.get(label_col, "")).lower() for w in words)
    ]


def short_name(name: str) -> str:
    """A marker's name without its parenthetical detail: "troponin (change at 12 months)" ->
    "troponin"."""
    import re

    return re.sub(r"\s*\(.*?\)", "", name).split(",")[0].strip()


def marker_summary(
    markers: Sequence[Mapping[str, Any]], spec: Mapping[str, Any], settings: Mapping[str, Any]
) -> str:
    """ "lowered troponin but showed no evidence of a difference for blood pressure"."""
    label_col = spec.get("label", "marker")
    changed, same = [], []
    for m in markers:
        effect = rules.marker_effect(m)
        name = short_name(str(m.get(label_col, "")))
        if effect["verdict"] == "changed":
            changed.append(f"{effect['direction'] or 'changed'} {name}")
        elif effect["verdict"] == "no_difference":
            same.append(name)
    text = join(changed)
    if same:
        text += (" but " if changed else "") + (
            f"showed {settings['wording']['no_difference_short']} for {join(same)}"
        )
    return text


def _marker_rule(
    rule: Mapping[str, Any],
    marker_sets: Mapping[str, Mapping[str, Any]],
    settings: Mapping[str, Any],
    review: Mapping[str, Any],
) -> list[str]:
    spec = settings["markers"].get(rule["markers"], {})
    chosen = decision_markers(
        (marker_sets.get(rule["markers"]) or {}).get("markers", []), spec, rule.get("groups")
    )
    if not chosen:
        return []
    words = {**rules.words(review), "markers": marker_summary(chosen, spec, settings)}
    if "when" not in rule:
        return [rule["say"].format(**words)] if "say" in rule else []
    meets = [rules.marker_effect(m)["verdict"] == rule["when"] for m in chosen]
    holds = {"all": all(meets), "any": any(meets), "none": not any(meets), "each": any(meets)}[
        rule.get("quantifier", "any")
    ]
    template = rule.get("say") if holds else rule.get("otherwise")
    return [template.format(**words)] if template else []


def apply_rules(
    rule_list: Sequence[Mapping[str, Any]],
    analyses: Mapping[str, Mapping[str, Any]],
    certainties: Mapping[str, Certainty],
    marker_sets: Mapping[str, Mapping[str, Any]],
    settings: Mapping[str, Any],
    review: Mapping[str, Any],
) -> list[str]:
    """The sentences of a list of rules, in order."""
    out: list[str] = []
    for rule in rule_list:
        if "markers" in rule:
            out += _marker_rule(rule, marker_sets, settings, review)
        else:
            out += _analysis_rule(rule, analyses, certainties, settings, review)
    return [rules.upper_first(s) for s in out]
