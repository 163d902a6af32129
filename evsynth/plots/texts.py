"""The words and lines the figures print, taken from an analysis's results.

Every word that belongs to a review (arm names, "Favours …", the measure's label, titles of
subgroups and moderators with their units, study labels) is read from the results the analysis
stage wrote (``docs/results.md``); the fallbacks here are generic. Numbers are formatted by
:mod:`evsynth.format`, the formatter the report uses, so a figure and the report agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from evsynth import format as fmt

#: Names of the measures for results that do not give ``measure_label``.
MEASURE_NAMES = {
    "RR": "Risk Ratio",
    "OR": "Odds Ratio",
    "HR": "Hazard Ratio",
    "IRR": "Rate Ratio",
    "RD": "Risk Difference",
    "MD": "Mean Difference",
    "SMD": "Std. Mean Difference",
}

METHOD_NAMES = {
    "REML": "REML",
    "DL": "DerSimonian-Laird",
    "ML": "maximum likelihood",
    "PM": "Paule-Mandel",
    "SJ": "Sidik-Jonkman",
    "HE": "Hedges",
    "EE": "inverse variance",
    "FE": "inverse variance",
    "MH": "Mantel-Haenszel",
    "PETO": "Peto",
}

#: RevMan's short method names for the effect column's header ("IV, Random, 95% CI").
METHOD_HEADERS = {"EE": "IV, Fixed", "FE": "IV, Fixed", "MH": "M-H, Fixed", "PETO": "Peto, Fixed"}

CI_METHOD_NAMES = {
    "z": "Wald (normal)",
    "hksj": "Hartung-Knapp-Sidik-Jonkman",
    "hksj_modified": "modified Hartung-Knapp-Sidik-Jonkman (never narrower than Wald)",
}

#: Arm names when the results give no ``arm_labels``.
DEFAULT_ARMS = ("Intervention", "Control")


def is_ratio(analysis: Mapping[str, Any]) -> bool:
    """True when the analysis is on the log scale (RR, OR, HR, IRR)."""
    return analysis.get("scale") == "log"


def to_display(value: float | None, ratio: bool) -> float:
    """Exponentiate a log-scale value for ratio measures; NaN for missing values."""
    if value is None:
        return math.nan
    return math.exp(value) if ratio else float(value)


def measure_label(analysis: Mapping[str, Any]) -> str:
    """The measure's name as the results give it ("Risk Ratio", "Ratio (RR or HR)")."""
    label = analysis.get("measure_label")
    if label:
        return str(label)
    code = str(analysis.get("measure") or "Effect")
    return MEASURE_NAMES.get(code, code)


def study_measure(study: Mapping[str, Any], analysis: Mapping[str, Any]) -> str:
    """The measure of one study's row: its own ``measure``, else the published measure of a
    generic row, else the analysis's measure."""
    own = study.get("measure") or (
        study.get("effect_measure") if study.get("input") == "generic" else None
    )
    return str(own or analysis.get("measure") or "")


def measures_mix(analysis: Mapping[str, Any]) -> bool:
    """Whether the rows of the analysis carry more than one measure (e.g. RR beside HR)."""
    return len({study_measure(s, analysis) for s in analysis.get("studies", [])}) > 1


def pooled_name(analysis: Mapping[str, Any]) -> str:
    """What a pooled estimate is called in a sentence: the measure ("RR", "MD"), or the
    measure's label where rows mix measures ("Ratio (RR or HR)")."""
    if measures_mix(analysis):
        return measure_label(analysis)
    return str(analysis.get("measure") or measure_label(analysis))


def arm_labels(analysis: Mapping[str, Any]) -> tuple[str, str]:
    """(treatment, control) as the results name them."""
    labels = analysis.get("arm_labels") or DEFAULT_ARMS
    return str(labels[0]), str(labels[1])


def favours_labels(analysis: Mapping[str, Any]) -> tuple[str, str]:
    """("Favours …", "Favours …") under the left and right of the axis, as the results give
    them; without them, from the arm names and ``events_are``."""
    labels = analysis.get("labels") or {}
    if labels.get("left") or labels.get("right"):
        return str(labels.get("left") or ""), str(labels.get("right") or "")
    treat, control = arm_labels(analysis)
    if analysis.get("events_are") == "beneficial":
        return f"Favours {control}", f"Favours {treat}"
    return f"Favours {treat}", f"Favours {control}"


def variable(analysis: Mapping[str, Any], column: str) -> tuple[str, str | None]:
    """(title, unit) of a subgroup, moderator or dose column (``analysis["variables"]``)."""
    entry = (analysis.get("variables") or {}).get(column) or {}
    title = entry.get("title") or column.replace("_", " ")
    return str(title), entry.get("unit") or None


def variable_title(analysis: Mapping[str, Any], column: str) -> str:
    """ "Latitude (degrees)": the variable's title with its unit, for an axis."""
    title, unit = variable(analysis, column)
    return f"{title} ({unit})" if unit else title


def subgroup_title(analysis: Mapping[str, Any], column: str) -> str:
    """The title of a subgroup analysis, as the review wrote it."""
    block = (analysis.get("subgroups") or {}).get(column) or {}
    return str(block.get("title") or variable(analysis, column)[0])


def both_arms(studies: Sequence[Mapping[str, Any]], treat: str, control: str) -> list[Mapping]:
    """The rows that give a number for both arms (``treat`` and ``control`` keys)."""
    return [s for s in studies if s.get(treat) is not None and s.get(control) is not None]


def participants(studies: Sequence[Mapping[str, Any]]) -> tuple[int, int] | None:
    """(treatment, control) participants summed over the rows that give both arms' numbers;
    None when no row does. A row with one arm's number only is left out whole, so the two
    totals count the same trials."""
    rows = both_arms(studies, "n_treat", "n_control")
    if not rows:
        return None
    return int(sum(s["n_treat"] for s in rows)), int(sum(s["n_control"] for s in rows))


def trials(k: int | None) -> str:
    """ "1 trial", "8 trials"."""
    return f"{k} trial{'' if k == 1 else 's'}"


def level_pct(result: Mapping[str, Any], analysis: Mapping[str, Any] | None = None) -> int:
    """The confidence level in percent (95)."""
    level = result.get("level") or (analysis or {}).get("level") or 0.95
    return round(100 * float(level))


def heterogeneity_text(result: Mapping[str, Any]) -> str:
    """RevMan's heterogeneity line for a pooled result (PoolResult fields)."""
    if (result.get("k") or 0) < 2:
        return "Heterogeneity: Not applicable"
    tau2 = fmt.tau2(result.get("tau2"))
    return (
        f"Heterogeneity: Tau² {tau2 if tau2.startswith('<') else '= ' + tau2}; "
        f"Chi² = {fmt.ratio(result.get('q'))}, df = {result.get('q_df')} "
        f"({fmt.p_value(result.get('q_pvalue'))}); I² = {fmt.percent(result.get('i2'))}"
    )


def overall_test_text(result: Mapping[str, Any]) -> str:
    """RevMan's "Test for overall effect" line: Z for Wald CIs, t with df for HKSJ."""
    stat = result.get("statistic")
    value = fmt.ratio(abs(stat) if stat is not None else None)
    p_text = fmt.p_value(result.get("p_value"))
    df = result.get("df")
    if result.get("ci_method", "z") != "z" and df is not None and math.isfinite(df):
        return f"Test for overall effect: t = {value}, df = {round(df)} ({p_text})"
    return f"Test for overall effect: Z = {value} ({p_text})"


def subgroup_difference_text(block: Mapping[str, Any]) -> str:
    """ "Test for subgroup differences: Chi² = …, df = … (P = …), I² = …%" (I² from Q_between,
    Higgins & Thompson 2002: (Q − df) / Q, floored at 0)."""
    q, df = block.get("q_between"), block.get("df")
    i2 = max(0.0, (q - df) / q * 100.0) if q and df is not None and q > 0 else 0.0
    return (
        f"Test for subgroup differences: Chi² = {fmt.ratio(q)}, df = {df} "
        f"({fmt.p_value(block.get('p_value'))}), I² = {fmt.percent(i2)}"
    )


def method_header(analysis: Mapping[str, Any]) -> str:
    """The effect column's header in RevMan's words: "IV, Random, 95% CI"."""
    method = str(analysis.get("method") or "REML").upper()
    return f"{METHOD_HEADERS.get(method, 'IV, Random')}, {level_pct(analysis)}% CI"


def method_text(analysis: Mapping[str, Any]) -> str:
    """ "Random effects (REML), 95% CI by Hartung-Knapp-Sidik-Jonkman"."""
    method = str(analysis.get("method") or "REML")
    name = METHOD_NAMES.get(method.upper(), method)
    if method.upper() in METHOD_HEADERS:
        return f"Fixed effect ({name}), {level_pct(analysis)}% CI"
    ci_method = str(analysis.get("ci_method") or "z")
    ci = CI_METHOD_NAMES.get(ci_method, ci_method)
    return f"Random effects ({name}), {level_pct(analysis)}% CI by {ci}"
