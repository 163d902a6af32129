# Expected sentences are kept whole, on one line each, so they read as the report prints them.
# ruff: noqa: E501
"""GRADE certainty (evsynth.report.grade): hand-worked examples from the GRADE papers, the
optimal information size against R, and every branch of every domain on both sides of its
threshold.

Sources quoted in comments: GRADE guidelines 6 (Guyatt et al., J Clin Epidemiol
2011;64:1283-1293), GRADE guidance 34 (Zeng et al., J Clin Epidemiol 2022;150:216-224), Core
GRADE 2-4 (Guyatt et al., BMJ 2025;389:e081904, e081905, e083864), Zeng et al., BMJ Evid
Based Med 2025;30:202-207, the KCE process book §5.5 (a summary of GRADE guidelines 6) and
Sterne et al., BMJ 2011;343:d4002.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from evsynth.errors import AnalysisInputError, EvsynthError
from evsynth.report import grade as g

REFERENCE = json.loads(
    (Path(__file__).parent / "reference" / "grade_ois.json").read_text(encoding="utf-8")
)


def inputs(**changes) -> g.GradeInputs:
    """A binary outcome (RR, harmful events) that no rule downgrades; tests change one thing."""
    base = g.GradeInputs(
        measure="RR",
        kind="ratio",
        higher_is="worse",
        estimate=0.80,
        ci_low=0.72,
        ci_high=0.89,
        k=4,
        trials=tuple(
            g.Trial(f"T{i}", 0.25, 0.8, 0.6, 1.05, g.RiskOfBias(overall=g.RobJudgement("low")))
            for i in range(4)
        ),
        pi_low=0.70,
        pi_high=0.92,
        i2=0.0,
        tau2=0.0,
        participants=40_000,
        events=4_000,
        control_risk=0.10,
    )
    return replace(base, **changes)


def settings(**imprecision) -> g.GradeSettings:
    return g.GradeSettings(imprecision=g.ImprecisionSettings(**imprecision))


def judge_imprecision(inp: g.GradeInputs, rule: g.ImprecisionSettings) -> g.Domain:
    return g.imprecision(inp, g.judgement_scale(inp, rule), rule)


def judge_inconsistency(
    inp: g.GradeInputs, rule: g.InconsistencySettings | None = None, **imprecision
) -> g.Domain:
    scale = g.judgement_scale(inp, g.ImprecisionSettings(**imprecision))
    return g.inconsistency(inp, scale, rule or g.InconsistencySettings())


def trial(label, weight, est=1.0, low=0.8, high=1.25, attrition=None, **rob) -> g.Trial:
    judged = {k: g.RobJudgement(v) for k, v in rob.items()}
    return g.Trial(label, weight, est, low, high, g.RiskOfBias(**judged), attrition)


# --- optimal information size ----------------------------------------------------------------


def test_ois_hand_worked_example_of_grade_guidelines_6():
    # KCE process book §5.5.4 (GRADE guidelines 6's OIS figure): "if the best estimate of control
    # event rate was 0.2 and one specifies an RRR of 25%, the OIS is approximately 2 000
    # patients" (α 0.05, β 0.2). By hand: p1 = 0.20, p2 = 0.15, p̄ = 0.175,
    # z 1.959964 · √(2·0.175·0.825) = 1.959964 · 0.537355 = 1.053197,
    # z 0.841621 · √(0.16 + 0.1275)   = 0.841621 · 0.536190 = 0.451269,
    # n = (1.504466)² / 0.05² = 905.37 per group → 906 per group, 1,812 patients, and
    # 1,812 × 0.175 = 317.1 → 318 events such a trial would observe.
    ois = g.ois_binary(0.20, rrr=0.25, alpha=0.05, power=0.80)
    assert ois.n_per_group == pytest.approx(905.37, abs=0.01)
    assert (ois.participants, ois.events) == (1_812, 318)
    assert abs(ois.participants - 2_000) / 2_000 < 0.10  # read off GRADE's figure
    assert ois.basis == "RRR 25%, control risk 20%, α 0.05, power 0.8"


@pytest.mark.parametrize("case", REFERENCE["binary"], ids=lambda c: f"p{c['control_risk']}")
def test_ois_binary_matches_r_power_prop_test(case):
    ois = g.ois_binary(case["control_risk"], case["rrr"], case["alpha"], case["power"])
    assert ois.n_per_group == pytest.approx(case["n_per_group"], rel=1e-9)
    assert ois.participants == 2 * math.ceil(case["n_per_group"])


@pytest.mark.parametrize("case", REFERENCE["continuous"], ids=lambda c: f"d{c['difference']}")
def test_ois_continuous_matches_r_power_t_test(case):
    ois = g.ois_continuous(case["difference"], case["sd"], case["alpha"], case["power"])
    assert ois.n_per_group == pytest.approx(case["n_per_group"], rel=1e-8)
    assert ois.participants == 2 * math.ceil(case["n_per_group"]) and ois.events is None


def test_ois_rejects_impossible_planning_values():
    with pytest.raises(EvsynthError, match="control_risk, rrr, alpha and power"):
        g.ois_binary(1.2)
    with pytest.raises(EvsynthError, match="difference and sd must be positive"):
        g.ois_continuous(0.0, 1.0)


# --- absolute effects ------------------------------------------------------------------------


def test_treat_risk_follows_gradepro_formulas_for_rr_or_hr():
    # ACR 10%: RR 0.5 → 5%; OR 0.5 → 0.05/(0.9 + 0.05) = 0.0526316; HR 0.5 → 1 − 0.9^0.5.
    assert g.treat_risk(0.5, 0.10, "RR") == pytest.approx(0.05)
    assert g.treat_risk(0.5, 0.10, "OR") == pytest.approx(0.05 / 0.95)
    assert g.treat_risk(0.5, 0.10, "HR") == pytest.approx(1 - math.sqrt(0.9))


@pytest.mark.parametrize(
    ("x", "text"), [(-12.3, "12 fewer"), (3.4, "3 more"), (0.09, "0 more"), (0.0, "0")]
)
def test_per_1000_text(x, text):
    assert g.per_1000_text(x) == text


# --- imprecision -----------------------------------------------------------------------------


def test_brief_footnote_example_ci_crossing_the_null_and_short_of_the_ois():
    # The CI of the risk difference 12 fewer to 3 more per 1000 at a control risk of 4%
    # (RR 0.70 to 1.075): crosses 0. 300 events against the OIS computed at RRR 25%, control
    # risk 4%, α 0.05, power 0.8: 5,300.74 per group (R power.prop.test) → 10,602 patients,
    # × (0.04 + 0.03)/2 = 371.07 → 372 events.
    inp = inputs(estimate=0.85, ci_low=0.70, ci_high=1.075, control_risk=0.04, events=300)
    d = judge_imprecision(inp, g.ImprecisionSettings())
    assert (d.levels, d.judgement) == (1, "serious")
    assert d.footnote == (
        "Imprecision (−1): the 95% CI of the risk difference, 12 fewer to 3 more per 1000, "
        "crosses the threshold of no effect (0 per 1000); 300 events, below the optimal "
        "information size of 372 events (RRR 25%, control risk 4%, α 0.05, power 0.8)."
    )


def test_grade_6_stroke_example_precise_at_one_threshold_imprecise_at_another():
    # GRADE guidelines 6, Fig. 1: absolute reduction in strokes 1.3% (95% CI 0.6% to 2.0%).
    # A threshold of 0.5% (NNT 200): "the entire CI (0.6% to 2.0%) … lies to the left of the
    # clinical decision threshold" — precise. A threshold of 1% (NNT 100): the CI crosses it —
    # imprecise. As a risk difference per 1000: −13 (−20 to −6); MIDs 5 and 10 per 1000.
    inp = inputs(measure="RD", kind="difference", estimate=-0.013, ci_low=-0.020, ci_high=-0.006)
    precise = judge_imprecision(inp, g.ImprecisionSettings(mid_per_1000=g.Mid(5, 5)))
    assert precise.levels == 0 and "20 fewer to 6 fewer per 1000, does not cross" in precise.reason
    imprecise = judge_imprecision(inp, g.ImprecisionSettings(mid_per_1000=g.Mid(10, 10)))
    assert imprecise.levels == 1
    assert "crosses the MID for benefit (10 fewer per 1000)" in imprecise.reason


def test_grade_6_appreciable_benefit_and_harm_costs_two_levels_without_a_mid():
    # GRADE guidelines 6: "If the 95% CI includes appreciable benefit or harm (we suggest an
    # RR of under 0.75 or over 1.25 as a rough guide) rating down … may be appropriate".
    wide = judge_imprecision(
        inputs(estimate=0.94, ci_low=0.69, ci_high=1.29), g.ImprecisionSettings()
    )
    assert (wide.levels, wide.judgement) == (2, "very serious")
    assert (
        "includes both appreciable benefit and appreciable harm (RR below 0.75 and above 1.25)"
        in wide.reason
    )
    one_side = judge_imprecision(
        inputs(estimate=0.94, ci_low=0.76, ci_high=1.29), g.ImprecisionSettings()
    )
    assert one_side.levels == 1


def test_any_fracture_ci_ending_at_one_is_not_imprecise_with_the_null_as_threshold():
    # The brief's example: any fracture RR 0.95 (0.91 to 1.00) — here the shipped analysis'
    # RR 0.954 (0.9083 to 1.0015) at its control risk of 6.04%: risk difference 5.5 fewer to
    # 0.09 more per 1000. With ~75,000 participants and thousands of events (6,000 here, an
    # illustration) the OIS at RRR 25% (≈ 550 events) is met. The upper bound lies 0.09 per
    # 1000 beyond 0, within half a person per 1000: it touches the null, it does not cross it
    # (Zeng et al. 2025: rating down "due simply to crossing the null is inappropriate").
    inp = inputs(
        estimate=0.954, ci_low=0.9083, ci_high=1.0015, control_risk=0.0604,
        participants=75_000, events=6_000,
    )  # fmt: skip
    d = judge_imprecision(inp, g.ImprecisionSettings())
    assert (d.levels, d.judgement) == (0, "not serious")
    assert "6 fewer to 0 more per 1000, does not cross the threshold of no effect" in d.reason
    assert "its upper bound, 0.09 more per 1000, is within half a person per 1000" in d.reason
    assert "6,000 events, at least the optimal information size of" in d.reason
    # Without a control risk the RR is judged as reported (2 decimals): 1.0015 shows as 1.00.
    relative = judge_imprecision(replace(inp, control_risk=None), g.ImprecisionSettings())
    assert (
        relative.levels == 0
        and "does not cross the threshold of no effect (RR 1.00)" in relative.reason
    )
    # An upper bound of 1.02 is 1.2 more per 1000: a real crossing.
    crossing = judge_imprecision(replace(inp, ci_high=1.02), g.ImprecisionSettings())
    assert crossing.levels == 1 and "crosses the threshold of no effect" in crossing.reason


def test_a_resolution_of_zero_makes_any_crossing_count():
    inp = inputs(estimate=0.954, ci_low=0.9083, ci_high=1.0015, control_risk=0.0604)
    assert judge_imprecision(inp, g.ImprecisionSettings(resolution_per_1000=0.0)).levels == 1


def test_little_or_no_effect_target_with_mids_zeng_2025():
    # Zeng et al. 2025: "If the entire CI falls within the range of little or no effect, they
    # will not rate down for imprecision. Otherwise (if the CI includes an important effect),
    # they will rate down." The same CI (5.5 fewer to 0.09 more per 1000) against MIDs of 10
    # per 1000: inside; against a MID for benefit of 5 per 1000: crosses it.
    inp = inputs(estimate=0.954, ci_low=0.9083, ci_high=1.0015, control_risk=0.0604)
    inside = judge_imprecision(inp, g.ImprecisionSettings(mid_per_1000=g.Mid(10, 10)))
    assert inside.levels == 0
    assert (
        "does not cross the MID for benefit (10 fewer per 1000) or the MID for harm"
        in inside.reason
    )
    crossing = judge_imprecision(inp, g.ImprecisionSettings(mid_per_1000=g.Mid(5, 10)))
    assert (
        crossing.levels == 1 and "crosses the MID for benefit (5 fewer per 1000)" in crossing.reason
    )


def test_ci_crossing_both_mids_is_very_serious():
    # GRADE guidance 34: a CI that includes important benefit and important harm.
    inp = inputs(estimate=0.9, ci_low=0.6, ci_high=1.4, control_risk=0.10)  # −40 to +40 per 1000
    d = judge_imprecision(inp, g.ImprecisionSettings(mid_per_1000=g.Mid(20, 20)))
    assert d.levels == 2
    assert (
        "crosses the MID for benefit (20 fewer per 1000) and the MID for harm (20 more per 1000)"
        in d.reason
    )


def test_beneficial_outcome_puts_the_mid_for_benefit_above_the_null():
    # Higher is better (e.g. remission): benefit means more events, so the MID for benefit is
    # +10 per 1000 and the MID for harm −10 per 1000.
    inp = inputs(higher_is="better", estimate=1.2, ci_low=1.05, ci_high=1.35, control_risk=0.10)
    d = judge_imprecision(inp, g.ImprecisionSettings(mid_per_1000=g.Mid(10, 10)))
    assert d.levels == 1 and "crosses the MID for benefit (10 more per 1000)" in d.reason


def test_ois_not_met_costs_one_level_when_the_ci_crosses_nothing():
    # GRADE guidelines 6: CI excludes RR 1 but the events fall short of the OIS.
    inp = inputs(estimate=0.5, ci_low=0.3, ci_high=0.8, events=120, control_risk=0.10)
    d = judge_imprecision(inp, g.ImprecisionSettings())
    assert d.levels == 1 and "120 events, below the optimal information size of" in d.reason
    met = judge_imprecision(replace(inp, events=2_000), g.ImprecisionSettings())
    assert met.levels == 0


def test_far_below_the_ois_costs_two_levels_only_when_set():
    # GRADE guidance 34: "If the sample size … is far less than the OIS, one should consider
    # rating down more than one level" — ``ois_far_below`` makes "far" explicit.
    inp = inputs(estimate=0.5, ci_low=0.3, ci_high=0.8, events=100)
    explicit = g.OisSettings(events=300)
    assert judge_imprecision(inp, g.ImprecisionSettings(ois=explicit)).levels == 1
    rule = g.ImprecisionSettings(ois=explicit, ois_far_below=0.5)
    assert judge_imprecision(inp, rule).levels == 2
    assert judge_imprecision(replace(inp, events=160), rule).levels == 1


def test_explicit_ois_in_participants_and_unknown_events():
    inp = inputs(estimate=0.5, ci_low=0.3, ci_high=0.8, events=None, participants=900)
    rule = g.ImprecisionSettings(ois=g.OisSettings(participants=1_000))
    d = judge_imprecision(inp, rule)
    assert (
        d.levels == 1
        and "900 participants, below the optimal information size of 1,000 participants" in d.reason
    )
    events_rule = g.ImprecisionSettings(ois=g.OisSettings(events=300))
    unknown = judge_imprecision(inp, events_rule)
    assert unknown.levels == 0
    assert (
        "was not checked: total events unknown (some trials entered as published estimates)"
        in unknown.reason
    )


def test_computed_binary_ois_falls_back_to_participants_when_events_are_unknown():
    inp = inputs(estimate=0.5, ci_low=0.3, ci_high=0.8, events=None, participants=1_000)
    d = judge_imprecision(inp, g.ImprecisionSettings())
    needed = g.ois_binary(0.10).participants
    assert (
        d.levels == 1
        and f"1,000 participants, below the optimal information size of {needed:,}" in d.reason
    )


def test_continuous_outcome_judged_on_its_own_scale_with_ois_from_mid_and_sd():
    # MD −6 (−9 to −3) points, MID 5 (benefit = lower scores when higher is worse): the CI
    # crosses −5. With MID 2 it does not, and the OIS from MID 2, SD 10 (power.t.test
    # 393.4 per group → 788) is compared with the participants.
    md = dict(measure="MD", kind="difference", estimate=-6.0, ci_low=-9.0, ci_high=-3.0,
              control_risk=None, events=None, participants=1_000, pi_low=None, pi_high=None)  # fmt: skip
    inp = inputs(**md)
    crossing = judge_imprecision(inp, g.ImprecisionSettings(mid=g.Mid(5, 5)))
    assert (
        crossing.levels == 1
        and "the 95% CI of the MD, -9 to -3, crosses the MID for benefit (MD -5)" in crossing.reason
    )
    rule = g.ImprecisionSettings(mid=g.Mid(2, 2), ois=g.OisSettings(sd=10.0))
    ok = judge_imprecision(inp, rule)
    assert (
        ok.levels == 0
        and "1,000 participants, at least the optimal information size of 788 participants"
        in ok.reason
    )
    short = judge_imprecision(replace(inp, participants=700), rule)
    assert short.levels == 1


def test_smd_without_mid_uses_half_an_sd_for_appreciable_effects():
    # GRADE handbook, as summarised in KCE process book §5.5.1.2: without a MID, "downgrading if the upper or
    # lower CI crosses an effect size of 0.5 in either direction".
    smd = dict(measure="SMD", kind="difference", control_risk=None, pi_low=None, pi_high=None)
    wide = judge_imprecision(
        inputs(**smd, estimate=0.0, ci_low=-0.6, ci_high=0.6), g.ImprecisionSettings()
    )
    assert wide.levels == 2 and "includes effects beyond 0.5 SD in both directions" in wide.reason
    narrow = judge_imprecision(
        inputs(**smd, estimate=0.1, ci_low=-0.4, ci_high=0.6), g.ImprecisionSettings()
    )
    assert narrow.levels == 1


def test_ratio_mid_on_the_relative_scale():
    # No control risk: a ratio MID is a relative change, 0.25 → RR 0.75 (benefit), 1.25 (harm).
    inp = inputs(control_risk=None, estimate=0.7, ci_low=0.6, ci_high=0.8)
    d = judge_imprecision(inp, g.ImprecisionSettings(mid=g.Mid(0.25, 0.25)))
    assert d.levels == 1 and "crosses the MID for benefit (RR 0.75)" in d.reason
    with pytest.raises(EvsynthError, match="relative change below 1"):
        g.judgement_scale(inp, g.ImprecisionSettings(mid=g.Mid(1.5, 0.25)))


def test_ois_not_checked_without_planning_values():
    inp = inputs(measure="MD", kind="difference", estimate=1.0, ci_low=0.5, ci_high=1.5,
                 control_risk=None, pi_low=None, pi_high=None)  # fmt: skip
    d = judge_imprecision(inp, g.ImprecisionSettings())
    assert d.levels == 0 and "the optimal information size was not checked" in d.reason


# --- risk of bias ----------------------------------------------------------------------------


def test_risk_of_bias_serious_from_half_the_weight_at_high_risk():
    # GRADE guidelines 4 (KCE §5.2.2): rate down only with substantial risk of bias "across
    # most of the body of available evidence": serious from 50% of the weight (the default).
    trials = [trial("A", 3.0, overall="high"), trial("B", 3.0, overall="low")]
    d = g.risk_of_bias(trials, g.RiskOfBiasSettings())
    assert (d.levels, d.judgement) == (1, "serious")
    assert d.reason.startswith(
        "trials at high risk of bias carry 50.0% of the weight (A 50.0%: overall judgement)"
    )
    below = [trial("A", 2.9, overall="high"), trial("B", 3.1, overall="low")]
    assert g.risk_of_bias(below, g.RiskOfBiasSettings()).levels == 0


def test_trial_judgement_is_the_worst_of_overall_and_domains():
    # RoB 2: the overall judgement is at least as severe as the worst domain.
    t = trial("A", 1.0, overall="low", missing_data="high", measurement="some concerns")
    risk = g.trial_risk(t, 0.2)
    assert risk.level == "high" and risk.why == ("missing outcome data",)
    domains_only = trial("B", 1.0, randomisation="low", deviations="some concerns")
    assert g.trial_risk(domains_only, 0.2).level == "some concerns"


def test_attrition_above_threshold_is_at_least_some_concerns():
    assert g.trial_risk(trial("A", 1.0, attrition=0.25, overall="low"), 0.2) == g.TrialRisk(
        "some concerns", ("attrition 25%",)
    )
    assert g.trial_risk(trial("A", 1.0, attrition=0.15, overall="low"), 0.2).level == "low"
    assert g.trial_risk(trial("A", 1.0, attrition=0.25, overall="high"), 0.2).level == "high"


def test_concerns_share_rule_counts_unjudged_trials_as_some_concerns():
    trials = [
        trial("A", 0.3, attrition=0.3, overall="low"),
        trial("B", 0.3),  # no judgement
        trial("C", 0.4, overall="low"),
    ]
    off = g.risk_of_bias(trials, g.RiskOfBiasSettings())
    assert off.levels == 0
    assert "trials with some concerns 30.0% (A 30.0%: attrition 30%)" in off.reason
    assert (
        "trials without a risk-of-bias judgement 30.0%, counted as some concerns (B 30.0%)"
        in off.reason
    )
    on = g.risk_of_bias(trials, g.RiskOfBiasSettings(serious_concerns_share=0.6))
    assert on.levels == 1 and "some concerns or worse 60.0% (serious from 60%)" in on.reason


def test_very_serious_risk_of_bias_only_when_set():
    trials = [trial("A", 0.9, overall="high"), trial("B", 0.1, overall="low")]
    assert g.risk_of_bias(trials, g.RiskOfBiasSettings()).levels == 1
    rule = g.RiskOfBiasSettings(very_serious_high_share=0.8)
    assert g.risk_of_bias(trials, rule).levels == 2


def test_risk_of_bias_not_assessed_says_so_plainly():
    d = g.risk_of_bias([trial("A", 1.0), trial("B", 1.0)], g.RiskOfBiasSettings())
    assert (d.levels, d.judgement) == (0, "not assessed")
    assert (
        d.reason
        == "no risk-of-bias judgements were given for the trials: not judged by the review authors"
    )


def test_equal_shares_when_no_weights():
    trials = [trial("A", 0.0, overall="high"), trial("B", 0.0, overall="low")]
    assert g.risk_of_bias(trials, g.RiskOfBiasSettings()).levels == 1  # 50% each


# --- inconsistency ---------------------------------------------------------------------------


def test_single_trial_inconsistency_not_assessed():
    d = judge_inconsistency(inputs(k=1, trials=(trial("A", 1.0, 0.8, 0.72, 0.89),)))
    assert (d.levels, d.judgement) == (0, "not assessed")


def test_large_i2_with_every_estimate_on_one_side_is_not_serious():
    # GRADE guidance 36: reviewers need to understand contexts when I² is large but
    # inconsistency is not important — all estimates beneficial.
    trials = (trial("A", 0.5, 0.5, 0.4, 0.62), trial("B", 0.5, 0.85, 0.78, 0.93))
    inp = inputs(i2=85.0, trials=trials, k=2, pi_low=None, pi_high=None)
    d = judge_inconsistency(inp)
    assert d.levels == 0 and "point estimates on one side of the threshold of no effect" in d.reason


def test_inconsistency_without_trial_estimates_says_so():
    d = judge_inconsistency(inputs(trials=(), k=3, pi_low=None, pi_high=None))
    assert (
        d.levels == 0
        and d.reason == "I² = 0%, τ² = 0.000 (3 trials); the trials' estimates were not given"
    )


def test_non_overlapping_cis_on_opposite_sides_are_serious():
    # Core GRADE 3: minimally overlapping CIs with point estimates on opposite sides.
    trials = (trial("A", 0.5, 0.6, 0.5, 0.75), trial("B", 0.5, 1.3, 1.1, 1.5))
    inp = inputs(
        i2=40.0,
        trials=trials,
        k=2,
        estimate=0.88,
        ci_low=0.6,
        ci_high=1.3,
        pi_low=None,
        pi_high=None,
    )
    d = judge_inconsistency(inp)
    assert d.levels == 1
    assert d.reason.startswith(
        "the CIs of A and B do not overlap and their point estimates lie on opposite sides"
    )
    very = judge_inconsistency(replace(inp, i2=80.0))
    assert very.levels == 2 and "I² of 80% (at least 50%)" in very.reason
    off = judge_inconsistency(replace(inp, i2=80.0), g.InconsistencySettings(i2_very_serious=None))
    assert off.levels == 1


def test_i2_with_estimates_on_both_sides_is_serious_even_if_cis_overlap():
    trials = (trial("A", 0.5, 0.7, 0.5, 1.05), trial("B", 0.5, 1.2, 0.95, 1.5))
    inp = inputs(
        i2=55.0,
        trials=trials,
        k=2,
        estimate=0.92,
        ci_low=0.7,
        ci_high=1.2,
        pi_low=None,
        pi_high=None,
    )
    assert judge_inconsistency(inp).levels == 1
    assert judge_inconsistency(replace(inp, i2=45.0)).levels == 0


def test_prediction_interval_crossing_a_threshold_the_ci_does_not_cross():
    inp = inputs(pi_low=0.55, pi_high=1.2, i2=30.0)  # CI 0.72 to 0.89 excludes 1
    d = judge_inconsistency(inp)
    assert d.levels == 1
    assert (
        "the 95% prediction interval, 0.55 to 1.20, crosses the threshold of no effect (0 per 1000) while the CI, 0.72 to 0.89, does not"
        in d.reason
    )
    assert judge_inconsistency(inp, g.InconsistencySettings(prediction_interval=False)).levels == 0


def test_inconsistency_thresholds_follow_the_mids():
    # With MIDs of 10 per 1000 (control risk 10%: RR 0.9 and 1.1) estimates of RR 0.5 and 0.95
    # lie in different zones (important benefit vs little or no effect).
    trials = (trial("A", 0.5, 0.5, 0.4, 0.62), trial("B", 0.5, 0.95, 0.88, 1.02))
    inp = inputs(
        trials=trials, k=2, estimate=0.7, ci_low=0.45, ci_high=1.0, pi_low=None, pi_high=None
    )
    assert judge_inconsistency(inp).levels == 0  # same side of the null
    with_mid = judge_inconsistency(inp, mid_per_1000=g.Mid(10, 10))
    assert (
        with_mid.levels == 1
        and "opposite sides of the MID for benefit (10 fewer per 1000)" in with_mid.reason
    )


# --- publication bias, indirectness ----------------------------------------------------------


def test_egger_only_from_ten_trials():
    # Sterne et al. 2011; Cochrane Handbook 5.1 §10.4.3.1: tests for funnel-plot asymmetry
    # only with at least 10 studies.
    few = g.publication_bias(inputs(k=8, egger_k=8, egger_p=0.01), g.PublicationBiasSettings())
    assert (few.levels, few.judgement) == (0, "not assessed")
    assert (
        few.reason
        == "Egger's test not interpreted with 8 trials (it needs at least 10): not judged by the review authors"
    )
    many = g.publication_bias(inputs(k=12, egger_k=12, egger_p=0.03), g.PublicationBiasSettings())
    assert many.levels == 1 and many.reason.startswith(
        "Egger's test for funnel-plot asymmetry P = 0.03 (12 trials), below 0.1"
    )
    fine = g.publication_bias(inputs(k=12, egger_k=12, egger_p=0.40), g.PublicationBiasSettings())
    assert fine.levels == 0 and fine.judgement == "not serious"
    missing = g.publication_bias(
        inputs(k=12, egger_k=None, egger_p=None), g.PublicationBiasSettings()
    )
    assert missing.judgement == "not assessed"


def test_reviewer_judgement_replaces_the_rule_and_keeps_its_numbers():
    judged = g.GradeSettings(
        judgements={"publication_bias": g.ReviewerJudgement(1, "all trials industry funded")}
    )
    c = g.grade(inputs(k=8, egger_k=8, egger_p=0.5), judged)
    d = c.domains[4]
    assert (d.name, d.levels, d.judgement) == ("Publication bias", 1, "serious")
    assert d.reason.startswith(
        "all trials industry funded (judged by the review authors; by the rule: not assessed, Egger's test not interpreted with 8 trials"
    )
    assert d.footnote.startswith("Publication bias (−1): all trials industry funded")


def test_indirectness_without_a_judgement_says_not_judged():
    d = g.indirectness(None)
    assert (d.levels, d.judgement, d.reason) == (
        0,
        "not assessed",
        "not judged by the review authors",
    )
    given = g.indirectness(g.ReviewerJudgement(1, "older population than the question"))
    assert given.levels == 1 and given.footnote == (
        "Indirectness (−1): older population than the question (judged by the review authors)."
    )


# --- certainty -------------------------------------------------------------------------------


def test_high_certainty_when_nothing_is_downgraded():
    c = g.grade(inputs(), g.GradeSettings())
    assert (c.level, c.label, c.symbols, c.downgrades) == (4, "high", "⊕⊕⊕⊕", ())
    assert [d.name for d in c.domains] == [
        "Risk of bias",
        "Inconsistency",
        "Indirectness",
        "Imprecision",
        "Publication bias",
    ]


def test_certainty_floor_at_very_low_and_start_setting():
    worst = inputs(
        estimate=0.94, ci_low=0.69, ci_high=1.29,
        trials=(trial("A", 0.6, 0.6, 0.5, 0.75, overall="high"), trial("B", 0.4, 1.3, 1.1, 1.5)),
        k=2, i2=80.0, pi_low=None, pi_high=None,
    )  # fmt: skip
    c = g.grade(worst, g.GradeSettings())
    assert sum(d.levels for d in c.domains) == 5  # RoB 1 + inconsistency 2 + imprecision 2
    assert (c.level, c.label, c.symbols) == (1, "very low", "⊕⊝⊝⊝")
    moderate = g.grade(
        inputs(estimate=0.9, ci_low=0.76, ci_high=1.07), g.GradeSettings(start="moderate")
    )
    assert (moderate.level, moderate.label) == (2, "low")


def test_inputs_are_checked():
    with pytest.raises(AnalysisInputError, match="excludes"):
        inputs(estimate=1.5)
    with pytest.raises(AnalysisInputError, match="control risk"):
        inputs(control_risk=1.2)


# --- settings from report.yaml ---------------------------------------------------------------

YAML = {
    "start": "high",
    "risk_of_bias": {"serious_high_share": 0.5},
    "imprecision": {"resolution_per_1000": 1, "ois": {"rrr": 0.25, "alpha": 0.05}},
    "outcomes": {
        "fractures-total": {
            "imprecision": {"mid_per_1000": {"benefit": 10, "harm": 5}, "ois": {"rrr": 0.2}},
            "judgements": {"indirectness": {"levels": 0, "reason": "the population of interest"}},
        }
    },
}


def test_settings_merge_outcome_over_review_wide_values():
    s = g.grade_settings(YAML, "fractures-total")
    assert s.imprecision.mid_per_1000 == g.Mid(10.0, 5.0)
    assert (s.imprecision.ois.rrr, s.imprecision.ois.alpha) == (0.2, 0.05)
    assert s.judgements["indirectness"] == g.ReviewerJudgement(0, "the population of interest")
    other = g.grade_settings(YAML, "kidney-stones")
    assert other.imprecision.mid_per_1000 is None and other.imprecision.ois.rrr == 0.25
    assert other.judgements == {}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"imprecision": {"mdi": 5}}, "grade.imprecision: unknown key"),
        (
            {"risk_of_bias": {"serious_high_share": 1.5}},
            "serious_high_share: 1.5 must be between 0 and 1",
        ),
        ({"imprecision": {"mid_per_1000": -3}}, "a MID must be positive"),
        ({"imprecision": {"mid_per_1000": {"benefit": 3}}}, "give both benefit and harm"),
        ({"publication_bias": {"min_k": 9.5}}, "is not a whole number"),
        ({"inconsistency": {"prediction_interval": "yes"}}, "use true or false"),
        ({"start": "excellent"}, "grade.start"),
        (
            {"outcomes": {"x": {"judgements": {"indirectness": {"levels": 3, "reason": "r"}}}}},
            "use 0, 1 or 2",
        ),
        (
            {"outcomes": {"x": {"judgements": {"indirectness": {"levels": 1, "reason": ""}}}}},
            "say why",
        ),
        (
            {"outcomes": {"x": {"judgements": {"directness": {"levels": 1, "reason": "r"}}}}},
            "unknown key",
        ),
        ({"imprecision": {"appreciable_ratio": [1.2, 1.25]}}, "below 1, above 1"),
    ],
)
def test_settings_errors_name_the_key(patch, message):
    with pytest.raises(g.GradeSettingsError, match=message):
        g.grade_settings({**YAML, **patch}, "x", source="config/report.yaml")
