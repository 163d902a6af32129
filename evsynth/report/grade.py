"""GRADE certainty of the evidence and Summary of Findings rows, computed from an analysis.

Randomised trials start at high certainty and are downgraded one level per serious concern
(Guyatt et al. 2011, "GRADE guidelines", J Clin Epidemiol 64:383-415; Schünemann et al.,
Cochrane Handbook ch. 14). The reason for every downgrade is written from the numbers:

- risk of bias: share of the random-effects weight from trials whose ``blinding`` is listed in
  ``grade.risk_of_bias.high_risk_blinding`` (default: open-label) ≥ ``serious_share``;
- inconsistency: I² > ``i2_serious`` %, or the prediction interval crosses no effect while the
  confidence interval does not (Guyatt 2011e, J Clin Epidemiol 64:1294);
- indirectness: judged by reviewers, read from ``grade.indirectness.<analysis id>``;
- imprecision: the CI crosses no effect (1 level) or both decision thresholds of appreciable
  benefit and harm (2 levels), or total events below the optimal information size (1 level,
  Guyatt 2011f, J Clin Epidemiol 64:1283);
- publication bias: Egger's test P < ``egger_p`` with at least ``min_k`` trials (Sterne 2011).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evsynth import format as fmt

SYMBOLS = {4: "⊕⊕⊕⊕", 3: "⊕⊕⊕⊝", 2: "⊕⊕⊝⊝", 1: "⊕⊝⊝⊝"}
START = {"high": 4, "moderate": 3, "low": 2, "very low": 1}


@dataclass(frozen=True)
class Domain:
    """One GRADE domain: how many levels it costs and why (always with the numbers)."""

    name: str
    levels: int
    reason: str


@dataclass(frozen=True)
class Certainty:
    level: int  # 4 high ... 1 very low
    label: str
    symbols: str
    domains: tuple[Domain, ...] = field(default_factory=tuple)

    @property
    def downgrades(self) -> tuple[Domain, ...]:
        return tuple(d for d in self.domains if d.levels > 0)


def null_value(analysis: dict[str, Any]) -> float:
    return 1.0 if analysis.get("scale") == "log" else 0.0


def ci_excludes_null(analysis: dict[str, Any], pooled: dict[str, Any] | None = None) -> bool:
    """Whether the pooled CI (display scale) excludes no effect."""
    pooled = analysis["overall"] if pooled is None else pooled
    low, high = _display(analysis, pooled, "ci_low"), _display(analysis, pooled, "ci_high")
    null = null_value(analysis)
    return bool(low > null or high < null)


def _display(analysis: dict[str, Any], pooled: dict[str, Any], key: str) -> float:
    if analysis.get("scale") == "log":
        return float(pooled[f"{key}_exp"])
    return float(pooled[key])


def total_events(analysis: dict[str, Any]) -> int | None:
    """Events in both arms over the 2×2 trials; None when any trial entered as an estimate."""
    studies = analysis["studies"]
    if not studies or any(s.get("input") != "2x2" for s in studies):
        return None
    return int(sum(s["events_treat"] + s["events_control"] for s in studies))


def participants(analysis: dict[str, Any]) -> int | None:
    studies = analysis["studies"]
    if not studies or any(s.get("n_treat") is None or s.get("n_control") is None for s in studies):
        return None
    return int(sum(s["n_treat"] + s["n_control"] for s in studies))


def risk_of_bias(analysis: dict[str, Any], rules: dict[str, Any]) -> Domain:
    high_risk = set(rules["high_risk_blinding"])
    studies = analysis["studies"]
    weight = sum(s.get("weight_pct") or 0.0 for s in studies)
    risky = [s for s in studies if s.get("blinding") in high_risk]
    share = sum(s.get("weight_pct") or 0.0 for s in risky) / weight if weight else 0.0
    what = "/".join(sorted(high_risk))
    text = (
        f"{fmt.share(share)} of the weight from {what}-label trials "
        f"({len(risky)} of {len(studies)})"
    )
    if share >= rules["serious_share"]:
        return Domain("Risk of bias", 1, f"serious: {text}")
    return Domain("Risk of bias", 0, f"not serious: {text}")


def inconsistency(analysis: dict[str, Any], rules: dict[str, Any]) -> Domain:
    pooled = analysis["overall"]
    k = pooled["k"]
    if k < 2:
        return Domain("Inconsistency", 0, "not assessable: a single trial")
    i2 = pooled["i2"]
    null = null_value(analysis)
    pi_low, pi_high = _display(analysis, pooled, "pi_low"), _display(analysis, pooled, "pi_high")
    pi_crosses = pi_low <= null <= pi_high
    reasons = []
    if i2 > rules["i2_serious"]:
        reasons.append(f"I² = {fmt.percent(i2)} (above {rules['i2_serious']}%)")
    if rules.get("pi_crosses_when_ci_does_not") and pi_crosses and ci_excludes_null(analysis):
        reasons.append(
            f"the 95% prediction interval ({fmt.interval(pi_low, pi_high)}) includes no effect "
            "while the confidence interval does not"
        )
    if reasons:
        return Domain("Inconsistency", 1, "serious: " + "; ".join(reasons))
    return Domain("Inconsistency", 0, f"not serious: I² = {fmt.percent(i2)}")


def indirectness(analysis: dict[str, Any], rules: dict[str, Any]) -> Domain:
    judged = (rules or {}).get(analysis["id"])
    if not judged:
        return Domain("Indirectness", 0, "not judged by reviewers (no downgrade)")
    return Domain("Indirectness", int(judged.get("levels", 0)), str(judged["reason"]))


def imprecision(analysis: dict[str, Any], rules: dict[str, Any]) -> Domain:
    pooled = analysis["overall"]
    low, high = _display(analysis, pooled, "ci_low"), _display(analysis, pooled, "ci_high")
    null = null_value(analysis)
    ci = fmt.interval(low, high)
    events = total_events(analysis)
    benefit, harm = rules["appreciable_benefit"], rules["appreciable_harm"]
    if analysis.get("scale") == "log" and low < benefit and high > harm:
        return Domain(
            "Imprecision",
            2,
            f"very serious: the 95% CI ({ci}) includes appreciable benefit "
            f"(RR < {fmt.ratio(benefit)}) "
            f"and appreciable harm (RR > {fmt.ratio(harm)})",
        )
    reasons = []
    if low <= null <= high:
        reasons.append(f"the 95% CI ({ci}) includes no effect")
    ois = rules["optimal_information_size"]
    if events is not None and events < ois:
        reasons.append(
            f"{fmt.count(events)} events, fewer than the optimal information size of "
            f"{fmt.count(ois)}"
        )
    if reasons:
        return Domain("Imprecision", 1, "serious: " + "; ".join(reasons))
    ev = f"; {fmt.count(events)} events" if events is not None else ""
    return Domain("Imprecision", 0, f"not serious: 95% CI {ci} excludes no effect{ev}")


def publication_bias(analysis: dict[str, Any], rules: dict[str, Any]) -> Domain:
    k = analysis["overall"]["k"]
    egger = analysis.get("egger")
    if k < rules["min_k"] or not egger:
        return Domain(
            "Publication bias",
            0,
            f"not assessable: {k} trials (Egger's test needs ≥ {rules['min_k']})",
        )
    p = egger["p_value"]
    if p < rules["egger_p"]:
        return Domain("Publication bias", 1, f"suspected: Egger's test {fmt.p_value(p)}")
    return Domain("Publication bias", 0, f"not detected: Egger's test {fmt.p_value(p)}")


def certainty(analysis: dict[str, Any], settings: dict[str, Any]) -> Certainty:
    """GRADE certainty of one pooled analysis (RCTs start at ``grade.start``)."""
    rules = settings["grade"]
    domains = (
        risk_of_bias(analysis, rules["risk_of_bias"]),
        inconsistency(analysis, rules["inconsistency"]),
        indirectness(analysis, rules.get("indirectness") or {}),
        imprecision(analysis, rules["imprecision"]),
        publication_bias(analysis, rules["publication_bias"]),
    )
    level = max(1, START[rules["start"]] - sum(d.levels for d in domains))
    labels = {int(k): v for k, v in rules["labels"].items()}
    return Certainty(level, labels[level], SYMBOLS[level], domains)


@dataclass(frozen=True)
class SofRow:
    """One row of the Summary of Findings table (all values already formatted)."""

    analysis_id: str
    outcome: str
    control_per_1000: str
    treat_per_1000: str
    treat_per_1000_ci: str
    relative: str
    participants: str
    studies: str
    certainty: Certainty
    statement: str
    control_risk_source: str


def sof_row(analysis: dict[str, Any], cert: Certainty, statement: str) -> SofRow:
    pooled, absolute = analysis["overall"], analysis.get("absolute") or {}
    low, high = absolute.get("per_1000_treat_ci") or [None, None]
    measure = analysis["measure"]
    ci = fmt.interval(pooled["ci_low_exp"], pooled["ci_high_exp"])
    relative = f"{measure} {fmt.ratio(pooled['estimate_exp'])} ({ci})"
    return SofRow(
        analysis_id=analysis["id"],
        outcome=analysis["title"],
        control_per_1000=fmt.per_1000(absolute.get("per_1000_control")),
        treat_per_1000=fmt.per_1000(absolute.get("per_1000_treat")),
        treat_per_1000_ci=fmt.interval(low, high, 0),
        relative=relative,
        participants=fmt.count(participants(analysis)),
        studies=fmt.count(pooled["k"]),
        certainty=cert,
        statement=statement,
        control_risk_source=str(absolute.get("control_risk_source", "")),
    )
