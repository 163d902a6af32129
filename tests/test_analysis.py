"""The analysis layer: which rows enter and why (select), trials not comparisons (trials),
pooling as configured (pooled), the parts of an analysis (parts), the words (words) and the
orchestration (run).

The frames are made up (supervised exercise versus usual care for low back pain; events are
people with chronic pain at one year) or are the BCG vaccine trials of ``tests/reviews/bcg``.
Every expected number is computed here from the engine's public functions on the rows the
test names, or by hand from the formula the docstring cites."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from evsynth import (
    binary_effects,
    continuous_effects,
    mantel_haenszel,
    peto,
    pool,
)
from evsynth.analysis.model import Pooled
from evsynth.analysis.pooled import UNINFORMATIVE_RATIO, pooled
from evsynth.analysis.run import analysis_specs, run_analysis, run_dataset, summary_table
from evsynth.analysis.select import Chosen, choose, matches, select_rows
from evsynth.analysis.trials import Unit, combine_means, trial_units
from evsynth.analysis.words import measure_label
from evsynth.errors import AnalysisInputError
from evsynth.validate.config import load_config, with_defaults
from evsynth.validate.processing import harmonise, typed_tables
from evsynth.validate.tables import validate_tables

ROOT = Path(__file__).resolve().parent.parent
BCG = ROOT / "tests" / "reviews" / "bcg"
Z95 = float(stats.norm.ppf(0.975))

REVIEW = {
    "title": "Supervised exercise for chronic low back pain",
    "intervention": "supervised exercise",
    "control": "usual care",
}
COLUMNS = (
    "row_id",
    "study_id",
    "year",
    "include",
    "exclusion_reason",
    "count_unit",
    "events_treat",
    "n_treat",
    "events_control",
    "n_control",
    "mean_treat",
    "sd_treat",
    "mean_control",
    "sd_control",
    "effect_measure",
    "effect",
    "ci_low",
    "ci_high",
    "se",
    "shared_control",
    "comparison",
    "setting",
    "trial_name",
)


def row(line: int, study_id: str, **values: Any) -> dict[str, Any]:
    """A processed row of the ``pain`` table: every column blank except those given (the
    year is the study id's, ``Ahmed2004`` → 2004)."""
    out: dict[str, Any] = dict.fromkeys(COLUMNS)
    year = int(study_id[-4:]) if study_id[-4:].isdigit() else None
    out.update(row_id=f"pain.csv:{line}", study_id=study_id, year=year, include=True)
    out.update(values)
    return out


def counts(a: int, n1: int, c: int, n2: int, unit: str = "persons") -> dict[str, Any]:
    return {
        "events_treat": a,
        "n_treat": n1,
        "events_control": c,
        "n_control": n2,
        "count_unit": unit,
    }


def estimate(measure: str, effect: float, low: float, high: float) -> dict[str, Any]:
    return {"effect_measure": measure, "effect": effect, "ci_low": low, "ci_high": high}


def means(n1: float, m1: float, s1: float, n2: float, m2: float, s2: float) -> dict[str, Any]:
    return {
        "n_treat": n1,
        "mean_treat": m1,
        "sd_treat": s1,
        "n_control": n2,
        "mean_control": m2,
        "sd_control": s2,
    }


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(COLUMNS))


def spec_of(
    review: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    **settings_: Any,
) -> dict[str, Any]:
    """The resolved settings of one analysis ``pain`` (every default filled by the config
    layer, as the analyse stage gets them)."""
    analysis = {"title": "Chronic pain", "dataset": "pain", "measure": "RR", **settings_}
    config = with_defaults(
        {
            "review": dict(review or REVIEW),
            "tables": ["pain"],
            "variables": dict(variables or {}),
            "analyses": {"pain": analysis},
        }
    )
    return analysis_specs(config, "pain")[0]


def units_of(rows: pd.DataFrame, spec: Mapping[str, Any]) -> list[Unit]:
    chosen, _ = select_rows(rows, spec)
    units, dropped = trial_units(chosen, spec)
    assert dropped == []
    return units


def rr(a: float, n1: float, c: float, n2: float) -> tuple[float, float]:
    yi, vi = binary_effects([a], [n1], [c], [n2], "RR")
    return float(yi[0]), float(vi[0])


# --------------------------------------------------------------------------- choose


def test_a_row_marked_not_included_gives_its_reason() -> None:
    spec = {"measure": "RR"}
    record = row(2, "Ahmed2004", **counts(9, 40, 12, 41), include=False)
    assert choose({**record, "exclusion_reason": "cluster trial, not adjusted"}, spec) == (
        "cluster trial, not adjusted"
    )
    assert choose(record, spec) == "marked include = false"


def test_person_counts_enter_as_a_2x2_table() -> None:
    record = row(2, "Ahmed2004", **counts(9, 40, 12, 41))
    chosen = choose(record, {"measure": "OR"})
    assert chosen == Chosen(record, "2x2", "OR", ())


def test_counts_win_over_a_published_estimate_of_the_same_row() -> None:
    record = row(2, "Ahmed2004", **counts(9, 40, 12, 41), **estimate("RR", 0.77, 0.37, 1.6))
    chosen = choose(record, {"measure": "RR"})
    assert isinstance(chosen, Chosen) and chosen.input == "2x2"


def test_event_counts_are_refused_unless_allowed_then_flagged() -> None:
    record = row(2, "Ahmed2004", **counts(30, 40, 45, 41, unit="events"))
    refused = choose(record, {"measure": "RR"})
    assert refused == ("its counts are events, not persons (set event_counts: true to allow them)")
    allowed = choose(record, {"measure": "RR", "event_counts": True})
    assert allowed == Chosen(record, "2x2", "RR", ("counts events, not persons",))


def test_a_published_rate_ratio_of_event_counts_is_refused_unless_allowed() -> None:
    record = row(2, "Ahmed2004", count_unit="events", **estimate("IRR", 0.8, 0.6, 1.1))
    spec = {"measure": "RR", "accept": ["IRR"]}
    assert choose(record, spec) == (
        "its IRR counts events, not persons (set event_counts: true to allow it in this analysis)"
    )
    chosen = choose(record, {**spec, "event_counts": True})
    assert chosen == Chosen(record, "generic", "IRR", ("counts events, not persons",))


def test_means_enter_a_continuous_analysis() -> None:
    record = row(2, "Ahmed2004", **means(40, 3.1, 1.2, 41, 3.9, 1.4))
    assert choose(record, {"measure": "SMD"}) == Chosen(record, "means", "SMD", ())
    # means alone cannot enter a 2x2 analysis
    assert choose(record, {"measure": "RR"}) == (
        "neither four person counts nor a published estimate with its CI or SE"
    )


def test_a_published_estimate_of_the_measure_or_an_accepted_one_enters() -> None:
    own = row(2, "Ahmed2004", **estimate("RR", 0.8, 0.6, 1.1))
    assert choose(own, {"measure": "RR"}) == Chosen(own, "generic", "RR", ())
    hazard = row(3, "Hansen2011", **estimate("HR", 0.7, 0.5, 0.98))
    assert choose(hazard, {"measure": "RR", "accept": ["HR"]}) == Chosen(
        hazard, "generic", "HR", ()
    )
    with_se = row(4, "Kim2019", effect_measure="MD", effect=-0.4, se=0.2)
    assert choose(with_se, {"measure": "MD"}) == Chosen(with_se, "generic", "MD", ())


def test_an_estimate_not_accepted_says_which_measure_and_how_to_allow_it() -> None:
    hazard = row(3, "Hansen2011", **estimate("HR", 0.7, 0.5, 0.98))
    assert choose(hazard, {"measure": "RR"}) == (
        "its published HR cannot enter a RR analysis (add HR to the analysis's accept list "
        "to allow it)"
    )


@pytest.mark.parametrize(
    "values",
    [estimate("RR", 0.8, 0.8, 0.8), {"effect_measure": "RR", "effect": 0.8, "se": 0.0}],
    ids=["ci", "se"],
)
def test_a_zero_width_interval_is_not_estimable(values: dict[str, Any]) -> None:
    record = row(2, "Ahmed2004", **values)
    assert choose(record, {"measure": "RR"}) == (
        "its published CI has zero width, so it has no variance (not estimable)"
    )


@pytest.mark.parametrize(
    ("measure", "needs"),
    [
        ("RR", "four person counts"),
        ("MD", "means, SDs and sizes of both arms"),
        ("HR", "a published estimate"),
    ],
)
def test_neither_counts_nor_an_estimate(measure: str, needs: str) -> None:
    record = row(2, "Ahmed2004", events_treat=9, n_treat=40, effect_measure="RR", effect=0.8)
    assert choose(record, {"measure": measure}) == (
        f"neither {needs} nor a published estimate with its CI or SE"
    )


# --------------------------------------------------------------------------- matches


@pytest.mark.parametrize(
    ("value", "wanted", "expected"),
    [
        (True, True, True),
        (True, "true", True),
        (False, True, False),
        (800, 800.0, True),
        (800.0, 800, True),
        (800.5, 800, False),
        (0.25, "0.25", True),
        ("clinic", "clinic", True),
        ("clinic", "Clinic", False),
        ("home", ["clinic", "home"], True),
        ("gym", ["clinic", "home"], False),
        (3, [1, 2.0, 3.0], True),
        (None, "clinic", False),
    ],
)
def test_matches_compares_as_text(value: Any, wanted: Any, expected: bool) -> None:
    assert matches({"setting": value}, {"setting": wanted}) is expected


def test_matches_needs_every_column_and_an_empty_filter_keeps_all() -> None:
    record = {"setting": "clinic", "supervised": True}
    assert matches(record, {}) is True
    assert matches(record, {"setting": "clinic", "supervised": True}) is True
    assert matches(record, {"setting": "clinic", "supervised": False}) is False
    assert matches(record, {"missing": "x"}) is False


# --------------------------------------------------------------------------- trials


STRATA = (
    row(2, "Porter2005", comparison="stratum A", **counts(12, 100, 20, 98)),
    row(3, "Porter2005", comparison="stratum B", **counts(5, 60, 9, 61)),
    row(4, "Ahmed2004", **counts(9, 40, 12, 41)),
)


def test_two_strata_of_one_trial_are_one_unit_by_mantel_haenszel() -> None:
    spec = spec_of()
    units = units_of(frame(*STRATA), spec)
    assert [u.trial for u in units] == ["Porter2005", "Ahmed2004"]
    strata = units[0]
    mh = mantel_haenszel([12, 5], [100, 60], [20, 9], [98, 61], measure="RR")
    assert strata.yi == pytest.approx(mh.estimate, rel=1e-14)
    assert strata.vi == pytest.approx(mh.se**2, rel=1e-14)
    assert strata.input == "2x2" and strata.strata
    assert strata.combined == "2 strata combined (Mantel–Haenszel)"
    assert strata.row_ids == ("pain.csv:2", "pain.csv:3")
    assert strata.participants == 100 + 98 + 60 + 61
    assert strata.events == 12 + 20 + 5 + 9
    alone = pooled([strata], spec, log_scale=True)
    assert (alone.k, alone.trials, alone.comparisons) == (1, 1, 2)
    assert alone.participants == 100 + 98 + 60 + 61
    result = pooled(units, spec, log_scale=True)
    assert (result.k, result.trials, result.comparisons) == (2, 2, 3)
    assert result.participants == 100 + 98 + 60 + 61 + 40 + 41
    assert result.events == 12 + 20 + 5 + 9 + 9 + 12


def test_the_trial_key_groups_rows_whose_study_ids_differ() -> None:
    rows = frame(
        row(2, "Porter2005a", trial_name="PORTER", **counts(12, 100, 20, 98)),
        row(3, "Porter2005b", trial_name="PORTER", **counts(5, 60, 9, 61)),
    )
    units = units_of(rows, spec_of(trial_key="trial_name"))
    assert len(units) == 1 and units[0].trial == "PORTER"
    assert len(units_of(rows, spec_of())) == 2


def test_a_count_stratum_and_an_estimate_stratum_combine_by_inverse_variance() -> None:
    rows = frame(
        row(2, "Porter2005", **counts(12, 100, 20, 98)),
        row(3, "Porter2005", **estimate("HR", 0.7, 0.5, 0.98)),
    )
    (unit,) = units_of(rows, spec_of(accept=["HR"]))
    # by hand: the 2x2 stratum's log RR (escalc), the published HR's log and its SE from
    # the CI (Cochrane Handbook §6.3.2), then the fixed-effect inverse-variance mean
    y1 = math.log((12 / 100) / (20 / 98))
    v1 = 1 / 12 - 1 / 100 + 1 / 20 - 1 / 98
    y2 = math.log(0.7)
    v2 = ((math.log(0.98) - math.log(0.5)) / (2 * Z95)) ** 2
    assert unit.yi == pytest.approx((y1 / v1 + y2 / v2) / (1 / v1 + 1 / v2), rel=1e-12)
    assert unit.vi == pytest.approx(1 / (1 / v1 + 1 / v2), rel=1e-12)
    assert unit.input == "generic" and unit.measure == "HR/RR"
    assert unit.combined == "2 strata combined (inverse variance)"
    assert unit.participants is None and unit.events is None


ARMS = (
    row(2, "Lee2015", comparison="high dose", shared_control="usual care", **counts(8, 50, 15, 51)),
    row(3, "Lee2015", comparison="low dose", shared_control="usual care", **counts(6, 52, 15, 51)),
    row(4, "Ahmed2004", **counts(9, 40, 12, 41)),
)


def test_arms_sharing_a_control_combined_add_the_arms_and_keep_the_control_once() -> None:
    spec = spec_of(multi_arm="combine")
    units = units_of(frame(*ARMS), spec)
    lee = units[0]
    assert (lee.yi, lee.vi) == pytest.approx(rr(14, 102, 15, 51), rel=1e-14)
    assert dict(lee.counts) == {
        "events_treat": 14,
        "n_treat": 102,
        "events_control": 15,
        "n_control": 51,
    }
    assert lee.participants == 50 + 52 + 51 and lee.events == 8 + 6 + 15
    assert lee.combined == "2 arms combined (shared control)"
    result = pooled(units, spec, log_scale=True)
    assert (result.k, result.trials, result.comparisons) == (2, 2, 3)
    assert result.participants == 153 + 81


def test_combine_means_is_the_handbook_formula() -> None:
    # Cochrane Handbook Table 6.5.a: N1 + N2; (N1 M1 + N2 M2)/(N1 + N2);
    # sqrt(((N1-1)SD1² + (N2-1)SD2² + N1 N2/(N1+N2) (M1² + M2² - 2 M1 M2)) / (N1 + N2 - 1))
    n1, m1, s1, n2, m2, s2 = 30, 5.0, 2.0, 25, 6.5, 2.5
    sd = math.sqrt(
        ((n1 - 1) * s1**2 + (n2 - 1) * s2**2 + n1 * n2 / (n1 + n2) * (m1**2 + m2**2 - 2 * m1 * m2))
        / (n1 + n2 - 1)
    )
    assert combine_means([n1, n2], [m1, m2], [s1, s2]) == pytest.approx(
        (55, (n1 * m1 + n2 * m2) / 55, sd), rel=1e-14
    )
    assert sd == pytest.approx(2.343951, abs=5e-7)  # worked on paper: sqrt(296.68182/54)


def test_combine_means_of_three_groups_is_the_sd_of_all_their_people() -> None:
    n = np.array([30.0, 25.0, 41.0])
    m = np.array([5.0, 6.5, 4.2])
    s = np.array([2.0, 2.5, 1.7])
    total = n.sum()
    mean = (n * m).sum() / total
    # within-group plus between-group sums of squares over N - 1
    sd = math.sqrt((((n - 1) * s**2).sum() + (n * (m - mean) ** 2).sum()) / (total - 1))
    assert combine_means(n, m, s) == pytest.approx((total, mean, sd), rel=1e-13)


def test_arms_sharing_a_control_combined_from_means() -> None:
    rows = frame(
        row(2, "Lee2015", shared_control="c", **means(30, 5.0, 2.0, 28, 7.0, 2.2)),
        row(3, "Lee2015", shared_control="c", **means(25, 6.5, 2.5, 28, 7.0, 2.2)),
    )
    (unit,) = units_of(rows, spec_of(measure="MD", multi_arm="combine"))
    n, m, s = combine_means([30, 25], [5.0, 6.5], [2.0, 2.5])
    yi, vi = continuous_effects([m], [s], [n], [7.0], [2.2], [28], measure="MD")
    assert (unit.yi, unit.vi) == pytest.approx((yi[0], vi[0]), rel=1e-14)
    assert unit.yi == pytest.approx(m - 7.0, rel=1e-14)
    assert unit.participants == 30 + 25 + 28 and unit.events is None


def test_arms_sharing_a_control_split_the_control_between_them() -> None:
    spec = spec_of(multi_arm="split")
    units = units_of(frame(*ARMS), spec)
    high, low, other = units
    assert (other.trial, other.share, other.combined) == ("Ahmed2004", 1.0, None)
    assert (high.yi, high.vi) == pytest.approx(rr(8, 50, 15 / 2, 51 / 2), rel=1e-14)
    assert (low.yi, low.vi) == pytest.approx(rr(6, 52, 15 / 2, 51 / 2), rel=1e-14)
    assert high.counts["n_control"] == 25.5 and high.counts["events_control"] == 7.5
    assert high.share == low.share == 0.5
    assert high.combined == "control split between 2 arms"
    assert (high.participants, low.participants) == (153, None)
    result = pooled(units, spec, log_scale=True)
    assert (result.k, result.trials, result.comparisons) == (3, 2, 3)
    assert result.participants == 153 + 81  # the shared control once
    assert result.participants_trials == 2
    assert result.events == 8 + 6 + 15 + 9 + 12


def test_split_arms_keep_their_comparisons_apart_in_the_labels() -> None:
    result = run_analysis(frame(*ARMS), spec_of(multi_arm="split"))
    assert [s.label for s in result.studies] == [
        "Ahmed 2004",
        "Lee 2015 (high dose)",
        "Lee 2015 (low dose)",
    ]


def test_arms_sharing_a_control_cannot_be_published_estimates() -> None:
    rows = frame(
        row(2, "Lee2015", shared_control="c", **estimate("RR", 0.5, 0.2, 1.1)),
        row(3, "Lee2015", shared_control="c", **estimate("RR", 0.4, 0.2, 0.9)),
    )
    chosen, _ = select_rows(rows, spec_of())
    units, dropped = trial_units(chosen, spec_of())
    assert units == []
    assert [(c.record["row_id"], reason.split(":")[0]) for c, reason in dropped] == [
        ("pain.csv:2", "trial Lee2015"),
        ("pain.csv:3", "trial Lee2015"),
    ]
    assert "arms sharing a control cannot be combined from published estimates" in dropped[0][1]


def test_a_trial_whose_strata_carry_no_information_is_dropped_with_its_reason() -> None:
    rows = frame(
        row(2, "Porter2005", **counts(0, 100, 0, 98)),
        row(3, "Porter2005", **counts(0, 60, 0, 61)),
        row(4, "Ahmed2004", **counts(9, 40, 12, 41)),
        row(5, "Hansen2011", **counts(12, 60, 20, 58)),
    )
    spec = spec_of()
    chosen, _ = select_rows(rows, spec)
    units, dropped = trial_units(chosen, spec)
    assert [u.trial for u in units] == ["Ahmed2004", "Hansen2011"]
    reason = (
        "trial Porter2005: its strata carry no information for a Mantel–Haenszel RR "
        "(no events in any stratum)"
    )
    assert [(c.record["row_id"], r) for c, r in dropped] == [
        ("pain.csv:2", reason),
        ("pain.csv:3", reason),
    ]
    result = run_analysis(rows, spec)
    assert {(e.row_id, e.reason) for e in result.excluded} == {
        ("pain.csv:2", reason),
        ("pain.csv:3", reason),
    }
    assert result.overall is not None and result.overall.trials == 2


# --------------------------------------------------------------------------- pooled


FIVE = (
    row(2, "Ahmed2004", setting="clinic", **counts(9, 40, 12, 41)),
    row(3, "Hansen2011", setting="home", **counts(12, 60, 20, 58)),
    row(4, "Kim2019", setting="clinic", **counts(15, 75, 22, 77)),
    row(5, "Ortiz2016", setting="home", **counts(30, 120, 31, 118)),
    row(6, "Sato2021", setting=None, **counts(4, 33, 11, 35)),
)


def test_fixed_inverse_variance_is_the_engines_equal_effects_model() -> None:
    spec = spec_of(model="fixed", fixed_method="IV")
    units = units_of(frame(*FIVE), spec)
    result = pooled(units, spec, log_scale=True)
    expected = pool([u.yi for u in units], [u.vi for u in units], method="EE", ci_method="z")
    for field in ("estimate", "se", "ci_low", "ci_high", "p_value", "q", "i2"):
        assert getattr(result, field) == pytest.approx(getattr(expected, field), rel=1e-14)
    assert (result.method, result.ci_method, result.model, result.tau2) == ("IV", "z", "fixed", 0)
    assert result.pi_low is None and result.pi_note == "no prediction interval: fixed-effect model"


@pytest.mark.parametrize("method", ["MH", "Peto"])
def test_mantel_haenszel_and_peto_keep_the_strata_as_separate_tables(method: str) -> None:
    measure = "RR" if method == "MH" else "OR"
    spec = spec_of(measure=measure, model="fixed", fixed_method=method)
    rows = frame(*STRATA, row(5, "Hansen2011", **counts(12, 60, 20, 58)))
    units = units_of(rows, spec)
    assert len(units) == 3
    result = pooled(units, spec, log_scale=True)
    a, n1, c, n2 = [12, 5, 9, 12], [100, 60, 40, 60], [20, 9, 12, 20], [98, 61, 41, 58]
    if method == "MH":
        expected = mantel_haenszel(a, n1, c, n2, measure="RR")
        collapsed = mantel_haenszel([17, 9, 12], [160, 40, 60], [29, 12, 20], [159, 41, 58])
    else:
        expected = peto(a, n1, c, n2)
        collapsed = peto([17, 9, 12], [160, 40, 60], [29, 12, 20], [159, 41, 58])
    assert result.estimate == pytest.approx(expected.estimate, rel=1e-14)
    assert result.se == pytest.approx(expected.se, rel=1e-14)
    assert result.estimate != pytest.approx(collapsed.estimate, rel=1e-6)
    assert (result.k, result.trials, result.comparisons, result.method) == (3, 3, 4, method)


def test_mantel_haenszel_with_a_trial_entered_as_an_estimate_says_why() -> None:
    rows = frame(
        row(2, "Ahmed2004", **counts(9, 40, 12, 41)),
        row(3, "Hansen2011", **estimate("RR", 0.7, 0.5, 0.98)),
    )
    with pytest.raises(
        AnalysisInputError,
        match="MH needs the 2x2 table of every trial, but "
        "Hansen2011 entered as a published estimate",
    ):
        run_analysis(rows, spec_of(model="fixed", fixed_method="MH"))


def test_no_prediction_interval_below_the_minimum_number_of_trials() -> None:
    units = units_of(frame(*FIVE[:2]), spec_of())
    result = pooled(units, spec_of(), log_scale=True)
    assert result.pi_low is None and result.pi_high is None
    assert result.pi_note == "no prediction interval with fewer than 3 trials"
    allowed = pooled(units, spec_of(min_k_prediction=2), log_scale=True)
    assert allowed.pi_low is not None and allowed.pi_high is not None
    assert allowed.pi_low < allowed.estimate < allowed.pi_high


HETEROGENEOUS = (
    row(2, "Ahmed2004", **estimate("RR", 0.2, 0.15, 0.27)),
    row(3, "Hansen2011", **estimate("RR", 1.0, 0.8, 1.25)),
    row(4, "Kim2019", **estimate("RR", 4.0, 3.0, 5.3)),
)


def test_a_ratios_prediction_interval_spanning_more_than_100_fold_is_flagged() -> None:
    spec = spec_of(ci_method="z")
    result = pooled(units_of(frame(*HETEROGENEOUS), spec), spec, log_scale=True)
    assert result.pi_low is not None and result.pi_high is not None
    assert math.exp(result.pi_high - result.pi_low) > UNINFORMATIVE_RATIO
    assert result.pi_note is not None and result.pi_note.startswith(
        "uninformative: the prediction interval spans more than two orders of magnitude"
    )
    calm = pooled(units_of(frame(*FIVE), spec), spec, log_scale=True)
    assert calm.pi_high is not None and calm.pi_low is not None
    assert math.exp(calm.pi_high - calm.pi_low) < UNINFORMATIVE_RATIO
    assert calm.pi_note is None


def test_a_difference_is_never_flagged_for_its_ratio_span() -> None:
    rows = frame(
        row(2, "Ahmed2004", effect_measure="MD", effect=-8.0, se=0.5),
        row(3, "Hansen2011", effect_measure="MD", effect=0.0, se=0.5),
        row(4, "Kim2019", effect_measure="MD", effect=9.0, se=0.5),
    )
    spec = spec_of(measure="MD", ci_method="z")
    result = pooled(units_of(rows, spec), spec, log_scale=False)
    assert result.pi_high is not None and result.pi_low is not None
    assert result.pi_high - result.pi_low > math.log(UNINFORMATIVE_RATIO)
    assert result.pi_note is None


def test_participants_count_the_trials_that_report_them_and_events_need_every_trial() -> None:
    rows = frame(
        row(2, "Ahmed2004", **counts(9, 40, 12, 41)),
        row(3, "Hansen2011", **counts(12, 60, 20, 58)),
        row(4, "Kim2019", **estimate("RR", 0.7, 0.5, 0.98)),
    )
    spec = spec_of()
    result = pooled(units_of(rows, spec), spec, log_scale=True)
    assert result.participants == 81 + 118
    assert result.participants_trials == 2
    assert result.trials == 3
    assert result.events is None
    counted = pooled(units_of(frame(*FIVE[:2]), spec), spec, log_scale=True)
    assert counted.events == 9 + 12 + 12 + 20 and counted.participants_trials == 2


# --------------------------------------------------------------------------- run_analysis


def test_an_analysis_whose_filter_matches_no_row_is_an_error_naming_it() -> None:
    with pytest.raises(AnalysisInputError, match="analysis 'pain': no row of pain matches"):
        run_analysis(frame(*FIVE), spec_of(where={"setting": "gym"}))


def test_all_rows_excluded_is_not_estimable_with_the_reasons() -> None:
    rows = frame(
        row(2, "Ahmed2004", include=False, exclusion_reason="cluster trial, not adjusted"),
        row(3, "Hansen2011", **estimate("HR", 0.7, 0.5, 0.98)),
    )
    result = run_analysis(rows, spec_of())
    assert result.overall is None and result.studies == ()
    assert [e.row_id for e in result.excluded] == ["pain.csv:2", "pain.csv:3"]
    assert result.not_estimable == (
        "no trial can be analysed (cluster trial, not adjusted; its published HR cannot "
        "enter a RR analysis (add HR to the analysis's accept list to allow it))"
    )
    assert result.subgroups == {} and result.sensitivity == ()


def test_a_mix_of_ratios_is_labelled_as_such() -> None:
    rows = frame(*FIVE[:2], row(7, "Kim2019", **estimate("HR", 0.7, 0.5, 0.98)))
    result = run_analysis(rows, spec_of(accept=["HR"]))
    assert result.measure_label == "Ratio (RR or HR)"
    assert result.measures == ("RR", "HR")
    assert [s.measure for s in result.studies] == ["RR", "RR", "HR"]
    assert run_analysis(frame(*FIVE[:2]), spec_of()).measure_label == "Risk Ratio"


@pytest.mark.parametrize(
    ("measures", "first", "label"),
    [
        (["HR"], "HR", "Hazard Ratio"),
        (["SMD"], "SMD", "Std. Mean Difference"),
        (["IRR", "RR", "HR"], "RR", "Ratio (RR or HR or IRR)"),
        (["HR/RR"], "RR", "Ratio (RR or HR)"),
        (["MD", "RD"], "RD", "Difference (RD or MD)"),
    ],
)
def test_measure_labels(measures: list[str], first: str, label: str) -> None:
    assert measure_label(measures, first) == label


def test_favours_and_arm_labels_come_from_the_review_and_higher_is() -> None:
    worse = run_analysis(frame(*FIVE), spec_of(higher_is="worse"))
    assert dict(worse.labels) == {
        "left": "Favours supervised exercise",
        "right": "Favours usual care",
    }
    assert worse.arm_labels == ("Supervised exercise", "Usual care")
    assert worse.events_are == "harmful"
    better = run_analysis(frame(*FIVE), spec_of(higher_is="better"))
    assert dict(better.labels) == {
        "left": "Favours usual care",
        "right": "Favours supervised exercise",
    }
    assert better.events_are == "beneficial"


def test_study_labels_come_from_the_review_column_or_the_study_id() -> None:
    rows = frame(
        row(2, "Ahmed2004", trial_name="BACK-FIT", **counts(9, 40, 12, 41)),
        row(3, "Hansen2011", trial_name=None, **counts(12, 60, 20, 58)),
    )
    labelled = run_analysis(rows, spec_of(review={**REVIEW, "study_label": "trial_name"}))
    assert [s.label for s in labelled.studies] == ["BACK-FIT", "Hansen 2011"]
    plain = run_analysis(rows, spec_of())
    assert [s.label for s in plain.studies] == ["Ahmed 2004", "Hansen 2011"]


def test_studies_carry_weights_that_sum_to_100_and_their_rows() -> None:
    result = run_analysis(frame(*STRATA), spec_of())
    assert sum(s.weight_pct for s in result.studies) == pytest.approx(100.0, rel=1e-12)
    porter = next(s for s in result.studies if s.trial == "Porter2005")
    assert porter.row_ids == ("pain.csv:2", "pain.csv:3")
    assert result.overall is not None
    assert result.overall.row_ids == ("pain.csv:4", "pain.csv:2", "pain.csv:3")


# --------------------------------------------------------------------------- HKSJ


def _widths(result: Any) -> dict[str, float]:
    """CI width of every pooled line of a result: overall, each subgroup, each sensitivity
    analysis and each leave-one-out line."""
    out = {"overall": result.overall.ci_high - result.overall.ci_low}
    for column, sub in result.subgroups.items():
        for group in sub.groups:
            out[f"{column}={group.group}"] = group.pooled.ci_high - group.pooled.ci_low
    for item in result.sensitivity:
        if item.pooled is not None:
            out[item.title] = item.pooled.ci_high - item.pooled.ci_low
    for line in result.leave_one_out or []:
        out[f"without {line['label']}"] = line["ci_high"] - line["ci_low"]
    return out


@st.composite
def md_trials(draw: Any) -> pd.DataFrame:
    k = draw(st.integers(2, 8))
    rows = []
    for i in range(k):
        rows.append(
            row(
                i + 2,
                f"Trial{2000 + i}",
                effect_measure="MD",
                effect=draw(st.floats(-5, 5, allow_nan=False)),
                se=draw(st.floats(0.05, 3, allow_nan=False)),
                setting=draw(st.sampled_from(["clinic", "home"])),
            )
        )
    return frame(*rows)


SENSITIVITY = [
    {"title": "Clinic only", "where": {"setting": "clinic"}},
    {"title": "Home only", "where": {"setting": "home"}},
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(md_trials(), st.sampled_from(["REML", "DL", "PM"]))
def test_modified_hksj_is_never_narrower_than_wald(rows: pd.DataFrame, method: str) -> None:
    common = {"measure": "MD", "method": method, "subgroups": ["setting"]}
    modified = run_analysis(
        rows, spec_of(ci_method="hksj_modified", sensitivity=SENSITIVITY, **common)
    )
    wald = run_analysis(rows, spec_of(ci_method="z", sensitivity=SENSITIVITY, **common))
    wide, narrow = _widths(modified), _widths(wald)
    assert wide.keys() == narrow.keys()
    for line, width in wide.items():
        assert width >= narrow[line] * (1 - 1e-12), line


def test_plain_hksj_can_be_narrower_than_wald_and_the_modified_one_is_not() -> None:
    # three nearly identical trials: Q < df, so the HKSJ variance factor is below 1
    rows = frame(
        row(2, "Ahmed2004", effect_measure="MD", effect=-1.00, se=0.2),
        row(3, "Hansen2011", effect_measure="MD", effect=-1.01, se=0.2),
        row(4, "Kim2019", effect_measure="MD", effect=-0.99, se=0.2),
    )
    widths = {
        ci: pooled(
            units_of(rows, spec_of(measure="MD")), spec_of(measure="MD", ci_method=ci), False
        )
        for ci in ("z", "hksj", "hksj_modified")
    }
    width = {ci: p.ci_high - p.ci_low for ci, p in widths.items()}
    assert width["hksj"] < width["z"] <= width["hksj_modified"]


# --------------------------------------------------------------------------- parts


def test_subgroups_list_the_rows_without_a_value_as_missing() -> None:
    variables = {
        "setting": {"title": "Setting", "levels": {"home": "At home", "clinic": "In a clinic"}}
    }
    result = run_analysis(frame(*FIVE), spec_of(variables=variables, subgroups=["setting"]))
    sub = result.subgroups["setting"]
    assert sub.title == "Setting"
    assert [g.group for g in sub.groups] == ["At home", "In a clinic"]
    assert [g.pooled.row_ids for g in sub.groups] == [
        ("pain.csv:3", "pain.csv:5"),
        ("pain.csv:2", "pain.csv:4"),
    ]
    assert sub.missing == ("pain.csv:6",)
    assert sub.df == 1 and sub.q_between is not None and sub.q_between >= 0


def test_the_test_for_subgroup_differences_uses_the_subgroups_own_ses() -> None:
    result = run_analysis(frame(*FIVE), spec_of(subgroups=["setting"]))
    sub = result.subgroups["setting"]
    est = np.array([g.pooled.estimate for g in sub.groups])
    w = 1 / np.array([g.pooled.se for g in sub.groups]) ** 2
    q = float((w * (est - (w * est).sum() / w.sum()) ** 2).sum())
    assert sub.q_between == pytest.approx(q, rel=1e-12)
    assert sub.p_value == pytest.approx(stats.chi2.sf(q, 1), rel=1e-12)


def test_a_categorical_moderator_gets_the_omnibus_test() -> None:
    rows = frame(
        *FIVE[:4],
        row(6, "Sato2021", setting="gym", **counts(4, 33, 11, 35)),
        row(7, "Diaz2018", setting="gym", **counts(7, 45, 9, 44)),
    )
    spec = spec_of(model="fixed", ci_method="z", moderators=["setting"])
    result = run_analysis(rows, spec)
    reg = result.meta_regression["setting"]
    assert reg.categorical and reg.note is None
    assert reg.k == 6 and reg.qm_df == 2
    # fixed effect: QM on the group indicators is Q_total - sum of Q within the groups
    units = units_of(rows, spec)
    groups: dict[str, list[Unit]] = {}
    for u in units:
        groups.setdefault(str(u.record["setting"]), []).append(u)

    def q(us: list[Unit]) -> float:
        return pool([u.yi for u in us], [u.vi for u in us], method="EE").q

    expected = q(units) - sum(q(us) for us in groups.values())
    assert reg.qm == pytest.approx(expected, rel=1e-9)
    assert reg.qm_pvalue == pytest.approx(stats.chi2.sf(expected, 2), rel=1e-9)


def test_a_moderator_with_fewer_than_three_trials_is_not_estimable() -> None:
    rows = frame(
        row(2, "Ahmed2004", **counts(9, 40, 12, 41), year=2004),
        row(3, "Hansen2011", **counts(12, 60, 20, 58), year=2011),
        row(4, "Kim2019", **counts(15, 75, 22, 77), year=None),
    )
    result = run_analysis(rows, spec_of(moderators=["year"]))
    reg = result.meta_regression["year"]
    assert reg.coef == () and reg.k == 2
    assert reg.note == (
        "not estimable: 2 trials with a value and 2 distinct values (needs at least 3 trials "
        "and 2 values)"
    )


def test_sensitivity_analyses_with_input_counts_and_where() -> None:
    rows = frame(
        *FIVE[:4],
        row(7, "Diaz2018", setting="clinic", **estimate("RR", 0.6, 0.4, 0.9)),
    )
    sens = [
        {"title": "Counts only", "input": "counts"},
        {"title": "Clinic only", "where": {"setting": "clinic"}},
        {"title": "Estimates only, fixed", "input": "estimates", "model": "fixed"},
        {"title": "Gym only", "where": {"setting": "gym"}},
    ]
    spec = spec_of(sensitivity=sens, ci_method="z")
    result = run_analysis(rows, spec)
    by_title = {s.title: s for s in result.sensitivity}
    units = {u.row_ids[0]: u for u in units_of(rows, spec)}

    def expected(ids: list[str], **kw: Any) -> float:
        chosen = [units[i] for i in ids]
        method = kw.get("method", "REML")
        return pool([u.yi for u in chosen], [u.vi for u in chosen], method=method).estimate

    counts_only = by_title["Counts only"].pooled
    assert counts_only is not None
    # in the analysis's order (by year): Ahmed2004, Hansen2011, Ortiz2016, Kim2019
    assert counts_only.row_ids == ("pain.csv:2", "pain.csv:3", "pain.csv:5", "pain.csv:4")
    assert counts_only.estimate == pytest.approx(
        expected(["pain.csv:2", "pain.csv:3", "pain.csv:4", "pain.csv:5"]), rel=1e-12
    )
    clinic = by_title["Clinic only"].pooled
    assert clinic is not None
    assert set(clinic.row_ids) == {"pain.csv:2", "pain.csv:4", "pain.csv:7"}
    assert clinic.estimate == pytest.approx(
        expected(["pain.csv:2", "pain.csv:4", "pain.csv:7"]), rel=1e-12
    )
    fixed = by_title["Estimates only, fixed"].pooled
    assert fixed is not None and fixed.model == "fixed" and fixed.row_ids == ("pain.csv:7",)
    assert by_title["Gym only"].pooled is None
    assert by_title["Gym only"].note == "not estimable: no trial meets it"


def test_a_sensitivity_analysis_that_cannot_be_pooled_says_why() -> None:
    rows = frame(*FIVE[:2], row(7, "Diaz2018", **estimate("RR", 0.6, 0.4, 0.9)))
    spec = spec_of(sensitivity=[{"title": "MH", "model": "fixed", "fixed_method": "MH"}])
    (item,) = run_analysis(rows, spec).sensitivity
    assert item.pooled is None
    assert item.note is not None and item.note.startswith("not estimable: analysis 'pain': MH")


def test_absolute_effects_at_the_median_control_risk() -> None:
    result = run_analysis(frame(*FIVE), spec_of(control_risk={"from": "median"}))
    assert result.absolute is not None and result.overall is not None
    risks = [12 / 41, 20 / 58, 22 / 77, 31 / 118, 11 / 35]
    risk = float(np.median(risks))
    assert result.absolute.control_risk == pytest.approx(risk, rel=1e-14)
    assert result.absolute.control_risk_source == (
        "median control-group risk of 5 included trials with counts"
    )
    ratio = math.exp(result.overall.estimate)
    assert result.absolute.per_1000_treat == pytest.approx(1000 * risk * ratio, rel=1e-9)
    assert result.absolute.difference_per_1000 == pytest.approx(1000 * risk * (ratio - 1), rel=1e-9)


def test_follow_up_range_and_single_trial_nnt() -> None:
    rows = frame(*FIVE).assign(follow_up_years=[1.0, 2.0, 1.5, 3.0, 0.5])
    review = {**REVIEW, "follow_up": "follow_up_years", "follow_up_unit": "years"}
    result = run_analysis(rows, spec_of(review=review, nnt_trial="Ortiz2016"))
    assert result.follow_up is not None
    assert (result.follow_up.low, result.follow_up.high, result.follow_up.median) == (
        0.5,
        3.0,
        1.5,
    )
    assert result.follow_up.trials == 5 and result.follow_up.unit == "years"
    nnt = result.single_trial_nnt
    assert nnt is not None
    assert nnt["row_id"] == "pain.csv:5" and nnt["follow_up_years"] == 3.0
    assert nnt["risk_difference"] == pytest.approx(30 / 120 - 31 / 118, rel=1e-12)


# --------------------------------------------------------------------------- the BCG review


@pytest.fixture(scope="module")
def bcg() -> tuple[pd.DataFrame, dict[str, Any]]:
    config = load_config(BCG / "config" / "config.yaml")
    tables = validate_tables(BCG / "data" / "raw", ["trials"], BCG / "schemas")
    rows = harmonise(tables, typed_tables(tables), config["derived"])["trials"]
    return rows, config


def test_the_bcg_review_runs_with_its_study_labels(bcg: tuple[pd.DataFrame, dict]) -> None:
    rows, config = bcg
    (spec,) = [s for s in analysis_specs(config, "trials") if s["id"] == "tb"]
    result = run_analysis(rows, spec)
    assert result.overall is not None and result.overall.trials == 13
    assert result.studies[0].label == "Aronson 1948"
    raw = pd.read_csv(BCG / "data" / "raw" / "trials.csv")
    assert result.overall.participants == int(
        raw[["events_treat", "nonevents_treat", "events_control", "nonevents_control"]].sum().sum()
    )
    yi, vi = binary_effects(
        raw["events_treat"],
        raw["events_treat"] + raw["nonevents_treat"],
        raw["events_control"],
        raw["events_control"] + raw["nonevents_control"],
        "RR",
    )
    assert result.overall.estimate == pytest.approx(pool(yi, vi, "REML", "z").estimate, rel=1e-12)


def test_run_dataset_in_two_processes_is_json_identical(bcg: tuple[pd.DataFrame, dict]) -> None:
    rows, config = bcg
    serial = run_dataset("trials", rows, config, workers=1)
    parallel = run_dataset("trials", rows, config, workers=2)
    assert [a["id"] for a in serial["analyses"]] == sorted(config["analyses"])
    assert json.dumps(parallel, sort_keys=True) == json.dumps(serial, sort_keys=True)


def test_summary_table_has_the_overall_and_every_subgroup(
    bcg: tuple[pd.DataFrame, dict],
) -> None:
    rows, config = bcg
    results = run_dataset("trials", rows, config)
    table = summary_table(results)
    tb = table[table["analysis"] == "tb"]
    assert list(zip(tb["subgroup"], tb["group"], strict=True)) == [
        ("overall", "all"),
        ("alloc", "alternate"),
        ("alloc", "random"),
        ("alloc", "systematic"),
    ]
    (analysis,) = [a for a in results["analyses"] if a["id"] == "tb"]
    overall = tb.iloc[0]
    assert overall["estimate"] == analysis["overall"]["estimate"]
    assert overall["estimate_exp"] == pytest.approx(math.exp(overall["estimate"]), rel=1e-14)
    assert overall["k"] == 13 and overall["trials"] == 13
    assert overall["row_ids"] == ";".join(analysis["overall"]["row_ids"])
    assert int(tb["k"].iloc[1:].sum()) == 13
    assert str(table["k"].dtype) == "Int64" and str(table["participants"].dtype) == "Int64"
    assert set(table["analysis"]) == set(config["analyses"])


def test_pooled_results_are_typed_and_serialise(bcg: tuple[pd.DataFrame, dict]) -> None:
    rows, config = bcg
    spec = next(s for s in analysis_specs(config, "trials") if s["id"] == "tb-or-mh")
    result = run_analysis(rows, spec)
    assert isinstance(result.overall, Pooled)
    assert result.overall.method == "MH" and result.overall.pi_low is None
    analyses = run_dataset("trials", rows, config)["analyses"]
    text = json.dumps(next(a for a in analyses if a["id"] == "tb-or-mh"))
    assert '"pi_note": "no prediction interval: fixed-effect model"' in text


NO_EVENTS = (
    row(2, "Ahmed2004", **counts(0, 40, 0, 41)),
    row(3, "Hansen2011", **counts(0, 60, 0, 58)),
)


@pytest.mark.parametrize(
    ("settings_", "reason"),
    [
        ({"model": "fixed", "fixed_method": "MH"}, "MH RR: the tables carry no information"),
        (
            {"measure": "OR", "model": "fixed", "fixed_method": "Peto"},
            "Peto OR: the tables carry no information",
        ),
    ],
)
def test_no_events_anywhere_is_not_estimable_not_a_stop(
    settings_: dict[str, Any], reason: str
) -> None:
    """Valid rows from which no pooled estimate exists: the analysis says why (the report
    shows it) instead of stopping the whole run."""
    result = run_analysis(frame(*NO_EVENTS), spec_of(**settings_))
    assert result.overall is None and result.studies == ()
    assert result.not_estimable is not None
    assert result.not_estimable.startswith("the pooled estimate cannot be computed from 2 trials: ")
    assert reason in result.not_estimable


def test_no_control_events_gives_no_absolute_effect() -> None:
    """A control risk of 0 (the median of trials without control events) has no absolute
    effect to apply the ratio to; the pooled ratio (0.5 added, as metafor) is still given."""
    result = run_analysis(frame(*NO_EVENTS), spec_of())
    assert result.overall is not None and result.absolute is None


def test_one_trial_and_identical_trials_are_analysed() -> None:
    one = run_analysis(frame(FIVE[0]), spec_of())
    assert one.overall is not None and one.overall.k == 1
    assert one.egger_note == "not assessed: 1 trial (Egger's test needs 10)"
    same = [row(i + 2, f"Same{2000 + i}", year=2000, **counts(9, 40, 12, 41)) for i in range(12)]
    result = run_analysis(frame(*same), spec_of(moderators=["year"]))
    assert result.overall is not None and result.overall.tau2 == 0.0
    assert result.egger is None and result.egger_note is not None
    assert result.egger_note.startswith("not estimable: ")
