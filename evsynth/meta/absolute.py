"""Absolute effects: risk difference, number needed to treat or harm, events per 1000.

* From one trial's 2×2 table: RD = a/n1 − c/n2 with its Wald CI (variance as metafor's
  ``escalc(measure="RD")``), NNT = 1/|RD|.
* From a pooled relative effect applied to an assumed control risk (ACR), as GRADE's Summary of
  Findings tables do (Cochrane Handbook §15.4.4): RR → risk = ACR·RR; OR → risk =
  OR·ACR/(1 − ACR + OR·ACR); the CI by applying the same formula to the CI bounds.
* Altman's convention (Altman 1998, BMJ 317:1309): "NNTB" when the intervention lowers the
  risk of a harmful event, "NNTH" when it raises it; a CI of the RD that includes 0 becomes
  "NNTB x to ∞ to NNTH y". NNTB is rounded up and NNTH down to whole numbers, each the
  conservative direction (Cochrane Handbook §15.4.3): 449/18,176 events with the intervention
  vs 381/18,106 with control, RD 0.366%, give NNTH 273.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from scipy import special

from evsynth.errors import AnalysisInputError
from evsynth.meta.effects import binary_effects


@dataclass(frozen=True)
class NNTResult:
    """Risk difference (intervention − control) and the NNT/NNH derived from it.

    ``risk_difference``, ``rd_ci_low``, ``rd_ci_high``: RD and its CI (positive = more events
    with the intervention); ``control_risk``, ``treat_risk``: the two risks; ``nnt``: 1/|RD|
    unrounded, signed > 0 for benefit (NNTB) and < 0 for harm (NNTH), ∞ when RD = 0;
    ``direction``: "benefit", "harm" or "none" (``events_are`` decides which sign is a
    benefit); ``rounded``: NNTB rounded up or NNTH rounded down (None when RD = 0);
    ``label``: e.g. "NNTH 273"; ``ci_label``: "NNTH 148 to NNTH 1,712", or "NNTB 10 to ∞ to
    NNTH 14" when the CI of the RD includes 0 (Altman 1998); ``level``: CI level."""

    risk_difference: float
    rd_ci_low: float
    rd_ci_high: float
    control_risk: float
    treat_risk: float
    nnt: float  # signed: > 0 benefit (NNTB), < 0 harm (NNTH); unrounded
    direction: str
    rounded: int | None
    label: str
    ci_label: str
    level: float


def per_1000(risk: float) -> float:
    """Events per 1000 people: the unit of GRADE's Summary of Findings tables."""
    return 1000.0 * risk


def _direction(rd: float, events_are: str) -> str:
    if rd == 0:
        return "none"
    fewer = rd < 0
    good = fewer if events_are == "harmful" else not fewer
    return "benefit" if good else "harm"


def _nnt_text(rd: float, events_are: str) -> str:
    """One NNT bound in Altman's notation: NNTB rounded up, NNTH rounded down."""
    if rd == 0:
        return "∞"
    kind = _direction(rd, events_are)
    value = 1 / abs(rd)
    whole = math.ceil(value - 1e-9) if kind == "benefit" else max(1, math.floor(value + 1e-9))
    return f"{'NNTB' if kind == 'benefit' else 'NNTH'} {whole:,}"


def _build(
    rd: float,
    low: float,
    high: float,
    control_risk: float,
    events_are: str,
    level: float,
) -> NNTResult:
    if events_are not in ("harmful", "beneficial"):
        raise AnalysisInputError(f"events_are {events_are!r} is not harmful or beneficial")
    direction = _direction(rd, events_are)
    label = _nnt_text(rd, events_are)
    rounded = None if rd == 0 else int(label.split()[-1].replace(",", ""))
    low_text, high_text = _nnt_text(low, events_are), _nnt_text(high, events_are)
    if low < 0 < high:
        # The CI of the RD includes no effect: the NNT interval runs through infinity.
        ends = sorted((low_text, high_text), key=lambda t: not t.startswith("NNTB"))
        ci_label = f"{ends[0]} to ∞ to {ends[1]}"
    else:
        ci_label = f"{high_text} to {low_text}" if rd > 0 else f"{low_text} to {high_text}"
        if low_text == high_text:
            ci_label = low_text
    return NNTResult(
        risk_difference=rd,
        rd_ci_low=low,
        rd_ci_high=high,
        control_risk=control_risk,
        treat_risk=control_risk + rd,
        nnt=math.inf if rd == 0 else (-1 / rd if events_are == "harmful" else 1 / rd),
        direction=direction,
        rounded=rounded,
        label=label,
        ci_label=ci_label,
        level=level,
    )


class RiskDifference(NamedTuple):
    """RD (intervention − control), its Wald CI and standard error."""

    estimate: float
    ci_low: float
    ci_high: float
    se: float


def risk_difference(
    ai: float, n1i: float, ci: float, n2i: float, level: float = 0.95
) -> RiskDifference:
    """RD = ai/n1i − ci/n2i with its Wald CI RD ± z·SE, no continuity correction, and
    Var(RD) = p₁(1 − p₁)/n1i + p₂(1 − p₂)/n2i (metafor ``escalc(measure="RD")``)."""
    if not 0 < level < 1:
        raise AnalysisInputError(f"level {level!r} must lie between 0 and 1")
    yi, vi = binary_effects([ai], [n1i], [ci], [n2i], "RD", to="none")
    z = special.ndtri(0.5 + level / 2)  # scipy.stats.norm.ppf
    se = math.sqrt(vi[0])
    return RiskDifference(float(yi[0]), float(yi[0] - z * se), float(yi[0] + z * se), se)


def nnt_from_counts(
    ai: float,
    n1i: float,
    ci: float,
    n2i: float,
    level: float = 0.95,
    *,
    events_are: str = "harmful",
) -> NNTResult:
    """NNT or NNH of one trial from its 2×2 table (events ``ai``/``ci`` of ``n1i``/``n2i``):
    1/|RD| with the Wald CI of :func:`risk_difference`, bounds inverted (Altman 1998).
    ``events_are="harmful"`` (default; e.g. deaths): fewer events with the intervention
    is a benefit (NNTB); ``"beneficial"``: more events is a benefit."""
    rd, low, high, _ = risk_difference(ai, n1i, ci, n2i, level)
    return _build(rd, low, high, ci / n2i, events_are, level)


def risk_at(ratio: float, control_risk: float, measure: str = "RR") -> float:
    """Intervention risk implied by a relative effect at ``control_risk``: RR × ACR;
    OR·ACR/(1 − ACR + OR·ACR); for a hazard ratio 1 − (1 − ACR)^HR (proportional hazards
    over the same follow-up; GRADEpro's formula, Skoetz et al. 2020, J Clin Epidemiol
    118:124)."""
    if measure == "RR":
        return control_risk * ratio
    if measure == "OR":
        return ratio * control_risk / (1 - control_risk + ratio * control_risk)
    if measure == "HR":
        return 1 - (1 - control_risk) ** ratio
    raise AnalysisInputError(f"measure {measure!r} is not RR, OR or HR")


def nnt_from_ratio(
    ratio: float,
    ci_low: float,
    ci_high: float,
    control_risk: float,
    measure: str = "RR",
    *,
    events_are: str = "harmful",
    level: float = 0.95,
) -> NNTResult:
    """NNT or NNH of a pooled RR or OR (natural scale, with its CI) applied to an assumed
    control risk ACR (Cochrane Handbook §15.4.4): RD = ACR·(RR − 1), or for OR
    RD = OR·ACR/(1 − ACR + OR·ACR) − ACR; the CI of the RD from the ratio's CI bounds."""
    if not 0 < control_risk < 1:
        raise AnalysisInputError(f"control risk {control_risk} must lie strictly between 0 and 1")
    if not (0 < ci_low <= ratio <= ci_high):  # a relative effect: RR, OR or HR
        raise AnalysisInputError(
            "the ratio and its CI must be positive with ci_low <= ratio <= ci_high"
        )
    rd = risk_at(ratio, control_risk, measure) - control_risk
    low = risk_at(ci_low, control_risk, measure) - control_risk
    high = risk_at(ci_high, control_risk, measure) - control_risk
    return _build(rd, low, high, control_risk, events_are, level)
