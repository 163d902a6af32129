"""Risk difference, NNT/NNH with Altman's (1998) convention, and events per 1000."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.errors import AnalysisInputError
from evsynth.meta.absolute import nnt_from_counts, nnt_from_ratio, per_1000, risk_difference


def test_whi_kidney_stones_nnth_273() -> None:
    # WHI calcium + vitamin D: kidney stones 449/18,176 vs 381/18,106 (RD 0.366%).
    # metafor: ee <- escalc(measure="RD", ai=449, n1i=18176, ci=381, n2i=18106)
    #          c(ee$yi, ee$yi - qnorm(.975)*sqrt(ee$vi), ee$yi + qnorm(.975)*sqrt(ee$vi))
    res = nnt_from_counts(449, 18176, 381, 18106)
    assert res.risk_difference == pytest.approx(0.003660156669332, rel=1e-10)
    assert res.rd_ci_low == pytest.approx(0.0005840353217591, rel=1e-9)
    assert res.rd_ci_high == pytest.approx(0.006736278016905, rel=1e-10)
    assert res.direction == "harm"
    assert res.nnt == pytest.approx(-1 / 0.003660156669332, rel=1e-10)  # −273.2, unrounded
    assert res.rounded == 273  # NNTH rounded down
    assert res.label == "NNTH 273"
    # 1/0.006736 = 148.45 → 148; 1/0.000584 = 1712.2 → 1,712 (both NNTH, rounded down)
    assert res.ci_label == "NNTH 148 to NNTH 1,712"
    assert res.control_risk == pytest.approx(381 / 18106)
    assert res.treat_risk == pytest.approx(449 / 18176)


def test_ci_crossing_zero_runs_through_infinity() -> None:
    # 10/100 vs 12/100: RD −0.02, Var = 0.1·0.9/100 + 0.12·0.88/100, CI −0.1067 to 0.0667.
    res = nnt_from_counts(10, 100, 12, 100)
    assert res.risk_difference == pytest.approx(-0.02)
    half = 1.959963984540054 * math.sqrt(0.1 * 0.9 / 100 + 0.12 * 0.88 / 100)
    assert (res.rd_ci_low, res.rd_ci_high) == pytest.approx((-0.02 - half, -0.02 + half))
    assert res.direction == "benefit" and res.label == "NNTB 50" and res.nnt > 0
    # 1/0.1067 = 9.37 → NNTB 10 (up); 1/0.0667 = 14.997 → NNTH 14 (down)
    assert res.ci_label == "NNTB 10 to ∞ to NNTH 14"


def test_beneficial_events_swap_benefit_and_harm() -> None:
    res = nnt_from_counts(10, 100, 12, 100, events_are="beneficial")
    assert res.direction == "harm" and res.label == "NNTH 50" and res.nnt < 0
    # now 1/0.0667 = 14.997 is a benefit (up → 15) and 1/0.1067 = 9.37 a harm (down → 9)
    assert res.ci_label == "NNTB 15 to ∞ to NNTH 9"


def test_from_relative_risk_and_control_risk() -> None:
    # RR 0.8 (0.6 to 1.05) at a control risk of 10%: RD = 0.1·(RR − 1) = −2% (−4% to +0.5%).
    res = nnt_from_ratio(0.8, 0.6, 1.05, 0.10, "RR")
    assert res.risk_difference == pytest.approx(-0.02)
    assert (res.rd_ci_low, res.rd_ci_high) == pytest.approx((-0.04, 0.005))
    assert res.label == "NNTB 50"
    assert res.ci_label == "NNTB 25 to ∞ to NNTH 200"
    assert per_1000(res.treat_risk) == pytest.approx(80.0)


def test_from_odds_ratio() -> None:
    # OR 1.5 at 5%: risk = 1.5·0.05/(0.95 + 1.5·0.05) = 0.07317; RD = 0.02317 → NNTH 43.
    res = nnt_from_ratio(1.5, 1.2, 1.9, 0.05, measure="OR")
    assert res.treat_risk == pytest.approx(0.075 / 1.025)
    assert res.label == "NNTH 43"
    low = 1.2 * 0.05 / (0.95 + 1.2 * 0.05) - 0.05
    high = 1.9 * 0.05 / (0.95 + 1.9 * 0.05) - 0.05
    assert (res.rd_ci_low, res.rd_ci_high) == pytest.approx((low, high))
    assert res.ci_label == f"NNTH {math.floor(1 / high)} to NNTH {math.floor(1 / low)}"


def test_risk_difference_named_fields() -> None:
    rd = risk_difference(449, 18176, 381, 18106)
    assert rd.estimate == pytest.approx(0.003660156669332, rel=1e-10)
    assert rd.ci_low < rd.estimate < rd.ci_high
    assert rd.se == pytest.approx((rd.ci_high - rd.estimate) / 1.959963984540054)


@settings(max_examples=50, deadline=None)
@given(
    n1=st.integers(20, 5000),
    n2=st.integers(20, 5000),
    p1=st.floats(0.01, 0.99),
    p2=st.floats(0.01, 0.99),
)
def test_nnt_is_the_inverse_rd_and_rounds_conservatively(
    n1: int, n2: int, p1: float, p2: float
) -> None:
    a, c = round(p1 * n1), round(p2 * n2)
    res = nnt_from_counts(a, n1, c, n2)
    rd = a / n1 - c / n2
    assert res.rd_ci_low <= res.risk_difference <= res.rd_ci_high
    if rd == 0:
        assert res.direction == "none" and math.isinf(res.nnt)
        return
    assert abs(res.nnt) == pytest.approx(1 / abs(rd))
    assert (res.nnt > 0) == (rd < 0)  # harmful events: fewer with treatment = benefit
    if res.direction == "benefit":
        assert res.rounded >= abs(res.nnt) - 1e-6
    else:
        assert res.rounded <= abs(res.nnt) + 1e-6
    assert ("∞" in res.ci_label) == (res.rd_ci_low < 0 < res.rd_ci_high)


def test_inputs_are_checked() -> None:
    with pytest.raises(AnalysisInputError, match="exceeds"):
        nnt_from_counts(12, 10, 1, 10)
    with pytest.raises(AnalysisInputError, match="control risk"):
        nnt_from_ratio(0.8, 0.6, 1.05, 1.2)
    with pytest.raises(AnalysisInputError, match="ci_low <= ratio"):
        nnt_from_ratio(0.8, 0.9, 1.05, 0.1)
    with pytest.raises(AnalysisInputError, match="measure"):
        nnt_from_ratio(0.8, 0.6, 1.05, 0.1, measure="IRR")
    with pytest.raises(AnalysisInputError, match="events_are"):
        nnt_from_counts(10, 100, 12, 100, events_are="bad")
