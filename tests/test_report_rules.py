# Expected sentences are kept whole, on one line each, so they read as the report prints them.
# ruff: noqa: E501
"""The rules that turn results into words: number formats, GRADE domains, sentence choice.

Each rule is exercised on both sides of its threshold, so a change of data that crosses a
threshold is seen to flip the sentence.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml
from test_report_content import make_results, pooled

from evsynth import format as fmt
from evsynth.report import conclusions as rules
from evsynth.report import grade

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = yaml.safe_load((ROOT / "config" / "report.yaml").read_text(encoding="utf-8"))


def hip():
    return copy.deepcopy(make_results()["fractures"]["analyses"][0])


def stones():
    return copy.deepcopy(make_results()["kidney_stones"]["analyses"][0])


# --- format ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "args", "expected"),
    [
        (fmt.ratio, (0.8861,), "0.89"),
        (fmt.ratio, (None,), "—"),
        (fmt.interval, (0.78, 0.9912), "0.78 to 0.99"),
        (fmt.p_value, (0.00004,), "P < 0.001"),
        (fmt.p_value, (0.0042,), "P = 0.004"),
        (fmt.p_value, (0.2544,), "P = 0.25"),
        (fmt.p_value, (0.9999,), "P = 1.00"),
        (fmt.count, (18176,), "18,176"),
        (fmt.count, (float("nan"),), "—"),
        (fmt.percent, (11.555,), "12%"),
        (fmt.share, (0.375,), "38%"),
        (fmt.tau2, (0.0065285,), "0.007"),
        (fmt.tau2, (0.0002,), "< 0.001"),
        (fmt.value, (-257.0,), "-257"),
        (fmt.value, (0.04,), "0.04"),
        (fmt.years, (7,), "7.0"),
    ],
)
def test_revman_like_formats(func, args, expected):
    assert func(*args) == expected


# --- GRADE ----------------------------------------------------------------------------------


def test_risk_of_bias_downgrades_when_open_label_weight_reaches_the_threshold():
    a = hip()
    assert grade.risk_of_bias(a, SETTINGS["grade"]["risk_of_bias"]).levels == 0
    a["studies"][0]["blinding"] = "open"  # now 100% of the weight is open-label
    d = grade.risk_of_bias(a, SETTINGS["grade"]["risk_of_bias"])
    assert (
        d.levels == 1 and d.reason == "serious: 100% of the weight from open-label trials (2 of 2)"
    )


def test_inconsistency_from_i2_and_from_the_prediction_interval():
    a = hip()
    rules_ = SETTINGS["grade"]["inconsistency"]
    assert grade.inconsistency(a, rules_).levels == 0
    a["overall"]["i2"] = 62.0
    assert grade.inconsistency(a, rules_).reason == "serious: I² = 62% (above 50%)"
    b = hip()
    b["overall"] = pooled(0.81, 0.70, 0.94, 0.01, 2, i2=30.0, pi=(0.55, 1.2))
    d = grade.inconsistency(b, rules_)
    assert d.levels == 1 and "prediction interval (0.55 to 1.20) includes no effect" in d.reason


def test_imprecision_levels_from_ci_thresholds_and_events():
    rules_ = SETTINGS["grade"]["imprecision"]
    a = hip()
    assert grade.imprecision(a, rules_).levels == 1  # CI 0.62 to 1.04 crosses 1
    a["overall"] = pooled(0.9, 0.6, 1.4, 0.5, 2)
    assert grade.imprecision(a, rules_).levels == 2  # crosses 0.75 and 1.25
    a["overall"] = pooled(0.8, 0.7, 0.9, 0.001, 2)
    d = grade.imprecision(a, rules_)
    assert (
        d.levels == 1
        and d.reason == "serious: 158 events, fewer than the optimal information size of 300"
    )
    a["studies"][0]["events_treat"] = 400
    assert grade.imprecision(a, rules_).levels == 0


def test_publication_bias_only_from_ten_trials():
    rules_ = SETTINGS["grade"]["publication_bias"]
    a = hip()
    a["egger"] = {"p_value": 0.03, "k": 2}
    assert grade.publication_bias(a, rules_).levels == 0  # k = 2 < 10: not assessable
    a["overall"]["k"] = 12
    d = grade.publication_bias(a, rules_)
    assert d.levels == 1 and d.reason == "suspected: Egger's test P = 0.03"
    a["egger"]["p_value"] = 0.4
    assert grade.publication_bias(a, rules_).levels == 0


def test_certainty_symbols_and_floor():
    a = hip()
    a["overall"] = pooled(0.9, 0.6, 1.4, 0.5, 2, i2=70.0)
    a["studies"][0]["blinding"] = "open"
    c = grade.certainty(a, SETTINGS)
    assert (c.level, c.label, c.symbols) == (1, "very low", "⊕⊝⊝⊝")
    assert [d.name for d in c.downgrades] == ["Risk of bias", "Inconsistency", "Imprecision"]


# --- sentences ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "benefit", "no_difference"),
    [
        (
            4,
            "Vitamin D reduces hip fracture",
            "Vitamin D makes little or no difference to hip fracture",
        ),
        (
            3,
            "Vitamin D probably reduces hip fracture",
            "Vitamin D probably makes little or no difference to hip fracture",
        ),
        (
            2,
            "Vitamin D may reduce hip fracture",
            "Vitamin D may make little or no difference to hip fracture",
        ),
        (
            1,
            "The evidence is very uncertain about the effect of vitamin D on hip fracture",
            "The evidence is very uncertain about the effect of vitamin D on hip fracture",
        ),
    ],
)
def test_grade_wording_by_certainty_and_direction(level, benefit, no_difference):
    cert = grade.Certainty(level, SETTINGS["grade"]["labels"][level], grade.SYMBOLS[level])
    a = hip()
    assert rules.effect_statement(a, cert, SETTINGS) == no_difference
    a["overall"] = pooled(0.81, 0.70, 0.94, 0.01, 2)
    assert rules.effect_statement(a, cert, SETTINGS) == benefit


def test_harm_direction_when_ci_above_one():
    a = stones()
    assert rules.direction(a) == "harm"
    a["overall"] = pooled(1.05, 0.9, 1.2, 0.4, 1)
    assert rules.direction(a) == "no_difference"
    a["events_are"] = "beneficial"
    a["overall"] = pooled(1.17, 1.03, 1.34, 0.02, 1)
    assert rules.direction(a) == "benefit"


def test_subgroup_sentence_flips_at_the_threshold():
    a = hip()
    text = rules.subgroup_sentence(a, "dose_band", SETTINGS)
    assert text.startswith(
        "The effect on hip fracture differs by daily-equivalent dose"
    )  # P = 0.09 < 0.10
    a["subgroups"]["dose_band"]["p_value"] = 0.27
    assert rules.subgroup_sentence(a, "dose_band", SETTINGS).startswith(
        "No evidence of a difference in the effect on hip fracture between daily-equivalent dose subgroups"
    )


def test_dose_sentence_flips_with_the_slope_p_value():
    a = hip()
    text = rules.dose_sentence(a, "daily_equivalent_iu", SETTINGS)
    ratio = fmt.ratio(math.exp(1000 * -0.0005))
    assert text == (
        f"No evidence that the effect on hip fracture changes with the daily dose (RR ratio per 1,000 IU/day "
        f"{ratio} (95% CI 0.22 to 1.65); P = 0.33; 2 trials)."
    )
    a["meta_regression"]["daily_equivalent_iu"]["p_value"][1] = 0.01
    assert rules.dose_sentence(a, "daily_equivalent_iu", SETTINGS).startswith(
        "Higher daily doses go with a larger benefit on hip fracture"
    )


def test_nnh_sentence_needs_a_risk_difference_ci_above_zero():
    nnt = stones()["single_trial_nnt"]
    text = rules.nnh_sentence(nnt, "kidney stones", "WHI")
    assert text.startswith(
        "In WHI, over 7.0 years, one additional person had kidney stones for every 273 treated"
    )
    nnt = {**nnt, "rd_ci_low": -0.001, "ci_label": "NNTH 150 to ∞ to NNTB 1,000"}
    assert rules.nnh_sentence(nnt, "kidney stones", "WHI").startswith(
        "In WHI, over 7.0 years, no clear difference in kidney stones (NNTH 273, 95% CI NNTH 150 to ∞ to NNTB 1,000"
    )


def test_marker_rule_uses_the_published_ci_then_p_and_never_invents_numbers():
    markers = make_results()["avadec_markers"]["markers"][0]["markers"]
    valve, mgp, velocity, eat = markers
    assert rules.marker_effect(valve)["verdict"] == "no_difference"
    assert rules.marker_effect(mgp)["verdict"] == "changed"  # P <0.001
    assert (
        rules.marker_effect(velocity)["verdict"] == "no_difference"
    )  # inconsistent CI: falls back to P 0.21
    assert (
        rules.marker_sentence(eat, SETTINGS)
        == "EAT attenuation: numbers not available in the extracted sources."
    )
    flipped = {**valve, "md_ci_low": 5.0, "md_ci_high": 53.0}
    assert rules.marker_sentence(flipped, SETTINGS).startswith(
        "aortic valve calcification score: changed"
    )


def test_recommendation_flips_with_the_decision_markers():
    results = make_results()
    analyses = {a["id"]: a for ds in results.values() for a in ds["analyses"]}
    markers = results["avadec_markers"]["markers"][0]["markers"]
    recs = rules.recommendation(analyses, markers, SETTINGS)
    assert any(
        r.startswith("Do not add vitamin K2 expecting less valve or vascular calcification")
        for r in recs
    )
    markers[0] = {**markers[0], "md_ci_low": -100.0, "md_ci_high": -5.0, "mean_difference": -50.0}
    recs = rules.recommendation(analyses, markers, SETTINGS)
    assert not any(r.startswith("Do not add vitamin K2") for r in recs)
    assert any(r.startswith("AVADEC reported a change in a calcification measure") for r in recs)
