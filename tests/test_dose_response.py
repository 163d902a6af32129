"""One-stage dose–response meta-analysis against metafor's rma.mv, and its invariants.

Fixtures: ``tests/reference/dose_response.json`` from ``tests/reference/make_dose_response.R``
(R 4.2, metafor 3.8.1, rms 6.5): ``rma.mv(yi, V, mods = ~ 0 + X, random = ~ 0 + X | study,
struct = "GEN")`` on dat.obrien2003 (maternal BMI and preeclampsia; the lowest BMI category
is each study's reference, so the reference dose is not 0) and on two synthetic multi-arm
sets (one with clear heterogeneity and zero cells, one whose slope variance is 0).

Tolerance: 1e-6, relative to the value or, for a value near 0, to its standard error (a
coefficient or log RR against its SE, Var(β̂) against SEᵢ·SEⱼ, Ψ against its largest element
or the largest sampling variance of β̂). One case, the four-knot spline whose 3 × 3 Ψ has
rank 1, is compared to metafor's own ``spread`` instead (3.2e-6: how far its optimiser runs
disagree there). The REML/ML log-likelihood must agree to 1e-9 and must not be below
metafor's by more than that.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evsynth
from evsynth.errors import AnalysisInputError
from evsynth.meta.dose_response import (
    DoseResponseResult,
    _blocks,
    _rows,
    default_knots,
    dose_response,
    greenland_longnecker,
    spline_basis,
)

FIXTURE = json.loads(
    (Path(__file__).parent / "reference" / "dose_response.json").read_text(encoding="utf-8")
)
CASES = {case["name"]: case for case in FIXTURE["cases"]}
TOL = 1e-6
#: Cases compared to metafor's spread (its runs disagree by more than TOL there).
WIDENED = {"het-spline4-REML"}
SETTINGS = settings(max_examples=15, deadline=None)


def dataset(name: str) -> pd.DataFrame:
    return pd.DataFrame(FIXTURE["datasets"][name])


def fit(case: dict[str, Any], table: pd.DataFrame | None = None) -> DoseResponseResult:
    data = dataset(case["dataset"]) if table is None else table
    return dose_response(data, model=case["model"], knots=case["knots"], method=case["method"])


@functools.cache
def fitted(name: str) -> DoseResponseResult:
    """The fit of a fixture case (cached: several tests read the same fits)."""
    return fit(CASES[name])


def square(values: Any, p: int) -> np.ndarray:
    """An R matrix (column-major in the JSON, a scalar when 1 × 1) as a p × p array."""
    return np.atleast_1d(np.asarray(values, dtype=float)).reshape((p, p), order="F")


def close(got: Any, expected: Any, scale: Any, tol: float) -> None:
    """|got − expected| ≤ tol · max(|expected|, scale), elementwise."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    bound = tol * np.maximum(np.abs(expected), np.asarray(scale, dtype=float))
    assert got.shape == expected.shape
    assert np.all(np.abs(got - expected) <= bound), (got, expected, np.abs(got - expected) / bound)


# ---- metafor ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_fit_matches_metafor(name: str) -> None:
    case = CASES[name]
    res = fitted(name)
    tol = max(TOL, case["spread"]) if name in WIDENED else TOL
    p = len(res.coef)
    se = np.atleast_1d(case["se"])
    psi = square(case["psi"], p)
    psi_scale = max(np.abs(psi).max(), (se**2).max())
    close(res.coef, np.atleast_1d(case["coef"]), se, tol)
    close(res.se, se, 0, tol)
    close(res.vcov, square(case["vcov"], p), np.outer(se, se), tol)
    close(res.psi, psi, psi_scale, tol)
    close(res.tau2, np.atleast_1d(case["tau2"]), psi_scale, tol)
    assert abs(res.log_likelihood - case["log_likelihood"]) < 1e-9
    assert res.log_likelihood >= case["log_likelihood"] - 1e-9  # not a worse maximum
    assert (res.k_studies, res.n_rows) == (case["k_studies"], case["n_rows"])
    assert (res.model, res.method, res.converged) == (case["model"], case["method"], True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_predictions_match_metafor(name: str) -> None:
    case = CASES[name]
    expected = case["predict"]
    table = fitted(name).predict(expected["dose"], reference=expected["reference"])
    tol = max(TOL, case["spread"]) if name in WIDENED else TOL
    se = np.asarray(expected["se"])
    assert list(table.columns) == ["dose", "log_rr", "se", "rr", "ci_low", "ci_high"]
    np.testing.assert_array_equal(table["dose"], expected["dose"])
    close(table["log_rr"], expected["log_rr"], se, tol)
    close(table["se"], se, 0, tol)
    close(np.log(table["ci_low"]), expected["ci_low"], se, tol)
    close(np.log(table["ci_high"]), expected["ci_high"], se, tol)
    np.testing.assert_allclose(table["rr"], np.exp(table["log_rr"]), rtol=1e-15)


@pytest.mark.parametrize("name", ["obrien-linear-REML", "het-linear-REML"])
def test_effects_match_escalc(name: str) -> None:
    """log RR and variance per row (escalc RR; synthetic T11/T12 have zero cells)."""
    case = CASES[name]
    rows = _rows(dataset(case["dataset"]), "dose", "dose_control")
    np.testing.assert_allclose(rows.yi, case["yi"], rtol=1e-13)
    np.testing.assert_allclose(rows.vi, case["vi"], rtol=1e-13)


def test_boundary_cases_are_exactly_zero() -> None:
    """REML and ML put the slope variance of the consistent synthetic set at 0 exactly."""
    for name in ("hom-linear-REML", "hom-linear-ML"):
        res = fitted(name)
        assert res.tau2[0] == 0.0
        assert res.psi_on_boundary
        assert CASES[name]["tau2"] < 1e-15  # metafor's log-scale optimum heads to 0 too
    assert not fitted("het-linear-REML").psi_on_boundary
    assert fitted("het-linear-REML").tau2[0] > 1e-5  # clear heterogeneity


def test_spline_basis_matches_rms() -> None:
    for entry in FIXTURE["basis"]:
        x = np.asarray(entry["x"], dtype=float)
        expected = np.asarray(entry["basis"]).reshape((len(x), -1), order="F")
        got = spline_basis(x, entry["knots"])
        assert got.shape == (len(x), len(entry["knots"]) - 1)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


def test_default_knots_match_r_quantile() -> None:
    for name, knots in FIXTURE["default_knots"].items():
        np.testing.assert_allclose(default_knots(dataset(name)["dose"].to_numpy()), knots)
    res = fitted("het-spline-REML")
    np.testing.assert_allclose(res.knots, FIXTURE["default_knots"]["synthetic_het"])
    assert res.names == ["dose", "dose'"]


def test_public_export() -> None:
    assert evsynth.dose_response is dose_response
    assert evsynth.DoseResponseResult is DoseResponseResult
    assert "dose_response" in evsynth.__all__


# ---- invariants -------------------------------------------------------------------------


def assert_same_fit(a: DoseResponseResult, b: DoseResponseResult, rtol: float = 1e-7) -> None:
    np.testing.assert_allclose(a.coef, b.coef, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(a.se, b.se, rtol=rtol)
    np.testing.assert_allclose(a.psi, b.psi, rtol=1e-5, atol=1e-9 * np.abs(b.psi).max() + 1e-14)
    assert a.log_likelihood == pytest.approx(b.log_likelihood, abs=1e-9)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    name=st.sampled_from(["het-linear-REML", "obrien-quadratic-REML"]),
)
def test_row_and_study_order_do_not_matter(seed: int, name: str) -> None:
    case = CASES[name]
    table = dataset(case["dataset"])
    shuffled = table.sample(frac=1, random_state=np.random.RandomState(seed % 2**32))
    assert_same_fit(fit(case, shuffled), fitted(name))


@pytest.mark.parametrize("model", ["linear", "quadratic", "spline"])
@pytest.mark.parametrize("c", [0.1, 7.0])
def test_scaling_the_dose_scales_the_coefficients(model: str, c: float) -> None:
    """Dose × c: linear and spline terms (the rms basis scales like dose) give β/c,
    the quadratic term β/c²; Ψ scales alike and the log-likelihood is unchanged."""
    table = dataset("synthetic_het")
    knots = np.array([10.0, 30.0, 80.0]) if model == "spline" else None
    base = dose_response(table, model=model, knots=knots)
    scaled_table = table.assign(dose=table["dose"] * c)
    scaled = dose_response(scaled_table, model=model, knots=None if knots is None else knots * c)
    power = np.array([1.0, 2.0]) if model == "quadratic" else np.ones(len(base.coef))
    factor = c**-power
    np.testing.assert_allclose(scaled.coef, base.coef * factor, rtol=1e-6)
    np.testing.assert_allclose(scaled.se, base.se * factor, rtol=1e-6)
    psi_scale = np.abs(base.psi).max()
    np.testing.assert_allclose(
        scaled.psi / np.outer(factor, factor), base.psi, rtol=1e-5, atol=1e-7 * psi_scale
    )
    assert scaled.log_likelihood == pytest.approx(base.log_likelihood, abs=1e-8)
    doses = np.array([5.0, 40.0, 100.0])
    np.testing.assert_allclose(
        scaled.predict(doses * c)["log_rr"], base.predict(doses)["log_rr"], rtol=1e-6
    )


def one_arm_per_trial() -> pd.DataFrame:
    """Six two-arm trials whose log RR per mg are nearly equal (made-up counts)."""
    return pd.DataFrame(
        {
            "study_id": ["A", "B", "C", "D", "E", "F"],
            "dose": [10.0, 20.0, 40.0, 60.0, 80.0, 25.0],
            "events_treat": [55, 60, 80, 95, 120, 70],
            "n_treat": [500, 500, 500, 500, 500, 500],
            "events_control": [50, 50, 50, 50, 50, 52],
            "n_control": [500, 500, 500, 500, 500, 500],
        }
    )


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_single_arm_trials_with_zero_variance_is_weighted_regression(method: str) -> None:
    """One row per trial and Ψ = 0: β̂ = Σ wxy / Σ wx², Var = 1/Σ wx², w = 1/v."""
    table = one_arm_per_trial()
    res = dose_response(table, method=method)
    assert res.tau2[0] == 0.0
    y, v = evsynth.binary_effects(
        table["events_treat"], table["n_treat"], table["events_control"], table["n_control"]
    )
    x = table["dose"].to_numpy()
    w = 1 / v
    assert res.coef[0] == pytest.approx(np.sum(w * x * y) / np.sum(w * x**2), rel=1e-12)
    assert res.se[0] == pytest.approx(1 / np.sqrt(np.sum(w * x**2)), rel=1e-12)


@SETTINGS
@given(
    doses=st.lists(st.floats(0, 150, allow_nan=False), min_size=1, max_size=6),
    name=st.sampled_from(sorted(CASES)),
)
def test_predictions_are_coherent(doses: list[float], name: str) -> None:
    res = fitted(name)
    ref = CASES[name]["predict"]["reference"]
    table = res.predict([ref, *doses], reference=ref)
    assert table["log_rr"].iloc[0] == 0.0 and table["se"].iloc[0] == 0.0
    assert (table["ci_low"] <= table["rr"] + 1e-15).all()
    assert (table["rr"] <= table["ci_high"] + 1e-15).all()
    assert np.all(np.linalg.eigvalsh(res.psi) >= -1e-12 * max(1.0, np.abs(res.psi).max()))
    assert (res.tau2 >= 0).all()


def test_nonlinearity_wald_test() -> None:
    quad = fitted("obrien-quadratic-REML")
    assert quad.nonlinear_df == 1
    assert quad.nonlinear_chi2 == pytest.approx((quad.coef[1] / quad.se[1]) ** 2, rel=1e-12)
    spline = fitted("het-spline4-REML")
    assert spline.nonlinear_df == 2
    b, v = spline.coef[1:], spline.vcov[1:, 1:]
    assert spline.nonlinear_chi2 == pytest.approx(float(b @ np.linalg.solve(v, b)), rel=1e-10)
    assert 0 <= spline.nonlinear_pvalue <= 1
    linear = fitted("het-linear-REML")
    assert linear.nonlinear_df == 0 and np.isnan(linear.nonlinear_chi2)


def test_level_changes_the_interval_only() -> None:
    res = fitted("het-linear-REML")
    narrow, wide = res.predict([50.0], level=0.5), res.predict([50.0], level=0.99)
    assert narrow["rr"].iloc[0] == wide["rr"].iloc[0]
    assert wide["ci_low"].iloc[0] < narrow["ci_low"].iloc[0]
    with pytest.raises(AnalysisInputError, match="level"):
        res.predict([1.0], level=1.5)


# ---- errors -----------------------------------------------------------------------------


def het() -> pd.DataFrame:
    return dataset("synthetic_het")


def edit(column: str, row: int, value: float) -> Any:
    """A change to one cell of the synthetic table."""
    return lambda t: t.assign(**{column: t[column].where(t.index != row, value)})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns="n_control"), "lacks column.*n_control"),
        (lambda t: t.drop(columns="dose"), "lacks column.*dose"),
        (edit("dose", 3, -10.0), r"row 3 \(study 'T02'\): dose = -10 is negative"),
        (edit("n_treat", 5, 0), r"row 5 \(study 'T03'\): n_treat = 0"),
        (edit("events_treat", 0, 151), r"row 0 .*events_treat \(151\) exceeds n_treat"),
        (edit("events_control", 1, 16), r"'T01'.*share one reference arm"),
        (edit("dose", 2, np.nan), r"row 2 .*not a finite number"),
        (lambda t: t[t["study_id"] == "T01"], "only one study"),
        (lambda t: t.assign(dose=20.0), "at least two distinct doses"),
        (lambda t: t.assign(dose_control=np.where(t.index == 7, 5.0, 0.0)),
         r"row 7 \(study 'T04'\): dose_control = 5 differs from 0 on row 6"),
        (lambda t: t.assign(dose_control=np.where(t["study_id"] == "T02", 20.0, 0.0)),
         r"row 4 .*equals its reference dose"),
        (lambda t: t.iloc[0:0], "no rows"),
    ],
)  # fmt: skip
def test_input_errors_name_the_row_and_study(change: Any, message: str) -> None:
    with pytest.raises(AnalysisInputError, match=message):
        dose_response(change(het()))


def test_option_errors() -> None:
    table = het()
    with pytest.raises(AnalysisInputError, match="model 'cubic'"):
        dose_response(table, model="cubic")
    with pytest.raises(AnalysisInputError, match="method 'DL'"):
        dose_response(table, method="DL")
    with pytest.raises(AnalysisInputError, match="at least 3 knots"):
        dose_response(table, model="spline", knots=[10, 50])
    with pytest.raises(AnalysisInputError, match="strictly increasing"):
        dose_response(table, model="spline", knots=[10, 50, 50])
    with pytest.raises(AnalysisInputError, match="cannot identify"):
        dose_response(table, model="spline", knots=[200, 300, 400])


def test_two_distinct_doses_identify_the_quadratic_but_not_every_spline() -> None:
    table = het().assign(dose=np.where(het().index % 2 == 0, 20.0, 40.0))
    dose_response(table, model="quadratic")  # two distinct doses identify β1, β2
    with pytest.raises(AnalysisInputError, match="cannot identify"):
        dose_response(table, model="spline", knots=[50, 60, 70])  # no dose past a knot


def test_adjusted_estimates_need_a_design_and_counts() -> None:
    adjusted = pd.DataFrame(
        {"study_id": ["A", "A", "B"], "dose": [1.0, 2.0, 1.0], "yi": [0.1, 0.2, 0.1],
         "vi": [0.01, 0.02, 0.01], "events_treat": [10, 12, 9], "n_treat": [100, 100, 90],
         "events_control": [8, 8, 7], "n_control": [100, 100, 90]}
    )  # fmt: skip
    with pytest.raises(AnalysisInputError, match="need the study design"):
        dose_response(adjusted)
    with pytest.raises(AnalysisInputError, match="design 'rr' is not one of"):
        dose_response(adjusted, design="rr")
    with pytest.raises(AnalysisInputError, match=r"lacks column.*n_control.*Greenland"):
        dose_response(adjusted.drop(columns="n_control"), design="ci")
    with pytest.raises(AnalysisInputError, match=r"row 1 .*vi = -0.02 is not a positive"):
        dose_response(adjusted.assign(vi=[0.01, -0.02, 0.01]), design="ci")
    with pytest.raises(AnalysisInputError, match="share one design"):
        dose_response(adjusted.assign(type=["ci", "cc", "ci"]))
    with pytest.raises(AnalysisInputError, match=r"study 'A'.*cases > 0"):
        dose_response(adjusted.assign(events_treat=[0, 12, 9]), design="cc")


# ---- adjusted estimates: Greenland & Longnecker (1992) ----------------------------------

# dosresmeta's alcohol_cvd, study 1 (Bianchi, case-control), verbatim from the package's data
# (Crippa & Orsini, R package dosresmeta 2.x, data/alcohol_cvd.rda; Liu et al. 2009): the
# reference category first.
BIANCHI_CASES = [126, 61, 69, 22, 19]
BIANCHI_N = [414, 261, 228, 44, 34]  # cases + controls
BIANCHI_LOGOR = [-0.22314350306987801, -9.9999997473787503e-05, 0.53062832355499301,
                 0.87546867132186901]  # fmt: skip
BIANCHI_SE = np.array([0.223337978124619, 0.23375192284584001, 0.37651365995407099,
                       0.44400462508201599])  # fmt: skip


def test_greenland_longnecker_matches_dosresmeta_published_example() -> None:
    """dosresmeta's reference pages print, for this study, grl() pseudo-counts (A) and
    covar.logrr() (covariance = "gl"); the values below are copied from that output."""
    fitted = greenland_longnecker(BIANCHI_LOGOR, BIANCHI_SE**2, BIANCHI_CASES, BIANCHI_N, "cc")
    # grl() prints A for categories 1-4 to 7 significant digits; its A0 is the value before
    # its last Newton step, so compare A0 with the total of cases less the printed A1-A4.
    published = np.array([67.12135, 68.86106, 18.64972, 17.32196])
    np.testing.assert_allclose(fitted.cases[1:], published, rtol=1e-6)
    assert fitted.cases[0] == pytest.approx(sum(BIANCHI_CASES) - published.sum(), rel=1e-6)
    expected = np.array([
        [0.04987985, 0.01875906, 0.01678737, 0.01780975],
        [0.01875906, 0.05463996, 0.01736485, 0.01842239],
        [0.01678737, 0.01736485, 0.14176254, 0.01648609],
        [0.01780975, 0.01842239, 0.01648609, 0.19714011],
    ])  # fmt: skip
    np.testing.assert_allclose(fitted.covariance, expected, rtol=1e-6)


@pytest.mark.parametrize("design", ["cc", "ci", "ir"])
def test_pseudo_counts_reproduce_the_ratios_and_the_margins(design: str) -> None:
    n = [414.0, 261.0, 228.0, 44.0, 34.0] if design != "ir" else [9e3, 6e3, 5e3, 1e3, 8e2]
    fitted = greenland_longnecker(BIANCHI_LOGOR, BIANCHI_SE**2, BIANCHI_CASES, n, design)
    a, total = fitted.cases, np.asarray(n)
    log_ratio = np.log(a / (total - a)) if design == "cc" else np.log(a / total)
    np.testing.assert_allclose(log_ratio[1:] - log_ratio[0], BIANCHI_LOGOR, rtol=0, atol=1e-12)
    assert a.sum() == pytest.approx(sum(BIANCHI_CASES), rel=1e-14)
    share = {"cc": 1 / a + 1 / (total - a), "ci": 1 / a - 1 / total, "ir": 1 / a}[design]
    s = share[0] + share[1:]
    expected = share[0] / np.sqrt(np.outer(s, s)) * np.outer(BIANCHI_SE, BIANCHI_SE)
    np.fill_diagonal(expected, BIANCHI_SE**2)
    np.testing.assert_allclose(fitted.covariance, expected, rtol=1e-13)


def test_adjusted_path_on_crude_risk_ratios_equals_the_crude_path() -> None:
    """Crude log RRs given as 'adjusted' (ci): the fitted cells are the observed ones, so the
    covariance and the whole fit are those of the crude-count path (no zero cells here)."""
    table = dataset("obrien2003")
    crude = dose_response(table, model="quadratic")
    rows = _rows(table, "dose", "dose_control")
    adjusted_table = table.assign(yi=rows.yi, vi=rows.vi)
    adjusted = dose_response(adjusted_table, model="quadratic", design="ci")
    np.testing.assert_allclose(adjusted.coef, crude.coef, rtol=1e-9)
    np.testing.assert_allclose(adjusted.vcov, crude.vcov, rtol=1e-9)
    assert adjusted.log_likelihood == pytest.approx(crude.log_likelihood, abs=1e-10)


def test_adjusted_blocks_are_the_greenland_longnecker_covariance() -> None:
    table = pd.DataFrame(
        {"study_id": ["B"] * 4 + ["S"], "dose": [9.06, 27.0, 45.0, 64.8, 10.0],
         "yi": [*BIANCHI_LOGOR, 0.1], "vi": [*(BIANCHI_SE**2), 0.04],
         "events_treat": [*BIANCHI_CASES[1:], 30], "n_treat": [*BIANCHI_N[1:], 300],
         "events_control": [126] * 4 + [25], "n_control": [414] * 4 + [310]}
    )  # fmt: skip
    rows = _rows(table, "dose", "dose_control", "cc")
    blocks = _blocks(rows, rows.dose[:, None])
    by_size = {x.shape[1]: s for x, s in zip(blocks.x, blocks.s, strict=True)}
    expected = greenland_longnecker(BIANCHI_LOGOR, BIANCHI_SE**2, BIANCHI_CASES, BIANCHI_N, "cc")
    np.testing.assert_allclose(by_size[4][0], expected.covariance, rtol=1e-13)
    np.testing.assert_allclose(by_size[1][0], [[0.04]])
    res = dose_response(table, design="cc")
    assert res.converged and res.k_studies == 2 and res.n_rows == 5


def test_design_matrix_is_the_dose_terms_against_the_reference() -> None:
    res = fitted("het-spline4-REML")
    x = res.design_matrix([0.0, 30.0, 90.0], reference=10.0)
    knots = np.array([10.0, 25.0, 50.0, 80.0])
    expected = spline_basis([0.0, 30.0, 90.0], knots) - spline_basis([10.0] * 3, knots)
    np.testing.assert_allclose(x, expected, rtol=1e-14)
    np.testing.assert_allclose(res.predict([30.0], reference=10.0)["log_rr"], x[1] @ res.coef)
