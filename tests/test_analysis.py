"""The orchestrator: which rows enter an analysis, how, and what the results hold."""

import math

import pandas as pd
import pytest

from evsynth import binary_effects, generic_effects, pool
from evsynth.analysis.run import run_analysis, select_studies, study_labels, summary_table

SPEC = {
    "id": "stones",
    "title": "Kidney stones",
    "dataset": "kidney_stones",
    "outcome": "kidney_stones",
    "measure": "RR",
    "events_are": "harmful",
    "method": "REML",
    "ci_method": "hksj",
    "pi_method": "metafor",
    "level": 0.95,
    "subgroup_tau2": "separate",
    "subgroups": ["calcium_coadministered"],
    "moderators": [],
    "nnt_trial": "Wallace2011",
}


def row(study_id: str, **values: object) -> dict[str, object]:
    base = {
        "row_id": f"kidney_stones.csv:{len(study_id)}",
        "study_id": study_id,
        "comparison": "D3 vs placebo",
        "outcome": "kidney_stones",
        "year": 2000,
        "include": True,
        "exclusion_reason": None,
        "count_unit": "persons",
        "events_treat": None,
        "n_treat": None,
        "events_control": None,
        "n_control": None,
        "effect_measure": None,
        "effect": None,
        "ci_low": None,
        "ci_high": None,
        "calcium_coadministered": True,
        "follow_up_years": 7.0,
    }
    base.update(values)
    return base


@pytest.fixture
def rows() -> pd.DataFrame:
    return pd.DataFrame(
        [
            row(
                "Wallace2011",
                row_id="kidney_stones.csv:2",
                year=2011,
                events_treat=449,
                n_treat=18176,
                events_control=381,
                n_control=18106,
                effect_measure="HR",
                effect=1.17,
                ci_low=1.02,
                ci_high=1.34,
            ),
            row(
                "Johnson2022",
                row_id="kidney_stones.csv:3",
                year=2022,
                count_unit="events",
                events_treat=28,
                n_treat=1211,
                events_control=24,
                n_control=1212,
                effect_measure="IRR",
                effect=1.16,
                ci_low=0.67,
                ci_high=2.00,
                calcium_coadministered=False,
            ),
            row(
                "Manson2019",
                row_id="kidney_stones.csv:4",
                year=2019,
                include=False,
                exclusion_reason="counts not found",
                count_unit=None,
            ),
            row(
                "Odd2020",
                row_id="kidney_stones.csv:5",
                year=2020,
                count_unit=None,
                effect_measure="OR",
                effect=1.1,
                ci_low=0.9,
                ci_high=1.3,
            ),
        ]
    )


def test_counts_of_persons_win_and_event_counts_fall_back_to_the_estimate(
    rows: pd.DataFrame,
) -> None:
    studies, excluded = select_studies(rows, "RR")
    assert dict(zip(studies["study_id"], studies["input"], strict=True)) == {
        "Wallace2011": "2x2",
        "Johnson2022": "generic",
    }
    reasons = {e["study_id"]: e["reason"] for e in excluded}
    assert reasons["Manson2019"] == "counts not found"
    assert "OR cannot enter a RR analysis" in reasons["Odd2020"]


def test_pooled_numbers_come_from_the_engine(rows: pd.DataFrame) -> None:
    result = run_analysis(rows, SPEC)
    yi1, vi1 = binary_effects([449], [18176], [381], [18106], "RR")
    yi2, vi2 = generic_effects([1.16], [0.67], [2.00], measure="IRR")
    expected = pool([yi1[0], yi2[0]], [vi1[0], vi2[0]], "REML", "hksj")
    assert result["overall"]["estimate"] == pytest.approx(expected.estimate, rel=1e-12)
    assert result["overall"]["estimate_exp"] == pytest.approx(math.exp(expected.estimate))
    assert [s["row_id"] for s in result["studies"]] == [
        "kidney_stones.csv:2",
        "kidney_stones.csv:3",
    ]
    assert sum(s["weight_pct"] for s in result["studies"]) == pytest.approx(100.0)
    assert {e["row_id"] for e in result["excluded"]} == {
        "kidney_stones.csv:4",
        "kidney_stones.csv:5",
    }


def test_single_trial_nnh_is_the_whi_273(rows: pd.DataFrame) -> None:
    nnt = run_analysis(rows, SPEC)["single_trial_nnt"]
    assert nnt["label"] == "NNTH 273"
    assert nnt["row_id"] == "kidney_stones.csv:2"
    assert nnt["follow_up_years"] == 7.0


def test_flipping_the_direction_swaps_the_favours_labels(rows: pd.DataFrame) -> None:
    harmful = run_analysis(rows, SPEC)["labels"]
    beneficial = run_analysis(rows, {**SPEC, "events_are": "beneficial"})["labels"]
    assert harmful == {"left": "Favours vitamin D", "right": "Favours control"}
    assert beneficial == {"left": "Favours control", "right": "Favours vitamin D"}


def test_summary_lists_overall_and_subgroups_with_their_rows(rows: pd.DataFrame) -> None:
    result = run_analysis(rows, SPEC)
    table = summary_table({"analyses": [result]})
    assert list(table["subgroup"]) == [
        "overall",
        "calcium_coadministered",
        "calcium_coadministered",
    ]
    overall = table.iloc[0]
    assert overall["k"] == 2
    assert overall["row_ids"] == "kidney_stones.csv:2;kidney_stones.csv:3"


def test_two_comparisons_of_one_trial_get_distinct_labels() -> None:
    frame = pd.DataFrame(
        {
            "study_id": ["Porthouse2005", "Porthouse2005", "Law2006"],
            "comparison": ["D3 vs leaflet (stratum A)", "D3 vs leaflet (stratum B)", "D2 vs none"],
        }
    )
    assert study_labels(frame) == [
        "Porthouse 2005 (stratum A)",
        "Porthouse 2005 (stratum B)",
        "Law 2006",
    ]


def test_analyses_in_a_process_pool_give_the_serial_results(rows: pd.DataFrame) -> None:
    from evsynth.analysis.run import run_dataset

    second = rows.copy()
    second["outcome"] = "other_stones"
    both = pd.concat([rows, second], ignore_index=True)
    config = {
        "analyses": {
            "stones": {**SPEC},
            "others": {**SPEC, "title": "Other stones", "outcome": "other_stones"},
        },
        "markers": {},
        "subgroup_titles": {"calcium_coadministered": "Calcium"},
    }
    serial = run_dataset("kidney_stones", both, config)
    pooled = run_dataset("kidney_stones", both, config, workers=2)
    assert [a["id"] for a in serial["analyses"]] == ["others", "stones"]
    assert pooled == serial
    # Each analysis sees only its outcome's rows, as when it is given the whole table.
    alone = run_analysis(both, {**SPEC}, config["subgroup_titles"])
    assert serial["analyses"][1] == alone
