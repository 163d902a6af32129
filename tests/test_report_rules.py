"""The sentence rules of evsynth.report.rules and the GRADE inputs built from results: each
rule flips where its threshold says, with the review's words."""

from __future__ import annotations

import math

import pytest

from evsynth import format as fmt
from evsynth.report import rules
from evsynth.report.certainty import grade_inputs
from evsynth.report.settings import with_defaults

REVIEW = {"intervention": "exercise", "control": "usual care"}
SETTINGS = with_defaults({}, {"analyses": {"pain": {}}, "markers": {}})


def pooled(est: float, low: float, high: float, **extra: object) -> dict[str, object]:
    out: dict[str, object] = {
        "estimate": math.log(est),
        "ci_low": math.log(low),
        "ci_high": math.log(high),
        "estimate_exp": est,
        "ci_low_exp": low,
        "ci_high_exp": high,
        "trials": 4,
        "k": 4,
        "comparisons": 4,
        "p_value": 0.2,
        "i2": 30.0,
        "tau2": 0.01,
        "participants": 800,
        "participants_trials": 4,
        "events": 120,
        "pi_low_exp": None,
        "pi_high_exp": None,
        "pi_low": None,
        "pi_high": None,
        "model": "random",
    }
    out.update(extra)
    return out


def analysis(est: float, low: float, high: float, higher_is: str = "worse") -> dict[str, object]:
    return {
        "id": "pain",
        "title": "Chronic pain",
        "measure": "RR",
        "measures": ["RR"],
        "scale": "log",
        "level": 0.95,
        "higher_is": higher_is,
        "overall": pooled(est, low, high),
        "studies": [],
        "subgroups": {},
        "meta_regression": {},
    }


@pytest.mark.parametrize(
    ("est", "low", "high", "higher_is", "expected"),
    [
        (0.8, 0.7, 0.9, "worse", "benefit"),
        (0.8, 0.7, 0.9, "better", "harm"),
        (1.3, 1.1, 1.5, "worse", "harm"),
        (0.8, 0.6, 1.0, "worse", "no_difference"),  # a bound on the null includes it
        (0.8, 0.6, 1.1, "worse", "no_difference"),
    ],
)
def test_direction(est, low, high, higher_is, expected) -> None:
    assert rules.direction(analysis(est, low, high, higher_is)) == expected


def test_trials_counts_trials_and_names_comparisons() -> None:
    assert rules.trials({"trials": 1, "comparisons": 1}) == "1 trial"
    assert rules.trials({"trials": 7, "comparisons": 8}) == "7 trials (8 comparisons)"


def test_estimate_text_names_mixed_measures_and_the_level() -> None:
    a = analysis(0.8, 0.7, 0.9)
    assert rules.estimate_text(a) == "RR 0.80, 95% CI 0.70 to 0.90"
    a.update(measures=["RR", "HR"], level=0.9)
    assert rules.estimate_text(a) == "RR/HR 0.80, 90% CI 0.70 to 0.90"


def test_subgroup_sentence_flips_at_the_threshold() -> None:
    a = analysis(0.8, 0.7, 0.9)
    groups = [
        {"group": "short", **pooled(0.7, 0.6, 0.8)},
        {"group": "long", **pooled(0.95, 0.8, 1.1)},
    ]
    a["subgroups"] = {
        "duration": {
            "title": "Programme length",
            "groups": groups,
            "q_between": 3.0,
            "df": 1,
            "p_value": 0.099,
        }
    }
    assert rules.subgroup_sentence(a, "duration", SETTINGS).startswith(
        "The effect on chronic pain differs by programme length (short and long; "
    )
    a["subgroups"]["duration"]["p_value"] = 0.101
    assert rules.subgroup_sentence(a, "duration", SETTINGS).startswith(
        "No evidence of a difference in the effect on chronic pain between programme length"
    )


def test_regression_sentence_per_configured_units_and_flip() -> None:
    a = analysis(0.8, 0.7, 0.9)
    reg = {
        "variable": "weeks",
        "title": "Programme length",
        "unit": "weeks",
        "per": 10,
        "coef": [0.0, -0.02],
        "ci_low": [-0.1, -0.03],
        "ci_high": [0.1, -0.01],
        "p_value": [0.9, 0.049],
        "k": 6,
        "names": ["intercept", "weeks"],
    }
    text = rules.regression_sentence(a, reg, SETTINGS)
    assert f"by a factor of {fmt.ratio(math.exp(-0.2))} per 10 weeks" in text
    assert text.startswith("Higher programme length goes with a more favourable effect")
    reg["p_value"] = [0.9, 0.051]
    assert rules.regression_sentence(a, reg, SETTINGS).startswith("No evidence that the effect")
    reg["note"] = "not estimable: 2 trials"
    assert rules.regression_sentence(a, reg, SETTINGS) == (
        "Meta-regression on programme length: not estimable: 2 trials."
    )


def test_nnt_sentence_needs_a_risk_difference_ci_beyond_zero() -> None:
    nnt = {
        "label": "NNTH 273",
        "ci_label": "NNTH 148 to NNTH 1,712",
        "treat_risk": 0.0247,
        "control_risk": 0.021,
        "direction": "harm",
        "rd_ci_low": 0.0006,
        "rd_ci_high": 0.007,
        "rounded": 273,
        "follow_up_years": 7.0,
    }
    text = rules.nnt_sentence(nnt, "headache", "Trial A", "years")
    assert (
        text.startswith(
            "In Trial A, over 7.0 years, one additional person had headache for every 273 treated"
        )
        and "one trial's figure" in text
    )
    nnt["rd_ci_low"] = -0.001
    assert "no clear difference in headache" in rules.nnt_sentence(nnt, "headache", "A", "years")


def test_marker_effect_uses_the_published_ci_then_p_and_never_invents() -> None:
    assert (
        rules.marker_effect({"mean_difference": -5, "md_ci_low": -8, "md_ci_high": -2})["verdict"]
        == "changed"
    )
    assert (
        rules.marker_effect({"mean_difference": -5, "md_ci_low": -8, "md_ci_high": -2})["direction"]
        == "lowered"
    )
    assert (
        rules.marker_effect(
            {
                "change_treat": 3,
                "change_control": 1,
                "difference_of_changes": 2,
                "p_value": "<0.001",
            }
        )["direction"]
        == "raised"
    )
    assert (
        rules.marker_effect({"p_value": "0.2", "mean_difference": 1})["verdict"] == "no_difference"
    )
    assert rules.marker_effect({})["verdict"] is None and rules.marker_effect({})["numbers"] == ""


def test_grade_inputs_carry_trials_risk_of_bias_and_counts() -> None:
    a = analysis(0.8, 0.7, 0.9)
    a["studies"] = [
        {
            "label": "A",
            "weight_pct": 60.0,
            "yi_exp": 0.7,
            "ci_low_exp": 0.5,
            "ci_high_exp": 0.9,
            "risk_of_bias": {"overall": "high", "support": "open", "attrition": 0.3},
        },
        {
            "label": "B",
            "weight_pct": 40.0,
            "yi_exp": 0.9,
            "ci_low_exp": 0.7,
            "ci_high_exp": 1.1,
            "risk_of_bias": {},
        },
    ]
    a["absolute"] = {"control_risk": 0.1}
    inputs = grade_inputs(a)
    assert [t.weight for t in inputs.trials] == [0.6, 0.4]
    assert inputs.trials[0].rob.overall.level == "high" and inputs.trials[0].attrition == 0.3
    assert inputs.trials[1].rob.overall is None
    assert (inputs.k, inputs.participants, inputs.events, inputs.control_risk) == (4, 800, 120, 0.1)
    a["overall"]["participants_trials"] = 3  # one trial without arm sizes: total unknown
    assert grade_inputs(a).participants is None
