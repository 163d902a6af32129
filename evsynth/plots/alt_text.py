"""Alt text: one or two sentences per figure stating its result, from the analysis's numbers.

Numbers and P values are formatted by :mod:`evsynth.format`, as in the report, so the alt
text, the figure and the report never disagree. Titles are used as the review wrote them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from evsynth import format as fmt
from evsynth.plots.bubble import slope_p
from evsynth.plots.funnel import min_k_egger
from evsynth.plots.texts import (
    is_ratio,
    level_pct,
    participants,
    pooled_name,
    subgroup_title,
    to_display,
    trials,
    variable,
)

KINDS = ("forest", "loo", "leave_one_out", "cumulative", "funnel", "bubble", "dose_response")


def _estimate(analysis: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    """ "RR 0.93 (95% CI 0.81 to 1.07), I² 12%"."""
    ratio = is_ratio(analysis)
    est = to_display(result.get("estimate"), ratio)
    low, high = to_display(result.get("ci_low"), ratio), to_display(result.get("ci_high"), ratio)
    text = (
        f"{pooled_name(analysis)} {fmt.ratio(est)} "
        f"({level_pct(result, analysis)}% CI {fmt.interval(low, high)})"
    )
    if result.get("i2") is not None and (result.get("k") or 0) >= 2:
        text += f", I² {fmt.percent(result['i2'])}"
    return text


def _pooled(analysis: Mapping[str, Any]) -> str:
    overall = analysis.get("overall") or {}
    return f"pooled {_estimate(analysis, overall)}" if overall else "no pooled estimate"


def _counts(studies: Sequence[Mapping[str, Any]]) -> str:
    """ "8 trials, 44,000 participants"; rows of one trial (several comparisons) are counted
    as comparisons of that trial; participants only where both arms give a number."""
    k = len(studies)
    n_trials = len({s.get("trial") or s.get("study_id") or i for i, s in enumerate(studies)})
    text = trials(k) if n_trials == k else f"{k} comparisons from {trials(n_trials)}"
    totals = participants(studies)
    if totals is None:
        return text
    n = fmt.count(sum(totals))
    counted = sum(
        1 for s in studies if s.get("n_treat") is not None and s.get("n_control") is not None
    )
    if counted == k:
        return f"{text}, {n} participants"
    return f"{text}; {n} participants in the {counted} that give both arms' numbers"


def _title(analysis: Mapping[str, Any]) -> str:
    return str(analysis.get("title") or analysis.get("id", ""))


def _forest(analysis: Mapping[str, Any], subgroup: str | None) -> str:
    title = _title(analysis)
    if subgroup is None:
        return f"Forest plot, {title}: {_counts(analysis.get('studies', []))}; {_pooled(analysis)}."
    block = analysis["subgroups"][subgroup]
    parts = [
        f"{g.get('group')}: {_estimate(analysis, g)} ({trials(g.get('k'))})"
        for g in block.get("groups", [])
    ]
    test = f"; test for subgroup differences {fmt.p_value(block.get('p_value'))}"
    by = subgroup_title(analysis, subgroup)
    return f"Forest plot, {title}, by {by}: " + "; ".join(parts) + f"{test}."


def _sensitivity(analysis: Mapping[str, Any], key: str) -> str:
    ratio = is_ratio(analysis)
    entries = analysis.get(key) or []
    values = [to_display(e.get("estimate"), ratio) for e in entries]
    values = [v for v in values if math.isfinite(v)]
    name, title = pooled_name(analysis), _title(analysis)
    k = len(analysis.get("studies", []))
    if not values:
        spread = "no estimates"
    elif key == "leave_one_out":
        spread = (
            f"omitting one study at a time, the pooled {name} ranges from "
            f"{fmt.ratio(min(values))} to {fmt.ratio(max(values))}"
        )
    else:
        spread = (
            f"adding studies in order, the pooled {name} moves from {fmt.ratio(values[0])} "
            f"(first study) to {fmt.ratio(values[-1])} (all {k})"
        )
    what = "Leave-one-out plot" if key == "leave_one_out" else "Cumulative meta-analysis plot"
    return f"{what}, {title}: {spread}; with all {trials(k)}, {_pooled(analysis)}."


def _funnel(analysis: Mapping[str, Any]) -> str:
    k = len(analysis.get("studies", []))
    egger = analysis.get("egger") or {}
    least = min_k_egger(analysis)
    if k < least:
        test = f"Egger's test not reported (fewer than {least} trials)"
    elif egger.get("p_value") is not None:
        test = f"Egger's test {fmt.p_value(egger['p_value'])}"
    else:
        test = "Egger's test not available"
    return (
        f"Funnel plot, {_title(analysis)}: {trials(k)} plotted by effect and standard error "
        f"around the {_pooled(analysis)}; {test}."
    )


def _per_step(analysis: Mapping[str, Any], moderator: str) -> tuple[float, str]:
    """A round step of the moderator to state a slope by ("per 1,000 mg/day", "per 10
    degrees"): the power of ten below the range of its values."""
    values = [
        float(s[moderator])
        for s in analysis.get("studies", [])
        if isinstance(s.get(moderator), int | float)
    ]
    span = (max(values) - min(values)) if values else 0.0
    step = 10.0 ** math.floor(math.log10(span)) if span > 0 else 1.0
    title, unit = variable(analysis, moderator)
    return step, f"per {fmt.value(step)} {unit}" if unit else f"per {fmt.value(step)} of {title}"


def _bubble(analysis: Mapping[str, Any], moderator: str | None) -> str:
    fits = analysis.get("meta_regression") or {}
    if moderator is None:
        moderator = sorted(fits)[0]
    fit = fits[moderator]
    step, per = _per_step(analysis, moderator)
    name = pooled_name(analysis)
    change = fit["coef"][1] * step
    ci = [None if c is None else c[1] * step for c in (fit.get("ci_low"), fit.get("ci_high"))]
    level = level_pct(fit, analysis)
    if is_ratio(analysis):
        bounds = [math.exp(v) if v is not None else None for v in ci]
        slope = f"the {name} changes by a factor of {fmt.ratio(math.exp(change))}"
    else:
        bounds = ci
        slope = f"the {name} changes by {fmt.ratio(change)}"
    if None not in bounds:
        slope += f" ({level}% CI {fmt.interval(bounds[0], bounds[1])})"
    p = slope_p(fit)
    p_text = f" ({fmt.p_value(p)})" if p is not None else ""
    title = variable(analysis, moderator)[0]
    k = fit.get("k", len(analysis.get("studies", [])))
    return (
        f"Bubble plot, {_title(analysis)}: effects of {trials(k)} against {title}; in the "
        f"meta-regression {slope} {per}{p_text}."
    )


def _dose_response(analysis: Mapping[str, Any]) -> str:
    model = analysis.get("dose_response") or {}
    title = variable(analysis, str(model.get("variable", "dose")))[0]
    k = len(model.get("points") or [])
    text = (
        f"Dose-response plot, {_title(analysis)}: {model.get('model', 'fitted')} model of the "
        f"{pooled_name(analysis)} against {title}, {trials(k)}."
    )
    sentence = str(model.get("sentence") or "").strip()
    return f"{text} {sentence}" if sentence else text


def alt_text(
    analysis: Mapping[str, Any],
    kind: str = "forest",
    subgroup: str | None = None,
    moderator: str | None = None,
) -> str:
    """The alt text of one figure of ``analysis``, stating its result.

    ``kind``: one of :data:`KINDS` (``subgroup`` for a subgroup forest plot, ``moderator`` for
    a bubble plot). Example: "Forest plot, Tuberculosis: 13 trials, 357,347 participants;
    pooled RR 0.49 (95% CI 0.34 to 0.70), I² 92%."
    """
    if kind == "forest":
        return _forest(analysis, subgroup)
    if kind in ("loo", "leave_one_out", "cumulative"):
        return _sensitivity(analysis, "cumulative" if kind == "cumulative" else "leave_one_out")
    if kind == "funnel":
        return _funnel(analysis)
    if kind == "bubble":
        return _bubble(analysis, moderator)
    if kind == "dose_response":
        return _dose_response(analysis)
    raise ValueError(f"unknown figure kind {kind!r}; use one of {', '.join(KINDS)}")
