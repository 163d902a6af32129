"""evsynth's engine on the test reviews in tests/reviews/, against metafor.

Each review folder (BCG vaccine trials, Normand 1999 stroke-unit length of stay, Hackshaw
1998 spousal smoking) holds its raw CSV and its config. Here the raw CSV is read with pandas,
every configured analysis is computed with evsynth's public API, and every number is compared
with ``tests/reference/reviews.json`` (written by ``Rscript tests/reference/make_reviews.R``
from the same CSV files and configs; no R is needed here). Tolerance: 1e-6 relative, 1e-6
absolute near zero; metafor NA (JSON null) must be NaN.

Mapping to evsynth (the pipeline's choices, ``evsynth/analysis/run.py``):

* model random → ``pool(yi, vi, method, ci_method, level)``; model fixed with IV →
  ``pool(..., method="EE")`` (metafor ``rma(method="EE")``); fixed with MH →
  ``mantel_haenszel`` (metafor ``rma.mh``); its leave-one-out and cumulative rows are
  ``mantel_haenszel`` on each subset (metafor ``leave1out.rma.mh`` / ``cumul.rma.mh``).
* subgroups → ``subgroup_analysis(tau2="separate")`` with the analysis's method and CI;
  moderators → ``meta_regression``; Egger → ``egger_test(yi, vi)`` (REML, z: metafor's
  ``regtest`` defaults on ``rma(yi, vi)``); trim-and-fill → ``trim_and_fill(yi, vi, method)``.

The tests also check that the fixture was made from the current configs and that the raw
tables hold exactly the numbers of the rows they quote.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from reference_cases import as_array, as_float, load

REL_TOL = 1e-6
ABS_TOL = 1e-6
ROOT = Path(__file__).resolve().parents[1]
FIXTURE = load("reviews")
REVIEWS = {review["name"]: review for review in FIXTURE["reviews"]}
ANALYSES = [
    pytest.param(review, analysis, id=f"{review['name']}-{analysis['id']}")
    for review in FIXTURE["reviews"]
    for analysis in review["analyses"]
]


def _evsynth() -> Any:
    # imported per test so that a missing module fails the tests, not the collection
    import evsynth

    return evsynth


def assert_close(actual: Any, expected: Any, what: str) -> None:
    """Scalar comparison naming what is compared; None (JSON null) means NaN."""
    exp = as_float(expected)
    act = math.nan if actual is None else float(actual)
    if math.isnan(exp):
        assert math.isnan(act), f"{what} = {act!r}, metafor gives NA/NaN"
        return
    ok = math.isclose(act, exp, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    assert ok, f"{what} = {act!r}, metafor {exp!r} (diff {act - exp:.3g})"


def assert_fields(actual: Any, expected: dict[str, Any], fields: str, what: str) -> None:
    """Compare the named fields (space-separated) of a result with those in the fixture."""
    for field in fields.split():
        if field not in expected:
            continue
        value = actual[field] if isinstance(actual, dict | pd.Series) else getattr(actual, field)
        assert_close(value, expected[field], f"{what}: {field}")


def assert_columns(frame: pd.DataFrame, expected: dict[str, Any], fields: str, what: str) -> None:
    """Compare the named columns (space-separated) of a frame with the fixture's arrays."""
    for field in fields.split():
        if field not in expected:
            continue
        act = frame[field].to_numpy(dtype=float)
        exp = as_array(expected[field])
        assert act.shape == exp.shape, f"{what}: {field} has {act.shape}, metafor {exp.shape}"
        for i, (a, e) in enumerate(zip(act, exp, strict=True)):
            assert_close(a, e, f"{what}: {field}[{i}]")


#: Field names compared, space-separated.
POOL_FIELDS = (
    "estimate se ci_low ci_high statistic p_value df tau2 tau i2 h2 q q_df q_pvalue pi_low "
    "pi_high k"
)
SEQUENCE_FIELDS = "estimate se statistic p_value ci_low ci_high q q_pvalue tau2 i2 h2"
REGRESSION_VECTORS = "coef se statistic ci_low ci_high p_value"
REGRESSION_SCALARS = "qm qm_df qm_pvalue qe qe_df qe_pvalue tau2 r2 i2 h2 k"


# ---------------------------------------------------------------- inputs from the folders
def review_config(review: dict[str, Any]) -> dict[str, Any]:
    with open(ROOT / review["folder"] / "config" / "config.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def raw_table(review: dict[str, Any]) -> pd.DataFrame:
    """The review's raw CSV, with the derived columns its config declares (only `sum`)."""
    frame = pd.read_csv(ROOT / review["table"])
    for name, rule in (review_config(review).get("derived") or {}).items():
        assert set(rule) == {"sum"}, f"derived {name}: this test knows only 'sum'"
        frame[name] = frame[rule["sum"]].sum(axis=1)
    return frame


def effect_sizes(frame: pd.DataFrame, analysis: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    ev = _evsynth()
    measure = analysis["measure"]
    if analysis["input"] == "binary":
        cells = [frame[c] for c in ("events_treat", "n_treat", "events_control", "n_control")]
        yi, vi = ev.binary_effects(*cells, measure=measure)
    elif analysis["input"] == "continuous":
        columns = ("mean_treat", "sd_treat", "n_treat", "mean_control", "sd_control", "n_control")
        yi, vi = ev.continuous_effects(*(frame[c] for c in columns), measure=measure)
    else:
        assert (frame["effect_measure"] == measure).all()
        yi, vi = ev.generic_effects(
            frame["effect"], frame["ci_low"], frame["ci_high"], measure=measure
        )
    return np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)


def counts(frame: pd.DataFrame) -> list[np.ndarray]:
    columns = ("events_treat", "n_treat", "events_control", "n_control")
    return [frame[c].to_numpy(dtype=float) for c in columns]


def is_mh(analysis: dict[str, Any]) -> bool:
    return analysis["model"] == "fixed" and analysis["method"] == "MH"


def pool_method(analysis: dict[str, Any]) -> str:
    return "EE" if analysis["model"] == "fixed" else analysis["method"]


def fit(frame: pd.DataFrame, yi: np.ndarray, vi: np.ndarray, analysis: dict[str, Any]) -> Any:
    ev = _evsynth()
    if is_mh(analysis):
        return ev.mantel_haenszel(
            *counts(frame), measure=analysis["measure"], level=analysis["level"]
        )
    return ev.pool(yi, vi, pool_method(analysis), analysis["ci_method"], analysis["level"])


def sequence_frame(
    frame: pd.DataFrame, yi: np.ndarray, vi: np.ndarray, analysis: dict[str, Any], sets: list
) -> pd.DataFrame:
    """One row per subset of studies (index arrays), pooled as the analysis pools."""
    rows = []
    for rows_of_set in sets:
        result = fit(frame.iloc[rows_of_set], yi[rows_of_set], vi[rows_of_set], analysis)
        rows.append({f: getattr(result, f, math.nan) for f in SEQUENCE_FIELDS.split()})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- fixture is current
@pytest.mark.parametrize("name", sorted(REVIEWS))
def test_fixture_matches_the_review_config(name: str) -> None:
    """reviews.json was made from the current config: same analyses, settings and columns."""
    review = REVIEWS[name]
    config = review_config(review)
    defaults = {
        "model": "random",
        "method": "REML",
        "fixed_method": "IV",
        "ci_method": "z",
        "level": 0.95,
        **(config.get("defaults") or {}),
    }
    assert [a["id"] for a in review["analyses"]] == list(config["analyses"])
    for analysis in review["analyses"]:
        spec = {**defaults, **config["analyses"][analysis["id"]]}
        method = spec["fixed_method"] if spec["model"] == "fixed" else spec["method"]
        assert (analysis["measure"], analysis["model"], analysis["method"]) == (
            spec["measure"],
            spec["model"],
            method,
        ), analysis["id"]
        assert (analysis["ci_method"], analysis["level"]) == (spec["ci_method"], spec["level"])
        assert [s["column"] for s in analysis["subgroups"]] == spec.get("subgroups", [])
        assert [m["moderator"] for m in analysis["meta_regression"]] == spec.get("moderators", [])
    frame = raw_table(review)
    assert len(frame) == review["k"]
    assert list(frame["study_id"]) == list(review["analyses"][0]["studies"]["study_id"])


# ---------------------------------------------------------------- the raw rows are as quoted
#: The columns of each table in the order the source prints them ("-": printed, not copied).
PRINTED = {
    "bcg": "trial author year events_treat nonevents_treat events_control nonevents_control "
    "ablat alloc",
    "normand1999": "study source n_treat mean_treat sd_treat n_control mean_control sd_control",
    "hackshaw1998": "study author year country design cases effect ci_low ci_high - -",
}


def _same_token(cell: str, printed: str) -> bool:
    try:
        return float(cell) == float(printed)  # "0.9" is printed "0.90"
    except ValueError:
        return cell == printed


@pytest.mark.parametrize("name", sorted(PRINTED))
def test_raw_rows_hold_the_printed_numbers(name: str) -> None:
    """Every copied cell equals the value in the row's quote (the row as R prints it)."""
    frame = pd.read_csv(ROOT / REVIEWS[name]["table"], dtype=str, keep_default_na=False)
    for i, row in frame.iterrows():
        tokens = row["quote"].split(" ")
        assert tokens[0] == str(i + 1), f"{name} row {i + 1}: quote starts with {tokens[0]!r}"
        position = 1
        for column in PRINTED[name].split():
            width = 1 if column == "-" else len(row[column].split(" "))
            printed = " ".join(tokens[position : position + width])
            if column != "-":
                ok = (width == 1 and _same_token(row[column], printed)) or row[column] == printed
                assert ok, f"{name} row {i + 1}: {column} = {row[column]!r}, printed {printed!r}"
            position += width
        assert position == len(tokens), f"{name} row {i + 1}: quote has extra fields"
        assert f"row {i + 1}," in row["provenance"], f"{name} row {i + 1}: provenance row"


# ---------------------------------------------------------------- engine against metafor
@pytest.mark.parametrize(("review", "analysis"), ANALYSES)
def test_effect_sizes(review: dict[str, Any], analysis: dict[str, Any]) -> None:
    yi, vi = effect_sizes(raw_table(review), analysis)
    what = f"{review['name']}/{analysis['id']}"
    for field, values in (("yi", yi), ("vi", vi)):
        expected = as_array(analysis["studies"][field])
        assert values.shape == expected.shape
        for i, (a, e) in enumerate(zip(values, expected, strict=True)):
            assert_close(a, e, f"{what}: {field}[{i}]")


@pytest.mark.parametrize(("review", "analysis"), ANALYSES)
def test_pooled(review: dict[str, Any], analysis: dict[str, Any]) -> None:
    frame = raw_table(review)
    yi, vi = effect_sizes(frame, analysis)
    result = fit(frame, yi, vi, analysis)
    assert_fields(result, analysis["pooled"], POOL_FIELDS, f"{review['name']}/{analysis['id']}")


@pytest.mark.parametrize(("review", "analysis"), ANALYSES)
def test_tau2_confidence_interval(review: dict[str, Any], analysis: dict[str, Any]) -> None:
    if analysis["model"] != "random":
        assert "tau2_ci" not in analysis
        return
    yi, vi = effect_sizes(raw_table(review), analysis)
    low, high = _evsynth().tau2_ci(yi, vi, method=analysis["method"], level=analysis["level"])
    what = f"{review['name']}/{analysis['id']}: tau2 CI"
    assert_close(low, analysis["tau2_ci"]["low"], f"{what} low")
    assert_close(high, analysis["tau2_ci"]["high"], f"{what} high")


@pytest.mark.parametrize(("review", "analysis"), ANALYSES)
def test_subgroups(review: dict[str, Any], analysis: dict[str, Any]) -> None:
    frame = raw_table(review)
    yi, vi = effect_sizes(frame, analysis)
    for expected in analysis["subgroups"]:
        column = expected["column"]
        what = f"{review['name']}/{analysis['id']}: subgroups by {column}"
        result = _evsynth().subgroup_analysis(
            yi,
            vi,
            frame[column].astype(str).to_numpy(),
            method=pool_method(analysis),
            ci_method=analysis["ci_method"],
            tau2="separate",
            level=analysis["level"],
        )
        groups = result.groups.set_index("group")
        assert sorted(groups.index) == [g["group"] for g in expected["groups"]], what
        for group in expected["groups"]:
            row = groups.loc[group["group"]]
            assert_fields(row, group, POOL_FIELDS, f"{what} = {group['group']}")
        assert_close(result.q_between, expected["q_between"], f"{what}: Q between")
        assert result.df == expected["df"], what
        assert_close(result.p_value, expected["p_value"], f"{what}: P between")


@pytest.mark.parametrize(("review", "analysis"), ANALYSES)
def test_meta_regression(review: dict[str, Any], analysis: dict[str, Any]) -> None:
    frame = raw_table(review)
    yi, vi = effect_sizes(frame, analysis)
    for expected in analysis["meta_regression"]:
        column = expected["moderator"]
        what = f"{review['name']}/{analysis['id']}: meta-regression on {column}"
        x = frame[column].to_numpy(dtype=float)
        np.testing.assert_array_equal(x, as_array(expected["x"]))
        result = _evsynth().meta_regression(
            yi,
            vi,
            x,
            method=pool_method(analysis),
            ci_method=analysis["ci_method"],
            level=analysis["level"],
            names=["intercept", column],
        )
        for field in REGRESSION_VECTORS.split():
            values = np.asarray(getattr(result, field), dtype=float)
            for i, (a, e) in enumerate(zip(values, as_array(expected[field]), strict=True)):
                assert_close(a, e, f"{what}: {field}[{i}]")
        assert_fields(result, expected, REGRESSION_SCALARS, what)


@pytest.mark.parametrize(("review", "analysis"), ANALYSES)
def test_leave_one_out(review: dict[str, Any], analysis: dict[str, Any]) -> None:
    frame = raw_table(review)
    yi, vi = effect_sizes(frame, analysis)
    expected = analysis["leave_one_out"]
    what = f"{review['name']}/{analysis['id']}: leave-one-out"
    if is_mh(analysis):
        k = len(frame)
        result = sequence_frame(
            frame, yi, vi, analysis, [np.delete(np.arange(k), i) for i in range(k)]
        )
    else:
        result = _evsynth().leave_one_out(
            yi,
            vi,
            labels=frame["study_id"],
            method=pool_method(analysis),
            ci_method=analysis["ci_method"],
            level=analysis["level"],
        )
        assert list(result["label"]) == list(expected["study_id"]), what
    assert_columns(result, expected, SEQUENCE_FIELDS, what)


@pytest.mark.parametrize(("review", "analysis"), ANALYSES)
def test_cumulative(review: dict[str, Any], analysis: dict[str, Any]) -> None:
    frame = raw_table(review)
    if "year" not in frame:
        assert "cumulative" not in analysis
        return
    yi, vi = effect_sizes(frame, analysis)
    expected = analysis["cumulative"]
    what = f"{review['name']}/{analysis['id']}: cumulative by year"
    order = frame["year"].to_numpy(dtype=float)
    if is_mh(analysis):
        ranked = np.argsort(order, kind="stable")
        sets = [ranked[: i + 1] for i in range(len(ranked))]
        result = sequence_frame(frame, yi, vi, analysis, sets)
        labels = list(frame["study_id"].to_numpy()[ranked])
    else:
        result = _evsynth().cumulative(
            yi,
            vi,
            order=order,
            labels=frame["study_id"],
            method=pool_method(analysis),
            ci_method=analysis["ci_method"],
            level=analysis["level"],
        )
        labels = list(result["label"])
    assert labels == list(expected["study_id"]), what
    assert_columns(result, expected, SEQUENCE_FIELDS, what)


@pytest.mark.parametrize(("review", "analysis"), ANALYSES)
def test_egger(review: dict[str, Any], analysis: dict[str, Any]) -> None:
    yi, vi = effect_sizes(raw_table(review), analysis)
    result = _evsynth().egger_test(yi, vi)
    what = f"{review['name']}/{analysis['id']}: Egger"
    assert_fields(result, analysis["egger"], "statistic p_value intercept slope tau2", what)


@pytest.mark.parametrize(("review", "analysis"), ANALYSES)
def test_trim_and_fill(review: dict[str, Any], analysis: dict[str, Any]) -> None:
    if analysis["model"] != "random":
        assert "trim_and_fill" not in analysis
        return
    yi, vi = effect_sizes(raw_table(review), analysis)
    expected = analysis["trim_and_fill"]
    result = _evsynth().trim_and_fill(yi, vi, method=expected["method"], estimator="L0")
    what = f"{review['name']}/{analysis['id']}: trim-and-fill"
    assert result.k0 == expected["k0"], what
    assert result.side == expected["side"], what
    assert_fields(result.pooled, expected, "estimate se ci_low ci_high p_value tau2 k", what)
