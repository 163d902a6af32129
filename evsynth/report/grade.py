"""GRADE certainty of the evidence for one outcome, as pure functions over typed inputs.

Randomised trials start at high certainty (``start``) and lose a level for each serious
concern, two for a very serious one, never below very low (Core GRADE 1, Guyatt et al.,
BMJ 2025;389:e081903; Cochrane Handbook ch. 14). Each of the five domains is a
function of :class:`GradeInputs` and the reviewer's :class:`GradeSettings`, and returns a
:class:`Domain` whose ``reason`` and ``footnote`` carry the numbers behind the judgement.
``docs/methods/grade.md`` states every rule with its source; in short:

* **Risk of bias** (:func:`risk_of_bias`) — Core GRADE 4 (Guyatt et al., BMJ
  2025;389:e083864): classify each trial, then weigh the trials by their share of the
  meta-analytic weight. GRADE guidelines 4 (Guyatt et al., J Clin Epidemiol 2011;64:407-415;
  as summarised in KCE process book §5.2.2) asks for "substantial risk of bias across most of
  the body of available evidence" before rating down:
  serious when trials at high risk of bias carry at least ``serious_high_share`` (default
  0.5) of the weight. A trial's judgement is its RoB 2 overall judgement, never milder than
  its worst domain (Sterne et al., BMJ 2019;366:l4898); attrition above
  ``attrition_concerns`` counts as at least "some concerns".
* **Inconsistency** (:func:`inconsistency`) — Core GRADE 3 (Guyatt & Eachempati et al., BMJ
  2025;389:e081905) and GRADE guidance 36 (Guyatt et al., J Clin Epidemiol 2023;158:70-83):
  what matters is variability *relative to the threshold of the certainty rating*. Serious
  when trials with non-overlapping CIs have point estimates on opposite sides of a threshold,
  when I² ≥ ``i2_serious`` with point estimates on both sides, or when the prediction
  interval crosses a threshold the CI does not cross.
* **Indirectness** (:func:`indirectness`) — a judgement only the review authors can make
  (Core GRADE 5, BMJ 2025;389:e083865); without one the domain says so plainly.
* **Imprecision** (:func:`imprecision`) — Core GRADE 2 (Guyatt et al., BMJ
  2025;389:e081904), GRADE guidance 34 (Zeng et al., J Clin Epidemiol 2022;150:216-224) and
  35 (Schünemann et al., J Clin Epidemiol 2022;150:225-242): the CI of the *absolute* effect
  (risk difference per 1000 at the assumed control risk, as GRADEpro shows it) is judged
  against the threshold(s): the minimal important differences (MIDs) when the reviewer gives
  them, else the null. One level per threshold crossed (two at most); with the null as
  threshold, two levels when the relative CI includes both appreciable benefit and
  appreciable harm (RR 0.75/1.25, GRADE guidelines 6, Guyatt et al., J Clin Epidemiol
  2011;64:1283-1293). When the CI crosses nothing, one level if the evidence falls short of
  the optimal information size (OIS). A CI bound that lies within half the reporting
  resolution of a threshold (half a person per 1000) touches it and does not cross it.
* **Publication bias** (:func:`publication_bias`) — Egger's test (Egger et al., BMJ
  1997;315:629) is interpreted only with at least ``min_k`` (10) trials (Sterne et al., BMJ
  2011;343:d4002; Cochrane Handbook 5.1 §10.4.3.1); below that "not assessed".

A reviewer's ``{levels, reason}`` for any domain replaces the rule (the rule's numbers stay in
the footnote). The module reads no analysis JSON: :mod:`evsynth.report.certainty` builds
:class:`GradeInputs` from an analysis's results.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from scipy import special

from evsynth import format as fmt
from evsynth.errors import AnalysisInputError, EvsynthError
from evsynth.meta.absolute import risk_at

SYMBOLS = {4: "⊕⊕⊕⊕", 3: "⊕⊕⊕⊝", 2: "⊕⊕⊝⊝", 1: "⊕⊝⊝⊝"}
START = {"high": 4, "moderate": 3, "low": 2, "very low": 1}
LABELS = {4: "high", 3: "moderate", 2: "low", 1: "very low"}
JUDGEMENTS = {0: "not serious", 1: "serious", 2: "very serious"}
NOT_ASSESSED = "not assessed"
NOT_JUDGED = "not judged by the review authors"

DOMAINS = {
    "risk_of_bias": "Risk of bias",
    "inconsistency": "Inconsistency",
    "indirectness": "Indirectness",
    "imprecision": "Imprecision",
    "publication_bias": "Publication bias",
}
# RoB 2 domains (Sterne et al., BMJ 2019;366:l4898) in the tool's order, with their names.
ROB2_DOMAINS = {
    "randomisation": "randomisation process",
    "deviations": "deviations from intended interventions",
    "missing_data": "missing outcome data",
    "measurement": "measurement of the outcome",
    "selection": "selection of the reported result",
}
ROB_ORDER = {"low": 0, "some concerns": 1, "high": 2}

RobLevel = Literal["low", "some concerns", "high"]
MeasureKind = Literal["ratio", "difference"]
HigherIs = Literal["worse", "better"]


class GradeSettingsError(EvsynthError, ValueError):
    """A ``grade:`` setting of report.yaml is missing, misspelt or out of range."""


# --- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RobJudgement:
    """One risk-of-bias judgement ("low", "some concerns", "high") with its support text."""

    level: RobLevel
    support: str = ""

    def __post_init__(self) -> None:
        if self.level not in ROB_ORDER:
            raise GradeSettingsError(
                f"risk-of-bias judgement {self.level!r}: use 'low', 'some concerns' or 'high'"
            )


@dataclass(frozen=True)
class RiskOfBias:
    """A trial's RoB 2 judgements for this outcome; any may be None (not given)."""

    randomisation: RobJudgement | None = None
    deviations: RobJudgement | None = None
    missing_data: RobJudgement | None = None
    measurement: RobJudgement | None = None
    selection: RobJudgement | None = None
    overall: RobJudgement | None = None


@dataclass(frozen=True)
class Trial:
    """One trial of the analysis: its weight share (0–1), estimate and CI on the display
    scale (for the overlap of intervals), risk of bias and attrition (fraction lost)."""

    label: str
    weight: float
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    rob: RiskOfBias = field(default_factory=RiskOfBias)
    attrition: float | None = None


@dataclass(frozen=True)
class GradeInputs:
    """Everything GRADE needs about one outcome (one analysis), on the display scale.

    ``kind`` "ratio" (RR, OR, HR, …; null 1) or "difference" (RD, MD, SMD; null 0);
    ``higher_is`` "worse" when more of the outcome is harm (an adverse event), else "better";
    ``i2`` in percent; ``k`` the number of trials; ``events`` None when some trials entered as
    published estimates; ``control_risk`` the assumed control risk of a binary outcome (the
    absolute effect per 1000 is judged from it); ``egger_k`` the trials in Egger's test."""

    measure: str
    kind: MeasureKind
    higher_is: HigherIs
    estimate: float
    ci_low: float
    ci_high: float
    k: int
    trials: tuple[Trial, ...] = ()
    pi_low: float | None = None
    pi_high: float | None = None
    i2: float | None = None
    tau2: float | None = None
    participants: int | None = None
    events: int | None = None
    egger_p: float | None = None
    egger_k: int | None = None
    control_risk: float | None = None
    level: float = 0.95

    def __post_init__(self) -> None:
        problems = []
        if self.kind not in ("ratio", "difference"):
            problems.append(f"kind {self.kind!r} is not 'ratio' or 'difference'")
        if self.higher_is not in ("worse", "better"):
            problems.append(f"higher_is {self.higher_is!r} is not 'worse' or 'better'")
        if not self.ci_low <= self.estimate <= self.ci_high:
            problems.append(f"the CI {self.ci_low} to {self.ci_high} excludes {self.estimate}")
        if self.kind == "ratio" and self.ci_low <= 0:
            problems.append("a ratio and its CI must be positive")
        if self.control_risk is not None and not 0 < self.control_risk < 1:
            problems.append(f"control risk {self.control_risk} is not strictly between 0 and 1")
        if self.k < 1 or not 0 < self.level < 1:
            problems.append(f"k ({self.k}) must be at least 1 and level ({self.level}) in (0, 1)")
        if problems:
            raise AnalysisInputError(f"GRADE inputs for {self.measure}: " + "; ".join(problems))


# --- settings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mid:
    """Minimal important differences (positive magnitudes) for benefit and for harm."""

    benefit: float
    harm: float


@dataclass(frozen=True)
class ReviewerJudgement:
    """A domain judged by the review authors instead of the rule."""

    levels: int
    reason: str


@dataclass(frozen=True)
class RiskOfBiasSettings:
    serious_high_share: float = 0.5
    serious_concerns_share: float | None = None
    very_serious_high_share: float | None = None
    attrition_concerns: float = 0.2


@dataclass(frozen=True)
class InconsistencySettings:
    i2_serious: float = 50.0
    i2_very_serious: float | None = 75.0
    prediction_interval: bool = True
    #: The prediction interval speaks of heterogeneity only when there is some: below this
    #: I² (Higgins et al. 2003, BMJ 327:557: 25% "low") a PI that crosses a threshold the CI
    #: does not reflects the t quantile and the CI's own width, which imprecision judges.
    pi_min_i2: float = 25.0


@dataclass(frozen=True)
class OisSettings:
    """The OIS: given (``events`` or ``participants``) or computed from ``rrr`` at
    ``control_risk`` (binary; None → the outcome's assumed control risk) or from
    ``difference`` and ``sd`` (continuous; difference None → the MID for benefit)."""

    events: int | None = None
    participants: int | None = None
    control_risk: float | None = None
    rrr: float = 0.25
    alpha: float = 0.05
    power: float = 0.8
    sd: float | None = None
    difference: float | None = None


@dataclass(frozen=True)
class ImprecisionSettings:
    mid_per_1000: Mid | None = None
    mid: Mid | None = None
    resolution_per_1000: float = 1.0
    resolution: float | None = None
    appreciable_ratio: tuple[float, float] = (0.75, 1.25)
    appreciable_smd: float | None = 0.5
    ois: OisSettings = field(default_factory=OisSettings)
    ois_far_below: float | None = None


@dataclass(frozen=True)
class PublicationBiasSettings:
    min_k: int = 10
    egger_p: float = 0.10


@dataclass(frozen=True)
class GradeSettings:
    """One outcome's GRADE settings (review-wide defaults merged with its own)."""

    start: str = "high"
    labels: Mapping[int, str] = field(default_factory=lambda: dict(LABELS))
    risk_of_bias: RiskOfBiasSettings = field(default_factory=RiskOfBiasSettings)
    inconsistency: InconsistencySettings = field(default_factory=InconsistencySettings)
    imprecision: ImprecisionSettings = field(default_factory=ImprecisionSettings)
    publication_bias: PublicationBiasSettings = field(default_factory=PublicationBiasSettings)
    judgements: Mapping[str, ReviewerJudgement] = field(default_factory=dict)


# --- outputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Domain:
    """One GRADE domain: levels lost (0–2), the judgement word, the reason with its numbers,
    and the footnote sentence ("Imprecision (−1): …") the report letters."""

    name: str
    levels: int
    judgement: str
    reason: str
    footnote: str = ""


@dataclass(frozen=True)
class Certainty:
    level: int  # 4 high ... 1 very low
    label: str
    symbols: str
    domains: tuple[Domain, ...] = field(default_factory=tuple)

    @property
    def downgrades(self) -> tuple[Domain, ...]:
        return tuple(d for d in self.domains if d.levels > 0)


def _domain(name: str, levels: int, reason: str, judgement: str | None = None) -> Domain:
    word = judgement or JUDGEMENTS[levels]
    tag = f"−{levels}" if levels else word
    return Domain(name, levels, word, reason, f"{name} ({tag}): {reason}.")


# --- the scale imprecision and inconsistency are judged on ----------------------------------


@dataclass(frozen=True)
class Threshold:
    """A threshold on the judgement scale: its value, its name and its formatted value."""

    value: float
    name: str
    text: str


@dataclass(frozen=True)
class JudgementScale:
    """Where the CI is judged: the risk difference per 1000 at the assumed control risk
    (binary outcomes, as GRADEpro's absolute effects) or the measure's own display scale.

    ``tolerance``: a CI bound within this distance of a threshold touches it without crossing
    it (half the reporting resolution); ``null_only``: no MID given, the null is the threshold.
    """

    measure: str
    kind: MeasureKind
    control_risk: float | None
    thresholds: tuple[Threshold, ...]
    tolerance: float
    null_only: bool

    @property
    def absolute(self) -> bool:
        return self.control_risk is not None

    @property
    def description(self) -> str:
        return "the risk difference" if self.absolute else f"the {self.measure}"

    def value(self, x: float) -> float:
        """A display-scale value (ratio or difference) on the judgement scale."""
        if not self.absolute:
            return x
        risk = self.control_risk or 0.0
        if self.kind == "difference":  # a risk difference
            return 1000.0 * x
        return 1000.0 * (treat_risk(x, risk, self.measure) - risk)

    def text(self, x: float) -> str:
        if self.absolute:
            return per_1000_text(x)
        return fmt.ratio(x) if self.kind == "ratio" else fmt.value(x)

    def labelled(self, x: float) -> str:
        """A single value with its unit: "10 fewer per 1000", "RR 0.75", "MD -5"."""
        if self.absolute:
            return f"{self.text(x)} per 1000"
        return f"{self.measure} {self.text(x)}"

    def interval(self, low: float, high: float) -> str:
        unit = " per 1000" if self.absolute else ""
        return f"{self.text(low)} to {self.text(high)}{unit}"


def treat_risk(ratio: float, control_risk: float, measure: str) -> float:
    """Intervention risk implied by a relative effect at the assumed control risk, as in
    GRADEpro's Summary of Findings tables (:func:`evsynth.meta.absolute.risk_at`; a rate ratio
    or a mix of ratios is applied as a risk ratio)."""
    kind = measure.upper() if measure.upper() in ("OR", "HR") else "RR"
    return risk_at(ratio, control_risk, kind)


def per_1000_text(x: float) -> str:
    """A risk difference per 1000 in whole people: -12.3 → "12 fewer", 0.09 → "0 more"."""
    if x == 0:
        return "0"
    return f"{fmt.count(abs(x))} {'fewer' if x < 0 else 'more'}"


def _benefit_sign(inputs: GradeInputs) -> int:
    """+1 when a benefit moves the effect upwards (the outcome is good), −1 otherwise."""
    return 1 if inputs.higher_is == "better" else -1


def judgement_scale(inputs: GradeInputs, rule: ImprecisionSettings) -> JudgementScale:
    """The scale and thresholds of the certainty rating (Core GRADE 2; GRADE guidance 34).

    Binary outcomes (an assumed control risk is given): the risk difference per 1000, with
    ``mid_per_1000`` as thresholds, else 0. Otherwise the measure's own scale with ``mid``:
    a difference measure's thresholds are null ± MID; a ratio measure's MID is a relative
    change (0.25 → RR 0.75 for benefit and 1.25 for harm of a harmful outcome), else 1."""
    absolute = inputs.control_risk is not None
    mid = rule.mid_per_1000 if absolute else rule.mid
    null = 1.0 if inputs.kind == "ratio" and not absolute else 0.0
    base = JudgementScale(inputs.measure, inputs.kind, inputs.control_risk, (), 0.0, mid is None)
    if absolute:
        tolerance = rule.resolution_per_1000 / 2
    elif rule.resolution is not None:
        tolerance = rule.resolution / 2
    else:  # ratios are reported with 2 decimals (RevMan), differences as given
        tolerance = 0.005 if inputs.kind == "ratio" else 0.0
    thresholds: tuple[Threshold, ...]
    if mid is None:
        thresholds = (Threshold(null, "the threshold of no effect", base.labelled(null)),)
    else:
        sign = _benefit_sign(inputs)
        if inputs.kind == "ratio" and not absolute:
            if max(mid.benefit, mid.harm) >= 1:
                raise GradeSettingsError(
                    "grade.imprecision.mid: for a ratio measure the MID is a relative change "
                    f"below 1 (0.25 → {inputs.measure} 0.75 and 1.25), got {mid}"
                )
            benefit, harm = 1 + sign * mid.benefit, 1 - sign * mid.harm
        else:
            benefit, harm = null + sign * mid.benefit, null - sign * mid.harm
        thresholds = tuple(
            sorted(
                (
                    Threshold(benefit, "the MID for benefit", base.labelled(benefit)),
                    Threshold(harm, "the MID for harm", base.labelled(harm)),
                ),
                key=lambda t: t.value,
            )
        )
    return replace(base, thresholds=thresholds, tolerance=tolerance)


# --- optimal information size ----------------------------------------------------------------


@dataclass(frozen=True)
class OptimalInformationSize:
    """The sample size of one adequately powered trial (GRADE guidelines 6, §"optimal
    information size"): ``n_per_group`` unrounded, ``participants`` = 2·⌈n_per_group⌉,
    ``events`` (binary outcomes) = ⌈participants × mean of the two planned risks⌉ — the
    events such a trial would observe; ``basis`` the planning values, for the footnote."""

    n_per_group: float
    participants: int
    events: int | None
    basis: str


def ois_binary(
    control_risk: float, rrr: float = 0.25, alpha: float = 0.05, power: float = 0.8
) -> OptimalInformationSize:
    """OIS of a binary outcome: "a conventional sample size calculation for a single
    adequately powered trial" (GRADE guidelines 6; Core GRADE 2), here the two-proportion
    formula with control risk p₁, intervention risk p₂ = p₁(1 − RRR), p̄ = (p₁+p₂)/2:

        n per group = [z₁₋α/₂ √(2 p̄(1−p̄)) + z₁₋β √(p₁(1−p₁) + p₂(1−p₂))]² / (p₁ − p₂)²,

    the normal-approximation formula without continuity correction that R's
    ``power.prop.test`` solves (two-sided, ``strict = FALSE``); checked against it in
    tests/reference/grade_ois.json. GRADE's defaults: α 0.05, power 0.8, RRR 20–30%."""
    if not (0 < control_risk < 1 and 0 < rrr < 1 and 0 < alpha < 1 and 0 < power < 1):
        raise GradeSettingsError(
            "grade.imprecision.ois: control_risk, rrr, alpha and power must lie strictly "
            f"between 0 and 1 (got {control_risk}, {rrr}, {alpha}, {power})"
        )
    p1, p2 = control_risk, control_risk * (1 - rrr)
    mean = (p1 + p2) / 2
    z_a, z_b = special.ndtri(1 - alpha / 2), special.ndtri(power)  # scipy.stats.norm.ppf
    root = z_a * math.sqrt(2 * mean * (1 - mean)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    n = root**2 / (p1 - p2) ** 2
    total = 2 * math.ceil(n)
    basis = (
        f"RRR {_pct(rrr)}, control risk {_pct(control_risk)}, α {fmt.value(alpha)}, "
        f"power {fmt.value(power)}"
    )
    return OptimalInformationSize(n, total, math.ceil(total * mean), basis)


def ois_continuous(
    difference: float, sd: float, alpha: float = 0.05, power: float = 0.8
) -> OptimalInformationSize:
    """OIS of a continuous outcome: the two-sample t-test sample size to detect
    ``difference`` (the MID) with standard deviation ``sd`` (GRADE guidelines 6): the n per
    group at which the noncentral t power, df = 2(n − 1), ncp = √(n/2)·Δ/σ, reaches
    ``power`` — the root R's ``power.t.test`` finds (two-sided, ``strict = FALSE``)."""
    if not (difference > 0 and sd > 0 and 0 < alpha < 1 and 0 < power < 1):
        raise GradeSettingsError(
            "grade.imprecision.ois: difference and sd must be positive and alpha, power "
            f"between 0 and 1 (got {difference}, {sd}, {alpha}, {power})"
        )

    from scipy import optimize, stats  # here: importing scipy.stats costs 0.6 s per report

    def shortfall(n: float) -> float:
        df = 2 * (n - 1)
        crit = stats.t.isf(alpha / 2, df)
        return float(stats.nct.sf(crit, df, math.sqrt(n / 2) * difference / sd)) - power

    n = optimize.brentq(shortfall, 2.0, 1e7, xtol=1e-12, rtol=1e-14)
    basis = (
        f"difference {fmt.value(difference)}, SD {fmt.value(sd)}, α {fmt.value(alpha)}, "
        f"power {fmt.value(power)}"
    )
    return OptimalInformationSize(n, 2 * math.ceil(n), None, basis)


def _pct(x: float) -> str:
    """A proportion as a percentage with at most one decimal: 0.25 → "25%", 0.0604 → "6%"."""
    return fmt.share(x, 0) if round(100 * x, 1).is_integer() else fmt.share(x, 1)


@dataclass(frozen=True)
class InformationCheck:
    """Whether the evidence reaches the OIS: ``met`` None when it cannot be checked."""

    met: bool | None
    far_below: bool
    text: str


def information_check(inputs: GradeInputs, rule: ImprecisionSettings) -> InformationCheck:
    """Compare total events (binary) or participants with the OIS (GRADE guidelines 6: "if
    the total number of patients included in a systematic review is less than the number …
    generated by a conventional sample size calculation for a single adequately powered
    trial, consider rating down"). ``ois_far_below``: below this fraction of the OIS counts
    as "far less than the OIS" (GRADE guidance 34; off by default)."""
    target = _ois_target(inputs, rule)
    if isinstance(target, str):
        return InformationCheck(None, False, target)
    needed, unit, basis = target
    have = inputs.events if unit == "events" else inputs.participants
    if have is None:
        why = "(some trials entered as published estimates)" if unit == "events" else ""
        return InformationCheck(
            None,
            False,
            f"the optimal information size ({fmt.count(needed)} {unit}) was not "
            f"checked: total {unit} unknown {why}".rstrip(),
        )
    ois_text = f"the optimal information size of {fmt.count(needed)} {unit}{basis}"
    if have >= needed:
        return InformationCheck(True, False, f"{fmt.count(have)} {unit}, at least {ois_text}")
    far = rule.ois_far_below is not None and have < rule.ois_far_below * needed
    return InformationCheck(False, far, f"{fmt.count(have)} {unit}, below {ois_text}")


def _ois_target(inputs: GradeInputs, rule: ImprecisionSettings) -> tuple[int, str, str] | str:
    """(OIS, "events" | "participants", " (planning values)") or why there is none."""
    ois = rule.ois
    if ois.events is not None:
        return ois.events, "events", ""
    if ois.participants is not None:
        return ois.participants, "participants", ""
    if inputs.control_risk is not None or ois.control_risk is not None:
        risk = ois.control_risk if ois.control_risk is not None else inputs.control_risk
        found = ois_binary(float(risk or 0.0), ois.rrr, ois.alpha, ois.power)
        if inputs.events is None and inputs.participants is not None:
            return found.participants, "participants", f" ({found.basis})"
        return int(found.events or 0), "events", f" ({found.basis})"
    sd = ois.sd if ois.sd is not None else (1.0 if inputs.measure.upper() == "SMD" else None)
    difference = ois.difference if ois.difference is not None else (rule.mid and rule.mid.benefit)
    if sd is None or not difference:
        return (
            "the optimal information size was not checked: no OIS, and no MID and SD to compute it"
        )
    found = ois_continuous(float(difference), sd, ois.alpha, ois.power)
    return found.participants, "participants", f" ({found.basis})"


# --- imprecision -----------------------------------------------------------------------------


def crosses(low: float, high: float, threshold: float, tolerance: float = 0.0) -> bool:
    """Whether the interval reaches beyond the threshold on both sides by more than the
    tolerance (a bound within the tolerance touches the threshold, it does not cross it)."""
    return low < threshold - tolerance and high > threshold + tolerance


def imprecision(inputs: GradeInputs, scale: JudgementScale, rule: ImprecisionSettings) -> Domain:
    """Imprecision by the CI approach on the judgement scale (Core GRADE 2; GRADE guidance 34).

    1. Thresholds crossed by the CI (see :func:`crosses`): one level each, two at most —
       the CI including important benefit and important harm is "very serious".
    2. No MID (the null is the threshold): two levels when the CI also includes appreciable
       benefit and appreciable harm — the relative CI beyond both ``appreciable_ratio``
       bounds (RR 0.75 and 1.25, GRADE guidelines 6) or an SMD CI beyond ±``appreciable_smd``
       (0.5: the GRADE handbook's suggestion when the MID is unknown, KCE process book
       §5.5.1.2).
    3. A CI that crosses no threshold: one level when the evidence falls short of the OIS
       (two when far short, ``ois_far_below``), otherwise none — even if the CI includes
       values near the null (Zeng et al., BMJ Evid Based Med 2025;30:202-207: rating down
       "due simply to crossing the null is inappropriate" for a narrow CI).
    """
    low, high = scale.value(inputs.ci_low), scale.value(inputs.ci_high)
    crossed = [t for t in scale.thresholds if crosses(low, high, t.value, scale.tolerance)]
    ci_text = f"the {_level(inputs)} CI of {scale.description}, {scale.interval(low, high)}"
    info = information_check(inputs, rule)
    if crossed:
        levels = min(2, len(crossed))
        reason = f"{ci_text}, crosses " + " and ".join(f"{t.name} ({t.text})" for t in crossed)
        wide = _appreciable(inputs, rule) if scale.null_only else None
        if wide:
            levels, reason = 2, f"{reason}, and {wide}"
        return _domain("Imprecision", levels, f"{reason}; {info.text}")
    reason = f"{ci_text}, does not cross " + " or ".join(
        f"{t.name} ({t.text})" for t in scale.thresholds
    )
    touched = _touching(low, high, scale)
    if touched:
        reason += f": {touched}"
    if info.met is False:
        return _domain("Imprecision", 2 if info.far_below else 1, f"{reason}; {info.text}")
    return _domain("Imprecision", 0, f"{reason}; {info.text}")


def _level(inputs: GradeInputs) -> str:
    return f"{100 * inputs.level:g}%"


def _appreciable(inputs: GradeInputs, rule: ImprecisionSettings) -> str | None:
    """The relative CI includes appreciable benefit and appreciable harm (no MID given)."""
    low, high = inputs.ci_low, inputs.ci_high
    if inputs.kind == "ratio":
        below, above = rule.appreciable_ratio
        if low < below and high > above:
            return (
                f"the {_level(inputs)} CI of the {inputs.measure}, {fmt.interval(low, high)}, "
                f"includes both appreciable benefit and appreciable harm ({inputs.measure} "
                f"below {fmt.ratio(below)} and above {fmt.ratio(above)})"
            )
    elif inputs.measure.upper() == "SMD" and rule.appreciable_smd is not None:
        bound = rule.appreciable_smd
        if low < -bound and high > bound:
            return (
                f"the {_level(inputs)} CI of the SMD, {fmt.interval(low, high)}, includes "
                f"effects beyond {fmt.value(bound)} SD in both directions"
            )
    return None


def _touching(low: float, high: float, scale: JudgementScale) -> str:
    """Name a CI bound that touches a threshold (within the tolerance, not beyond it)."""
    for t in scale.thresholds:
        for name, bound in (("lower", low), ("upper", high)):
            if bound != t.value and abs(bound - t.value) <= scale.tolerance:
                what = (
                    "half a person per 1000 (the resolution of the Summary of Findings table)"
                    if scale.absolute
                    else f"{fmt.value(scale.tolerance)} (half the reported resolution)"
                )
                return (
                    f"its {name} bound, {_exact(bound, scale)}, is within {what}: it touches "
                    "the threshold without crossing it"
                )
    return ""


def _exact(x: float, scale: JudgementScale) -> str:
    """A bound with enough decimals to show how close it is: "0.09 more per 1000"."""
    if scale.absolute:
        return f"{fmt.ratio(abs(x))} {'fewer' if x < 0 else 'more'} per 1000"
    return f"{scale.measure} {fmt.ratio(x, 4)}"


# --- inconsistency ---------------------------------------------------------------------------


def _zone(value: float, scale: JudgementScale) -> int:
    """Which side of the thresholds a value lies on: the number of thresholds below it."""
    return sum(1 for t in scale.thresholds if value > t.value)


def opposite_non_overlapping(
    trials: Sequence[Trial], scale: JudgementScale
) -> tuple[str, str] | None:
    """Two trials whose CIs do not overlap and whose point estimates lie on opposite sides of
    a threshold (Core GRADE 3), as their labels; None when there are none."""
    usable = [
        t
        for t in trials
        if t.estimate is not None and t.ci_low is not None and t.ci_high is not None
    ]
    for i, a in enumerate(usable):
        for b in usable[i + 1 :]:
            apart = a.ci_high < b.ci_low or b.ci_high < a.ci_low  # type: ignore[operator]
            sides = _zone(scale.value(a.estimate), scale) != _zone(scale.value(b.estimate), scale)  # type: ignore[arg-type]
            if apart and sides:
                return a.label, b.label
    return None


def inconsistency(
    inputs: GradeInputs, scale: JudgementScale, rule: InconsistencySettings
) -> Domain:
    """Inconsistency relative to the threshold(s) of the rating (Core GRADE 3; GRADE guidance
    36: a large I² is not a concern when every estimate lies on the same side).

    Serious (−1) when any of: (a) two trials with non-overlapping CIs have point estimates on
    opposite sides of a threshold; (b) I² ≥ ``i2_serious`` and the point estimates lie on
    both sides; (c) the prediction interval crosses a threshold the CI does not cross
    (``prediction_interval``). Very serious (−2) when (a) holds and I² ≥ ``i2_very_serious``.
    A single trial: not assessed."""
    if inputs.k < 2:
        return _domain(
            "Inconsistency", 0, "a single trial: inconsistency cannot be assessed", NOT_ASSESSED
        )
    facts = [_heterogeneity_text(inputs)]
    signals = []
    pair = opposite_non_overlapping(inputs.trials, scale)
    if pair:
        signals.append(
            f"the CIs of {pair[0]} and {pair[1]} do not overlap and their point estimates lie "
            f"on opposite sides of {_threshold_names(scale)}"
        )
    zones = {_zone(scale.value(t.estimate), scale) for t in inputs.trials if t.estimate is not None}
    i2 = inputs.i2
    if i2 is not None and i2 >= rule.i2_serious and len(zones) > 1:
        signals.append(
            f"I² of {fmt.percent(i2)} (at least {fmt.value(rule.i2_serious)}%) with point "
            f"estimates on both sides of {_threshold_names(scale)}"
        )
    heterogeneous = inputs.i2 is not None and inputs.i2 >= rule.pi_min_i2
    pi = _pi_crossing(inputs, scale) if rule.prediction_interval and heterogeneous else None
    if pi:
        signals.append(pi)
    if not signals:
        if not zones:
            facts.append("the trials' estimates were not given")
        else:
            sides = "on one side of" if len(zones) == 1 else "on both sides of"
            facts.append(f"point estimates {sides} {_threshold_names(scale)}, overlapping CIs")
        return _domain("Inconsistency", 0, "; ".join(facts))
    very = (
        bool(pair)
        and rule.i2_very_serious is not None
        and i2 is not None
        and i2 >= rule.i2_very_serious
    )
    return _domain("Inconsistency", 2 if very else 1, "; ".join([*signals, *facts]))


def _threshold_names(scale: JudgementScale) -> str:
    return " or ".join(f"{t.name} ({t.text})" for t in scale.thresholds)


def _heterogeneity_text(inputs: GradeInputs) -> str:
    parts = [f"I² = {fmt.percent(inputs.i2)}" if inputs.i2 is not None else "I² not reported"]
    if inputs.tau2 is not None:
        parts.append(f"τ² = {fmt.tau2(inputs.tau2)}")
    if inputs.pi_low is not None and inputs.pi_high is not None:
        pi = _display_interval(inputs, inputs.pi_low, inputs.pi_high)
        parts.append(f"{_level(inputs)} prediction interval {pi}")
    return ", ".join(parts) + f" ({inputs.k} trials)"


def _display_interval(inputs: GradeInputs, low: float, high: float) -> str:
    if inputs.kind == "ratio":
        return fmt.interval(low, high)
    return f"{fmt.value(low)} to {fmt.value(high)}"


def _pi_crossing(inputs: GradeInputs, scale: JudgementScale) -> str | None:
    """The prediction interval crosses a threshold that the CI does not cross."""
    if inputs.pi_low is None or inputs.pi_high is None:
        return None
    ci = (scale.value(inputs.ci_low), scale.value(inputs.ci_high))
    pi = (scale.value(inputs.pi_low), scale.value(inputs.pi_high))
    for t in scale.thresholds:
        if crosses(*pi, t.value, scale.tolerance) and not crosses(*ci, t.value, scale.tolerance):
            pi_text = _display_interval(inputs, inputs.pi_low, inputs.pi_high)
            ci_text = _display_interval(inputs, inputs.ci_low, inputs.ci_high)
            return (
                f"the {_level(inputs)} prediction interval, {pi_text}, crosses {t.name} "
                f"({t.text}) while the CI, {ci_text}, does not"
            )
    return None


# --- risk of bias ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialRisk:
    """A trial's judgement for GRADE (None: not assessed) and what drove it."""

    level: RobLevel | None
    why: tuple[str, ...]


def trial_risk(trial: Trial, attrition_concerns: float) -> TrialRisk:
    """The trial's risk of bias: the worst of its RoB 2 overall judgement and its domains
    (RoB 2's overall is never milder than its worst domain, Sterne et al. 2019),
    and at least "some concerns" when more than ``attrition_concerns`` of the participants
    were lost (the missing-outcome-data domain, RoB 2 domain 3)."""
    rob = trial.rob
    given: list[tuple[RobLevel, str]] = [
        (j.level, ROB2_DOMAINS[key]) for key in ROB2_DOMAINS if (j := getattr(rob, key)) is not None
    ]
    if rob.overall is not None:
        support = rob.overall.support.strip()
        given.append((rob.overall.level, support or "overall judgement"))
    if trial.attrition is not None and trial.attrition > attrition_concerns:
        given.append(("some concerns", f"attrition {_pct(trial.attrition)}"))
    if not given:
        return TrialRisk(None, ())
    worst = max((level for level, _ in given), key=ROB_ORDER.__getitem__)
    return TrialRisk(worst, tuple(why for level, why in given if level == worst))


def _shares(trials: Sequence[Trial]) -> list[float]:
    """Each trial's share of the weight; equal shares when no weights are given."""
    total = sum(max(t.weight, 0.0) for t in trials)
    if total <= 0:
        return [1 / len(trials)] * len(trials)
    return [max(t.weight, 0.0) / total for t in trials]


@dataclass(frozen=True)
class _RobGroup:
    """The trials at one risk-of-bias level, with their weight shares and reasons."""

    items: tuple[tuple[str, float, tuple[str, ...]], ...]  # (label, share, why)

    @property
    def share(self) -> float:
        return sum(share for _, share, _ in self.items)

    def listed(self, with_why: bool = True) -> str:
        return "; ".join(
            f"{label} {fmt.share(share, 1)}" + (f": {', '.join(why)}" if with_why and why else "")
            for label, share, why in self.items
        )


def _rob_groups(trials: Sequence[Trial], risks: Sequence[TrialRisk]) -> dict[str | None, _RobGroup]:
    shares = _shares(trials)
    return {
        level: _RobGroup(
            tuple(
                (t.label, share, r.why)
                for t, share, r in zip(trials, shares, risks, strict=True)
                if r.level == level
            )
        )
        for level in ("high", "some concerns", None, "low")
    }


def risk_of_bias(trials: Sequence[Trial], rule: RiskOfBiasSettings) -> Domain:
    """Risk of bias across trials, weighed by their share of the weight (Core GRADE 4; GRADE
    guidelines 4, via KCE process book §5.2.2: rate down when there is substantial risk of bias
    "across most of the body of available evidence"; Cochrane Handbook 5.1 Table 12.2.d).

    Serious (−1) when trials at high risk carry ≥ ``serious_high_share`` of the weight, or
    (if set) trials with some concerns, high risk or no judgement carry ≥
    ``serious_concerns_share``; very serious (−2) when (if set) high-risk trials carry ≥
    ``very_serious_high_share``. Trials without any judgement count as some concerns; when
    no trial has one the domain is not assessed."""
    if not trials:
        return _domain("Risk of bias", 0, f"no trials: {NOT_JUDGED}", NOT_ASSESSED)
    risks = [trial_risk(t, rule.attrition_concerns) for t in trials]
    if all(r.level is None for r in risks):
        reason = f"no risk-of-bias judgements were given for the trials: {NOT_JUDGED}"
        return _domain("Risk of bias", 0, reason, NOT_ASSESSED)
    groups = _rob_groups(trials, risks)
    high = groups["high"].share
    concerns = high + groups["some concerns"].share + groups[None].share
    levels = 0
    if rule.very_serious_high_share is not None and high >= rule.very_serious_high_share:
        levels = 2
    elif high >= rule.serious_high_share or (
        rule.serious_concerns_share is not None and concerns >= rule.serious_concerns_share
    ):
        levels = 1
    return _domain("Risk of bias", levels, _rob_reason(groups, rule, len(trials)))


def _rob_reason(groups: Mapping[str | None, _RobGroup], rule: RiskOfBiasSettings, k: int) -> str:
    high, some, none, low = (groups[level] for level in ("high", "some concerns", None, "low"))
    parts = [
        f"trials at high risk of bias carry {fmt.share(high.share, 1)} of the weight"
        + (f" ({high.listed()})" if high.items else "")
        + f" (serious from {fmt.share(rule.serious_high_share)})"
    ]
    if some.items:
        parts.append(f"trials with some concerns {fmt.share(some.share, 1)} ({some.listed()})")
    if none.items:
        parts.append(
            f"trials without a risk-of-bias judgement {fmt.share(none.share, 1)}, counted as "
            f"some concerns ({none.listed(False)})"
        )
    if rule.serious_concerns_share is not None:
        worse = high.share + some.share + none.share
        parts.append(
            f"some concerns or worse {fmt.share(worse, 1)} "
            f"(serious from {fmt.share(rule.serious_concerns_share)})"
        )
    parts.append(f"low risk {fmt.share(low.share, 1)} ({len(low.items)} of {k} trials)")
    return "; ".join(parts)


# --- publication bias, indirectness ----------------------------------------------------------


def publication_bias(inputs: GradeInputs, rule: PublicationBiasSettings) -> Domain:
    """Egger's regression test for funnel-plot asymmetry (Egger et al. 1997), interpreted
    only with at least ``min_k`` trials (Sterne et al., BMJ 2011;343:d4002: "tests for funnel
    plot asymmetry should be used only when there are at least 10 studies", Cochrane Handbook
    5.1 §10.4.3.1): P < ``egger_p`` (0.10, Egger 1997) suggests small-study effects (−1)."""
    k = inputs.egger_k if inputs.egger_k is not None else inputs.k
    if k < rule.min_k:
        reason = (
            f"Egger's test not interpreted with {fmt.count(k)} trial{'s' if k != 1 else ''} "
            f"(it needs at least {rule.min_k}): {NOT_JUDGED}"
        )
        return _domain("Publication bias", 0, reason, NOT_ASSESSED)
    if inputs.egger_p is None:
        reason = f"Egger's test not available for {fmt.count(k)} trials: {NOT_JUDGED}"
        return _domain("Publication bias", 0, reason, NOT_ASSESSED)
    p = fmt.p_value(inputs.egger_p)
    if inputs.egger_p < rule.egger_p:
        reason = (
            f"Egger's test for funnel-plot asymmetry {p} ({fmt.count(k)} trials), below "
            f"{fmt.value(rule.egger_p)}: small-study effects suggest publication bias"
        )
        return _domain("Publication bias", 1, reason)
    reason = (
        f"Egger's test for funnel-plot asymmetry {p} ({fmt.count(k)} trials): no evidence of "
        "small-study effects"
    )
    return _domain("Publication bias", 0, reason)


def indirectness(judgement: ReviewerJudgement | None) -> Domain:
    """Indirectness is judged by the review authors (Core GRADE 5): population, intervention,
    comparator and outcome against the review question. Without a judgement the domain says
    so plainly and costs nothing."""
    if judgement is None:
        return _domain("Indirectness", 0, NOT_JUDGED, NOT_ASSESSED)
    return _domain(
        "Indirectness", judgement.levels, f"{judgement.reason} (judged by the review authors)"
    )


def _judged(rule_domain: Domain, judgement: ReviewerJudgement | None) -> Domain:
    """The review authors' judgement replaces the rule's; the rule's finding stays as context."""
    if judgement is None:
        return rule_domain
    reason = (
        f"{judgement.reason} (judged by the review authors; by the rule: "
        f"{rule_domain.judgement}, {rule_domain.reason})"
    )
    return _domain(rule_domain.name, judgement.levels, reason)


# --- certainty -------------------------------------------------------------------------------


def grade(inputs: GradeInputs, settings: GradeSettings) -> Certainty:
    """GRADE certainty of one outcome: start at ``settings.start`` (high for randomised
    trials), subtract the levels of the five domains, never below very low (level 1)."""
    scale = judgement_scale(inputs, settings.imprecision)
    given = settings.judgements
    domains = (
        _judged(risk_of_bias(inputs.trials, settings.risk_of_bias), given.get("risk_of_bias")),
        _judged(inconsistency(inputs, scale, settings.inconsistency), given.get("inconsistency")),
        indirectness(given.get("indirectness")),
        _judged(imprecision(inputs, scale, settings.imprecision), given.get("imprecision")),
        _judged(publication_bias(inputs, settings.publication_bias), given.get("publication_bias")),
    )
    level = max(1, START[settings.start] - sum(d.levels for d in domains))
    return Certainty(level, settings.labels[level], SYMBOLS[level], domains)


# --- settings from report.yaml ---------------------------------------------------------------

_SECTIONS: dict[str, type] = {
    "risk_of_bias": RiskOfBiasSettings,
    "inconsistency": InconsistencySettings,
    "imprecision": ImprecisionSettings,
    "publication_bias": PublicationBiasSettings,
}


def grade_settings(
    grade_yaml: Mapping[str, Any] | None, outcome: str | None = None, source: str = "report.yaml"
) -> GradeSettings:
    """The settings of one outcome from report.yaml's ``grade:`` mapping: the review-wide
    sections merged, key by key (``imprecision.ois`` too), with ``outcomes.<outcome>``.
    Unknown keys and out-of-range values raise :class:`GradeSettingsError` naming the key."""
    top = dict(grade_yaml or {})
    _known(top, {"start", "labels", "outcomes", *_SECTIONS}, "grade", source)
    own = dict((top.get("outcomes") or {}).get(outcome, {}) or {}) if outcome else {}
    where = f"grade.outcomes.{outcome}"
    _known(own, {"start", "judgements", *_SECTIONS}, where, source)
    start = own.get("start", top.get("start", "high"))
    if start not in START:
        raise GradeSettingsError(f"{source}: grade.start: {start!r} is not one of {list(START)}")
    labels = {int(k): str(v) for k, v in (top.get("labels") or LABELS).items()}
    if set(labels) != set(LABELS):
        raise GradeSettingsError(f"{source}: grade.labels: give labels for levels 1, 2, 3 and 4")
    sections = {}
    for name, cls in _SECTIONS.items():
        merged = {**(top.get(name) or {}), **(own.get(name) or {})}
        if name == "imprecision":
            ois = {
                **((top.get(name) or {}).get("ois") or {}),
                **((own.get(name) or {}).get("ois") or {}),
            }
            merged["ois"] = ois
        sections[name] = _section(cls, merged, f"grade.{name}", source)
    given = own.get("judgements") or {}
    _known(given, set(DOMAINS), f"{where}.judgements", source)
    judgements = {
        key: _judgement(value, f"{where}.judgements.{key}", source) for key, value in given.items()
    }
    return GradeSettings(start, labels, judgements=judgements, **sections)


def _known(mapping: Mapping[str, Any], allowed: Iterable[str], where: str, source: str) -> None:
    if not isinstance(mapping, Mapping):
        raise GradeSettingsError(f"{source}: {where}: expected a mapping of settings")
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise GradeSettingsError(
            f"{source}: {where}: unknown key(s) {', '.join(map(str, unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def _section(cls: type, values: Mapping[str, Any], where: str, source: str) -> Any:
    names = {f.name for f in fields(cls)}
    _known(values, names, where, source)
    converted = {
        key: _convert(key, value, f"{where}.{key}", source) for key, value in values.items()
    }
    return cls(**converted)


_SHARES = {
    "serious_high_share", "serious_concerns_share", "very_serious_high_share",
    "attrition_concerns", "egger_p", "ois_far_below",
}  # fmt: skip
_OPTIONAL = {
    "serious_concerns_share", "very_serious_high_share", "i2_very_serious", "resolution",
    "appreciable_smd", "ois_far_below", "mid", "mid_per_1000",
}  # fmt: skip


def _convert(key: str, value: Any, where: str, source: str) -> Any:
    """One setting, checked: shares in [0, 1], I² in [0, 100], MIDs positive, …"""
    if value is None and key in _OPTIONAL:
        return None
    if key == "prediction_interval":
        if not isinstance(value, bool):
            raise GradeSettingsError(f"{source}: {where}: use true or false")
        return value
    if key in ("mid", "mid_per_1000"):
        return _mid(value, where, source)
    if key == "appreciable_ratio":
        pair = tuple(_number(v, where, source, low=0.0) for v in (value or ()))
        if len(pair) != 2 or not pair[0] < 1 < pair[1]:
            raise GradeSettingsError(
                f"{source}: {where}: give [below 1, above 1], e.g. [0.75, 1.25]"
            )
        return pair
    if key == "ois":
        return _section(OisSettings, value, where, source)
    if key == "min_k":
        return int(_number(value, where, source, low=2, integer=True))
    if key in ("events", "participants"):
        return None if value is None else int(_number(value, where, source, low=1, integer=True))
    if key in ("control_risk", "sd", "difference") and value is None:
        return None
    high = 1.0 if key in _SHARES or key in ("rrr", "alpha", "power", "control_risk") else None
    high = 100.0 if key.startswith("i2_") or key == "pi_min_i2" else high
    return _number(value, where, source, low=0.0, high=high)


def _number(
    value: Any, where: str, source: str, low: float | None = None, high: float | None = None,
    integer: bool = False,
) -> float:  # fmt: skip
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (integer and float(value) != int(value)):
        kind = "a whole number" if integer else "a number"
        raise GradeSettingsError(f"{source}: {where}: {value!r} is not {kind}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
        raise GradeSettingsError(f"{source}: {where}: {value} must be {bounds}")
    return float(value)


def _mid(value: Any, where: str, source: str) -> Mid:
    """A MID: one positive number (the same for benefit and harm) or {benefit:, harm:}."""
    if isinstance(value, Mapping):
        _known(value, {"benefit", "harm"}, where, source)
        if set(value) != {"benefit", "harm"}:
            raise GradeSettingsError(f"{source}: {where}: give both benefit and harm")
        benefit, harm = value["benefit"], value["harm"]
    else:
        benefit = harm = value
    mid = Mid(_number(benefit, where, source), _number(harm, where, source))
    if mid.benefit <= 0 or mid.harm <= 0:
        raise GradeSettingsError(f"{source}: {where}: a MID must be positive")
    return mid


def _judgement(value: Any, where: str, source: str) -> ReviewerJudgement:
    _known(value, {"levels", "reason"}, where, source)
    levels = value.get("levels")
    reason = value.get("reason")
    if levels not in (0, 1, 2) or isinstance(levels, bool):
        raise GradeSettingsError(f"{source}: {where}.levels: use 0, 1 or 2 (got {levels!r})")
    if not isinstance(reason, str) or not reason.strip():
        raise GradeSettingsError(f"{source}: {where}.reason: say why, in words")
    return ReviewerJudgement(int(levels), reason.strip())
