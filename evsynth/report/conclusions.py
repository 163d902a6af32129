"""Rules that turn results into sentences.

Each function reads numbers from an analysis and chooses its words by an explicit rule; the
words themselves live in ``config/report.yaml`` (``wording``). The rules:

1. Direction (:func:`direction`): the pooled 95% CI excludes no effect (1 for ratios, 0 for
   differences) → "benefit" or "harm" according to ``events_are`` and the side of the
   estimate; otherwise → "no_difference".
2. Certainty verb (:func:`effect_statement`): GRADE plain-language wording by certainty
   (high "reduces", moderate "probably reduces", low "may reduce", very low "the evidence is
   very uncertain about the effect of"), Santesso et al. 2020.
3. Subgroups (:func:`subgroup_sentence`): test for subgroup differences P < ``subgroup_alpha``
   → "the effect differs between …"; otherwise "no evidence of a difference between …".
4. Dose (:func:`dose_sentence`): meta-regression slope P < ``alpha`` → "larger/smaller
   effect with higher dose"; otherwise "no evidence that the effect changes with dose".
5. Harm (:func:`nnh_sentence`): a number needed to treat for an additional harmful outcome
   (Altman 1998, BMJ 317:1309) with its CI and time frame, when the trial's risk difference
   CI excludes 0; otherwise "no clear increase".
6. Markers (:func:`marker_sentence`): a published between-group CI (or P) that excludes no
   effect → "changed"; otherwise "no evidence of a difference"; no numbers → the
   ``not_available`` text, never the seed's claim.
"""

from __future__ import annotations

import re
from typing import Any

from evsynth import format as fmt
from evsynth.report.grade import Certainty, ci_excludes_null


def direction(analysis: dict[str, Any], pooled: dict[str, Any] | None = None) -> str:
    """ "benefit", "harm" or "no_difference" (rule 1)."""
    pooled = analysis["overall"] if pooled is None else pooled
    if not ci_excludes_null(analysis, pooled):
        return "no_difference"
    lower = float(pooled["estimate"]) < 0  # log scale or difference: below 0 = fewer events
    harmful = analysis.get("events_are", "harmful") == "harmful"
    return "benefit" if lower == harmful else "harm"


def lower_first(title: str) -> str:
    """ "Hip fracture" -> "hip fracture"; acronyms ("CAC score") stay as they are."""
    return title[0].lower() + title[1:] if title[:2] != title[:2].upper() else title


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def outcome_name(analysis: dict[str, Any]) -> str:
    return lower_first(analysis["title"])


def trials(k: int) -> str:
    """ "1 trial", "8 trials"."""
    return f"{fmt.count(k)} trial" + ("" if k == 1 else "s")


def short_marker(name: str) -> str:
    """Marker name without its parenthetical detail.

    "dp-ucMGP (change over 24 months)" -> "dp-ucMGP".
    """
    return re.sub(r"\s*\(.*?\)", "", name).split(",")[0].strip()


def decision_markers(
    markers: list[dict[str, Any]], settings: dict[str, Any]
) -> list[dict[str, Any]]:
    """Included markers of the decision groups, without exploratory ones (subgroups, extras)."""
    rules = settings["bottom_line"]
    words = [w.lower() for w in rules.get("exploratory_marker_words", [])]
    return [
        m
        for m in markers
        if m.get("include")
        and m.get("marker_group") in rules["decision_marker_groups"]
        and not any(w in m["marker"].lower() for w in words)
    ]


def effect_statement(analysis: dict[str, Any], cert: Certainty, settings: dict[str, Any]) -> str:
    """GRADE plain-language statement (rules 1 and 2), first letter capitalised."""
    template = settings["wording"][direction(analysis)][cert.label]
    return upper_first(
        template.format(intervention=settings["intervention"], outcome=outcome_name(analysis))
    )


def estimate_text(analysis: dict[str, Any], pooled: dict[str, Any] | None = None) -> str:
    """ "RR 0.89, 95% CI 0.70 to 1.12" from the pooled result."""
    pooled = analysis["overall"] if pooled is None else pooled
    suffix = "_exp" if analysis.get("scale") == "log" else ""
    return (
        f"{analysis['measure']} {fmt.ratio(pooled['estimate' + suffix])}, 95% CI "
        f"{fmt.interval(pooled['ci_low' + suffix], pooled['ci_high' + suffix])}"
    )


def effect_sentence(analysis: dict[str, Any], cert: Certainty, settings: dict[str, Any]) -> str:
    pooled = analysis["overall"]
    return (
        f"{effect_statement(analysis, cert, settings)} ({estimate_text(analysis)}; "
        f"{trials(pooled['k'])}; {cert.label} certainty)."
    )


def subgroup_test(sub: dict[str, Any]) -> str:
    """RevMan's test for subgroup differences: "Chi² = 2.87, df = 1, P = 0.09"."""
    if sub.get("p_value") is None:
        return "not estimable"
    q, p = fmt.ratio(sub["q_between"]), fmt.p_value(sub["p_value"])
    return f"Chi² = {q}, df = {sub['df']}, {p}"


def subgroup_sentence(analysis: dict[str, Any], key: str, settings: dict[str, Any]) -> str | None:
    """Rule 3: the test for subgroup differences, in words."""
    sub = (analysis.get("subgroups") or {}).get(key)
    if not sub or sub.get("p_value") is None:
        return None
    groups = " and ".join(g["group"] for g in sub["groups"])
    title = lower_first(sub.get("title", key))
    test = f"test for subgroup differences: {subgroup_test(sub)}"
    if sub["p_value"] < settings["subgroup_alpha"]:
        return f"The effect on {outcome_name(analysis)} differs by {title} ({groups}; {test})."
    return (
        f"{upper_first(settings['wording']['no_difference_short'])} in the effect on "
        f"{outcome_name(analysis)} between {title} subgroups ({groups}; {test})."
    )


def group_sentence(
    analysis: dict[str, Any], group: dict[str, Any], settings: dict[str, Any]
) -> str:
    """The effect within one subgroup: benefit/harm vs "no clear benefit" (rule 1)."""
    d = direction(analysis, group)
    words = {
        "benefit": "fewer events with " + settings["intervention"],
        "harm": "more events with " + settings["intervention"],
        "no_difference": settings["wording"]["no_clear_benefit"],
    }[d]
    return f"{group['group']}: {words} ({estimate_text(analysis, group)}; {trials(group['k'])})."


def dose_sentence(analysis: dict[str, Any], moderator: str, settings: dict[str, Any]) -> str | None:
    """Rule 4: meta-regression on the dose; the slope is shown as the ratio per 1,000 IU/day."""
    reg = (analysis.get("meta_regression") or {}).get(moderator)
    if not reg:
        return None
    i = reg["names"].index(moderator)
    coef, low, high, p = reg["coef"][i], reg["ci_low"][i], reg["ci_high"][i], reg["p_value"][i]
    if analysis.get("scale") == "log":
        import math

        ratio = fmt.ratio(math.exp(1000 * coef))
        ci = fmt.interval(math.exp(1000 * low), math.exp(1000 * high))
        per = f"{analysis['measure']} ratio per 1,000 IU/day {ratio} (95% CI {ci})"
    else:
        ci = fmt.interval(1000 * low, 1000 * high)
        per = f"slope per 1,000 IU/day {fmt.ratio(1000 * coef)} (95% CI {ci})"
    stats = f"{per}; {fmt.p_value(p)}; {trials(reg['k'])}"
    if p < settings["alpha"]:
        harmful = analysis.get("events_are", "harmful") == "harmful"
        better = (coef < 0) == harmful
        trend = "a larger benefit" if better else "a smaller benefit or more harm"
        return f"Higher daily doses go with {trend} on {outcome_name(analysis)} ({stats})."
    return (
        f"No evidence that the effect on {outcome_name(analysis)} changes with the daily dose "
        f"({stats})."
    )


def nnh_sentence(nnt: dict[str, Any] | None, outcome: str, who: str) -> str | None:
    """Rule 5: NNTH/NNTB with Altman's CI convention and the time frame."""
    if not nnt:
        return None
    frame = (
        f"over {fmt.years(nnt['follow_up_years'])} years"
        if nnt.get("follow_up_years")
        else "over the trial's follow-up"
    )
    treat, control = (
        fmt.per_1000(1000 * nnt["treat_risk"]),
        fmt.per_1000(1000 * nnt["control_risk"]),
    )
    risks = f"{treat} vs {control} per 1,000"
    numbers = f"{nnt['label']}, 95% CI {nnt['ci_label']}; {risks}"
    if nnt["direction"] == "harm" and nnt["rd_ci_low"] > 0:
        return (
            f"In {who}, {frame}, one additional person had {outcome} for every "
            f"{fmt.count(nnt['rounded'])} treated ({numbers})."
        )
    if nnt["direction"] == "benefit" and nnt["rd_ci_high"] < 0:
        return (
            f"In {who}, {frame}, one person fewer had {outcome} for every "
            f"{fmt.count(nnt['rounded'])} treated ({numbers})."
        )
    return (
        f"In {who}, {frame}, no clear difference in {outcome} ({nnt['label']}, 95% CI "
        f"{nnt['ci_label']}; {risks})."
    )


_P_BELOW = re.compile(r"^\s*<\s*([0-9.]+)\s*$")


def _p_number(p: Any) -> float | None:
    if p is None:
        return None
    m = _P_BELOW.match(str(p))
    try:
        return float(m.group(1)) if m else float(p)
    except ValueError:
        return None


def marker_effect(marker: dict[str, Any]) -> dict[str, Any]:
    """What the data hold about one marker, with the words rule 6 assigns to it."""
    md, low, high = marker.get("mean_difference"), marker.get("md_ci_low"), marker.get("md_ci_high")
    p = _p_number(marker.get("p_value"))
    parts = []
    if md is not None:
        parts.append(f"mean difference {fmt.value(md)}")
        if low is not None and high is not None:
            parts.append(f"95% CI {fmt.value(low)} to {fmt.value(high)}")
    elif marker.get("difference_of_changes") is not None:
        parts.append(
            f"change {fmt.value(marker['change_treat'])} vs {fmt.value(marker['change_control'])} "
            f"(difference of changes {fmt.value(marker['difference_of_changes'])})"
        )
    if marker.get("p_value") is not None:
        parts.append(f"published P {marker['p_value']}")
    if marker.get("unit") and parts:
        parts.append(str(marker["unit"]))
    if not parts:
        verdict = None
    elif low is not None and high is not None and not marker.get("published_ci_excludes_estimate"):
        verdict = "changed" if (low > 0 or high < 0) else "no_difference"
    elif p is not None:
        verdict = "changed" if p < 0.05 else "no_difference"
    else:
        verdict = None
    return {"numbers": "; ".join(parts), "verdict": verdict}


def marker_sentence(marker: dict[str, Any], settings: dict[str, Any]) -> str:
    """Rule 6."""
    eff = marker_effect(marker)
    name = marker["marker"]
    if not marker.get("include") or not eff["numbers"]:
        return f"{name}: {settings['bottom_line']['not_available']}."
    if eff["verdict"] == "changed":
        return f"{name}: changed with vitamin K2 + D3 versus placebo ({eff['numbers']})."
    if eff["verdict"] == "no_difference":
        return f"{name}: {settings['wording']['no_difference_short']} ({eff['numbers']})."
    return f"{name}: {eff['numbers']} (no between-group test reported)."


def bottom_line(
    analyses: dict[str, dict[str, Any]],
    certainties: dict[str, Certainty],
    markers: list[dict[str, Any]],
    settings: dict[str, Any],
) -> list[str]:
    """The bottom-line paragraph: one rule-made sentence per question of the summary."""
    rules = settings["bottom_line"]
    out: list[str] = []
    benefit = [a for a in rules["benefit_outcomes"] if a in analyses and analyses[a]["overall"]]
    shown = [a for a in benefit if direction(analyses[a]) == "benefit"]
    if benefit and not shown:
        listed = [f"{outcome_name(analyses[a])} ({estimate_text(analyses[a])})" for a in benefit]
        joined = ", ".join(listed[:-1]) + " and " + listed[-1] if len(listed) > 1 else listed[0]
        out.append(
            f"Pooled randomised trials show {settings['wording']['no_clear_benefit']} of "
            f"{settings['intervention']} on fractures: the confidence intervals include no effect "
            f"for {joined}."
        )
    for a in shown:
        out.append(effect_sentence(analyses[a], certainties[a], settings))
    high = rules["high_dose_group"]
    high_benefit = []
    for a in benefit:
        for g in (
            (analyses[a].get("subgroups") or {}).get(rules["dose_subgroup"], {}).get("groups", [])
        ):
            if g["group"] == high and direction(analyses[a], g) == "benefit":
                high_benefit.append(
                    f"{outcome_name(analyses[a])} ({estimate_text(analyses[a], g)})"
                )
    if benefit:
        if high_benefit:
            out.append(
                f"In trials giving {high}, fewer events occurred for "
                + ", ".join(high_benefit)
                + "."
            )
        else:
            out.append(
                f"Trials giving {high} show {settings['wording']['no_clear_benefit']} on any "
                "fracture outcome either."
            )
    for a in rules["harm_outcomes"]:
        if a in analyses and analyses[a]["overall"]:
            out.append(effect_sentence(analyses[a], certainties[a], settings))
            for g in calcium_groups(analyses[a], settings):
                if direction(analyses[a], g) == "harm":
                    out.append(
                        f"With calcium co-administered, {outcome_name(analyses[a])} increased "
                        f"({estimate_text(analyses[a], g)}; {trials(g['k'])})."
                    )
    mgp = [m for m in markers if m.get("marker_group") == "matrix Gla-protein" and m.get("include")]
    chosen = mgp + decision_markers(markers, settings)
    if chosen:
        changed = [
            short_marker(m["marker"]) for m in chosen if marker_effect(m)["verdict"] == "changed"
        ]
        same = [
            short_marker(m["marker"])
            for m in chosen
            if marker_effect(m)["verdict"] == "no_difference"
        ]
        text = "In the AVADEC trial, vitamin K2 + D3 versus placebo"
        if changed:
            text += " changed " + " and ".join(changed)
        if same:
            text += (
                (" but" if changed else "")
                + f" showed {settings['wording']['no_difference_short']} for "
                + " and ".join(same)
            )
        out.append(text + ".")
    return out


def calcium_groups(analysis: dict[str, Any], settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The subgroup where calcium was given with vitamin D (settings ``calcium_*``)."""
    rules = settings["bottom_line"]
    sub = (analysis.get("subgroups") or {}).get(rules["calcium_subgroup"]) or {}
    return [g for g in sub.get("groups", []) if g["group"] == rules["calcium_group"]]


def recommendation(
    analyses: dict[str, dict[str, Any]],
    markers: list[dict[str, Any]],
    settings: dict[str, Any],
) -> list[str]:
    """Rule-made recommendation sentences (the narrative adds the guideline-based ones)."""
    rules = settings["bottom_line"]
    out = []
    benefit = [a for a in rules["benefit_outcomes"] if a in analyses and analyses[a]["overall"]]
    helped = [outcome_name(analyses[a]) for a in benefit if direction(analyses[a]) == "benefit"]
    if benefit and not helped:
        out.append(
            f"Routine {settings['intervention']} supplementation to prevent fractures is not "
            "supported "
            "by these results: no pooled fracture outcome excludes no effect."
        )
    elif helped:
        out.append(
            f"{upper_first(settings['intervention'])} may be considered to prevent "
            + ", ".join(helped)
            + " (see the certainty of the evidence in the Summary of Findings)."
        )
    for a in rules["harm_outcomes"]:
        if a in analyses and analyses[a]["overall"] and direction(analyses[a]) == "harm":
            out.append(
                f"Weigh the increase in {outcome_name(analyses[a])} "
                f"({estimate_text(analyses[a])}) against "
                "any benefit, in particular when calcium is given with vitamin D."
            )
    for a in rules["harm_outcomes"]:
        for g in calcium_groups(analyses.get(a, {}), settings):
            if direction(analyses[a], g) == "harm":
                out.append(
                    "Avoid routine calcium supplements with vitamin D: with calcium "
                    "co-administered, "
                    f"{outcome_name(analyses[a])} increased ({estimate_text(analyses[a], g)})."
                )
    calc = decision_markers(markers, settings)
    verdicts = [marker_effect(m)["verdict"] for m in calc]
    if calc and "changed" not in verdicts:
        out.append(
            "Do not add vitamin K2 expecting less valve or vascular calcification: AVADEC showed "
            f"{settings['wording']['no_difference_short']} in these measures."
        )
    elif calc:
        out.append(
            "AVADEC reported a change in a calcification measure with vitamin K2 + D3; clinical "
            "outcomes were not measured, so this does not yet support routine use."
        )
    return out
