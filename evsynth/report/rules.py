"""Rules that turn results into sentences, with every word from the review.

Each function reads numbers from an analysis and chooses its words by an explicit rule; the
words live in the review's ``config/report.yaml`` (``wording``, ``bottom_line``,
``recommendation``) and ``config/config.yaml`` (``review.intervention``/``control``, titles).

1. Direction (:func:`direction`): the pooled CI excludes no effect (1 for ratios, 0 for
   differences) → "benefit" or "harm" by ``higher_is`` and the side of the estimate;
   otherwise "no_difference".
2. Statement (:func:`effect_statement`): GRADE plain-language wording by direction and
   certainty (Santesso et al. 2020, J Clin Epidemiol 119:126).
3. Subgroups (:func:`subgroup_sentence`): test for subgroup differences P < ``subgroup_alpha``
   → "the effect differs by …"; otherwise "no evidence of a difference between …".
4. Meta-regression (:func:`regression_sentence`): slope P < ``alpha`` → the direction of the
   change per the variable's ``per`` units; otherwise "no evidence that the effect changes".
5. Harm or benefit of one trial (:func:`nnt_sentence`): NNT/NNH with Altman's CI (Altman 1998,
   BMJ 317:1309) and time frame, labelled as one trial's figure.
6. Markers (:func:`marker_effect`): a published between-group CI (or P) that excludes no
   effect → "changed" (raised or lowered); otherwise "no evidence of a difference".
7. Dose–response (:func:`dose_response_sentence`): the one-stage model's RR per ``per`` units
   of dose (linear), or its test of departure from linearity.
8. Conclusion rules (:func:`apply_rules`): the review's ``bottom_line`` and
   ``recommendation`` rules, each over its analyses (or one subgroup of each) or a marker set.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from scipy import special

from evsynth import format as fmt
from evsynth.report.grade import Certainty


def _display(analysis: Mapping[str, Any], pooled: Mapping[str, Any], key: str) -> float:
    suffix = "_exp" if analysis.get("scale") == "log" else ""
    return float(pooled[key + suffix])


def null_value(analysis: Mapping[str, Any]) -> float:
    return 1.0 if analysis.get("scale") == "log" else 0.0


def direction(analysis: Mapping[str, Any], pooled: Mapping[str, Any] | None = None) -> str:
    """ "benefit", "harm" or "no_difference" (rule 1)."""
    pooled = analysis["overall"] if pooled is None else pooled
    if pooled is None:
        return "not_estimable"
    null = null_value(analysis)
    low, high = _display(analysis, pooled, "ci_low"), _display(analysis, pooled, "ci_high")
    if low <= null <= high:
        return "no_difference"
    lower = float(pooled["estimate"]) < 0
    worse = analysis.get("higher_is", "worse") == "worse"
    return "benefit" if lower == worse else "harm"


def lower_first(title: str) -> str:
    """ "Length of stay" -> "length of stay"; acronyms ("LOS", "HbA1c") stay as they are."""
    return title[0].lower() + title[1:] if title[:2] != title[:2].upper() else title


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def outcome_name(analysis: Mapping[str, Any]) -> str:
    return lower_first(analysis["title"])


def trials(pooled: Mapping[str, Any]) -> str:
    """ "1 trial", "7 trials (8 comparisons)" — trials, not comparisons, are counted."""
    k = int(pooled.get("trials", pooled.get("k", 0)))
    text = f"{fmt.count(k)} trial" + ("" if k == 1 else "s")
    comparisons = pooled.get("comparisons")
    if comparisons and comparisons != k:
        text += f" ({fmt.count(comparisons)} comparisons)"
    return text


def measure_code(analysis: Mapping[str, Any]) -> str:
    """The measure named in sentences: "RR"; "RR/HR" when measures mix."""
    measures = analysis.get("measures") or [analysis["measure"]]
    return "/".join(str(m) for m in measures)


def estimate_text(analysis: Mapping[str, Any], pooled: Mapping[str, Any] | None = None) -> str:
    """ "RR 0.89, 95% CI 0.76 to 1.06" from a pooled result."""
    pooled = analysis["overall"] if pooled is None else pooled
    level = fmt.level(analysis.get("level", 0.95))
    estimate, ci = _estimate_and_ci(analysis, pooled)
    return f"{measure_code(analysis)} {estimate}, {level} CI {ci}"


def relative_text(analysis: Mapping[str, Any], pooled: Mapping[str, Any]) -> str:
    """ "RR 0.89 (0.76 to 1.06)": the Summary of Findings' relative effect."""
    estimate, ci = _estimate_and_ci(analysis, pooled)
    return f"{measure_code(analysis)} {estimate} ({ci})"


def _estimate_and_ci(analysis: Mapping[str, Any], pooled: Mapping[str, Any]) -> tuple[str, str]:
    decimals = 3 if analysis["measure"] == "RD" else 2
    low, high = _display(analysis, pooled, "ci_low"), _display(analysis, pooled, "ci_high")
    return (
        fmt.ratio(_display(analysis, pooled, "estimate"), decimals),
        fmt.interval(low, high, decimals),
    )


def words(review: Mapping[str, Any], analysis: Mapping[str, Any] | None = None) -> dict[str, str]:
    out = {"intervention": review["intervention"], "control": review["control"]}
    if analysis is not None:
        out.update(outcome=outcome_name(analysis), Outcome=upper_first(outcome_name(analysis)))
    return out


def effect_statement(
    analysis: Mapping[str, Any],
    cert: Certainty,
    settings: Mapping[str, Any],
    review: Mapping[str, Any],
) -> str:
    """GRADE plain-language statement (rules 1 and 2), first letter capitalised."""
    template = settings["wording"][direction(analysis)][cert.label]
    return upper_first(template.format(**words(review, analysis)))


def effect_sentence(
    analysis: Mapping[str, Any],
    cert: Certainty,
    settings: Mapping[str, Any],
    review: Mapping[str, Any],
) -> str:
    return (
        f"{effect_statement(analysis, cert, settings, review)} ({estimate_text(analysis)}; "
        f"{trials(analysis['overall'])}; {cert.label} certainty)."
    )


def subgroup_test(sub: Mapping[str, Any]) -> str:
    """RevMan's test for subgroup differences: "Chi² = 2.87, df = 1, P = 0.09"."""
    if sub.get("p_value") is None:
        return sub.get("note") or "not estimable"
    return f"Chi² = {fmt.ratio(sub['q_between'])}, df = {sub['df']}, {fmt.p_value(sub['p_value'])}"


def subgroup_sentence(
    analysis: Mapping[str, Any], key: str, settings: Mapping[str, Any]
) -> str | None:
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
    analysis: Mapping[str, Any],
    group: Mapping[str, Any],
    settings: Mapping[str, Any],
    review: Mapping[str, Any],
) -> str:
    """The effect within one subgroup: fewer/more events or no clear difference (rule 1)."""
    d = direction(analysis, group)
    fewer = (
        "fewer events"
        if analysis.get("scale") == "log" or analysis["measure"] == "RD"
        else "lower values"
    )
    more = "more events" if fewer == "fewer events" else "higher values"
    text = {
        "benefit": f"{fewer if analysis.get('higher_is') == 'worse' else more} with "
        f"{review['intervention']}",
        "harm": f"{more if analysis.get('higher_is') == 'worse' else fewer} with "
        f"{review['intervention']}",
        "no_difference": settings["wording"]["no_difference_short"],
    }[d]
    return f"{group['group']}: {text} ({estimate_text(analysis, group)}; {trials(group)})."


def regression_sentence(
    analysis: Mapping[str, Any], reg: Mapping[str, Any], settings: Mapping[str, Any]
) -> str:
    """Rule 4: a meta-regression in words; the slope per the variable's ``per`` units."""
    title = lower_first(reg.get("title") or reg["variable"])
    if reg.get("note") or not reg.get("coef"):
        return f"Meta-regression on {title}: {reg.get('note') or 'not estimable'}."
    if reg.get("categorical"):
        stats = f"{fmt.p_value(reg['qm_pvalue'])}; {fmt.count(reg['k'])} trials"
        changes = reg["qm_pvalue"] < settings["alpha"]
        verb = "differs" if changes else "does not clearly differ"
        return f"The effect on {outcome_name(analysis)} {verb} by {title} ({stats})."
    per = float(reg.get("per") or 1)
    unit = f" {reg['unit']}" if reg.get("unit") else ""
    i = 1
    coef, low, high, p = (reg[k][i] for k in ("coef", "ci_low", "ci_high", "p_value"))
    level = fmt.level(analysis.get("level", 0.95))
    if analysis.get("scale") == "log":
        shown = (
            f"the {measure_code(analysis)} changes by a factor of "
            f"{fmt.ratio(math.exp(per * coef))} per {fmt.number(per)}{unit} ({level} CI "
            f"{fmt.interval(math.exp(per * low), math.exp(per * high))})"
        )
    else:
        shown = (
            f"change per {fmt.number(per)}{unit} {fmt.ratio(per * coef)} ({level} CI "
            f"{fmt.interval(per * low, per * high)})"
        )
    stats = f"{shown}; {fmt.p_value(p)}; {fmt.count(reg['k'])} trials"
    if p < settings["alpha"]:
        better = (coef < 0) == (analysis.get("higher_is", "worse") == "worse")
        trend = "a more favourable effect" if better else "a less favourable effect"
        return f"Higher {title} goes with {trend} on {outcome_name(analysis)} ({stats})."
    return (
        f"No evidence that the effect on {outcome_name(analysis)} changes with {title} ({stats})."
    )


def nnt_sentence(nnt: Mapping[str, Any] | None, outcome: str, who: str, unit: str) -> str | None:
    """Rule 5: one trial's NNTH/NNTB with Altman's CI convention and its time frame."""
    if not nnt:
        return None
    years = nnt.get("follow_up_years")
    frame = f"over {fmt.years(years)} {unit}".rstrip() if years else "over the trial's follow-up"
    risks = (
        f"{fmt.per_1000(1000 * nnt['treat_risk'])} vs "
        f"{fmt.per_1000(1000 * nnt['control_risk'])} per 1,000"
    )
    numbers = f"{nnt['label']}, 95% CI {nnt['ci_label']}; {risks}"
    if nnt["direction"] == "harm" and nnt["rd_ci_low"] > 0:
        return (
            f"In {who}, {frame}, one additional person had {outcome} for every "
            f"{fmt.count(nnt['rounded'])} treated ({numbers}; one trial's figure)."
        )
    if nnt["direction"] == "benefit" and nnt["rd_ci_high"] < 0:
        return (
            f"In {who}, {frame}, one person fewer had {outcome} for every "
            f"{fmt.count(nnt['rounded'])} treated ({numbers}; one trial's figure)."
        )
    return f"In {who}, {frame}, no clear difference in {outcome} ({numbers}; one trial's figure)."


_P_BELOW = re.compile(r"^\s*<\s*([0-9.]+)\s*$")


def _p_number(p: Any) -> float | None:
    if p is None:
        return None
    m = _P_BELOW.match(str(p))
    try:
        return float(m.group(1)) if m else float(p)
    except ValueError:
        return None


def marker_effect(marker: Mapping[str, Any]) -> dict[str, Any]:
    """What the data hold about one marker: its numbers, the verdict of rule 6 ("changed",
    "no_difference" or None) and, when changed, the direction ("raised" / "lowered")."""
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
    verdict = None
    if parts:
        if (
            low is not None
            and high is not None
            and not marker.get("published_ci_excludes_estimate")
        ):
            verdict = "changed" if (low > 0 or high < 0) else "no_difference"
        elif p is not None:
            verdict = "changed" if p < 0.05 else "no_difference"
    shift = (
        md
        if md is not None and not marker.get("published_ci_excludes_estimate")
        else marker.get("difference_of_changes")
    )
    way = None if verdict != "changed" or shift is None else ("raised" if shift > 0 else "lowered")
    return {"numbers": "; ".join(parts), "verdict": verdict, "direction": way}


def dose_response_sentence(analysis: Mapping[str, Any], settings: Mapping[str, Any]) -> str | None:
    """Rule 7: the one-stage dose–response model in words: the RR per ``per`` units of dose
    (linear model) or the test of departure from linearity (quadratic, spline)."""
    dr = analysis.get("dose_response")
    if not dr:
        return None
    title = lower_first(dr.get("title") or dr["variable"])
    where = "; ".join(f"{v}" for v in (dr.get("where") or {}).values())
    scope = f"{fmt.count(dr.get('k', 0))} trials with counts" + (f", {where}" if where else "")
    if dr.get("note"):
        return f"Dose–response model on {title}: {dr['note']}."
    if dr["model"] != "linear":
        p = dr.get("nonlinear_pvalue")
        shape = (
            "departs from a straight line"
            if p is not None and p < settings["alpha"]
            else "shows no clear departure from a straight line"
        )
        return (
            f"In the {dr['model']} dose–response model ({scope}), the effect on "
            f"{outcome_name(analysis)} {shape} ({fmt.p_value(p)})."
        )
    per = float(dr.get("per") or 1)
    unit = f" {dr['unit']}" if dr.get("unit") else ""
    coef, se = dr["coef"][0], dr["se"][0]
    # the normal quantile and tail as scipy.stats.norm computes them (ndtri, ndtr), without
    # importing scipy.stats (0.6 s per report)
    z = float(special.ndtri(0.5 + analysis.get("level", 0.95) / 2))
    p = float(2 * special.ndtr(-abs(coef / se)))
    ratio = fmt.ratio(math.exp(per * coef))
    ci = fmt.interval(math.exp(per * (coef - z * se)), math.exp(per * (coef + z * se)))
    numbers = (
        f"RR {ratio} per {fmt.number(per)}{unit} ({fmt.level(analysis.get('level', 0.95))}"
        f" CI {ci}); {fmt.p_value(p)}; {scope}"
    )
    caveat = (
        "; the model sets no effect at dose 0, and where each trial tests one dose against "
        "control the slope compares trials, not doses within a trial"
    )
    if p < settings["alpha"]:
        better = (coef < 0) == (analysis.get("higher_is", "worse") == "worse")
        trend = "a more favourable effect" if better else "a less favourable effect"
        return (
            f"In the dose–response model, higher {title} goes with {trend} on "
            f"{outcome_name(analysis)} ({numbers}{caveat})."
        )
    return (
        f"The dose–response model shows no clear change in the effect on "
        f"{outcome_name(analysis)} with {title} ({numbers})."
    )
