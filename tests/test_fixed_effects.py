"""Mantel–Haenszel and Peto against metafor 3.8.1 ``rma.mh`` / ``rma.peto``."""

from __future__ import annotations

import pytest

from evsynth import FixedEffectResult, mantel_haenszel, peto
from evsynth.errors import AnalysisInputError

BCG = (
    [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
    [123, 306, 231, 13598, 5069, 1541, 2545, 88391, 7499, 1716, 50634, 2498, 16913],
    [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
    [139, 303, 220, 12867, 5808, 1451, 629, 88391, 7277, 1665, 27338, 2341, 17854],
)

# rma.mh(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg, measure=m):
# beta, se, ci.lb, ci.ub, zval, pval, QE, QEp, I2, H2
MH = {
    "RR": (
        -0.453709604683754,
        0.0393373668712944,
        -0.53080942699813,
        -0.376609782369378,
        -11.5338071856263,
        8.91137967074168e-31,
        152.567553586657,
        1.70758753151519e-26,
        92.1346316973064,
        12.7139627988881,
    ),
    "OR": (
        -0.473410988388585,
        0.0410077784042314,
        -0.553784757146878,
        -0.393037219630292,
        -11.5444192982602,
        7.87716732544439e-31,
        163.942579569193,
        8.24945255100163e-29,
        92.6803640448177,
        13.6618816307661,
    ),
    "RD": (
        -0.003288181832613,
        0.000286656748527374,
        -0.00385001873565201,
        -0.00272634492957399,
        -11.4707986102026,
        1.84944534582781e-30,
        386.77594183656,
        2.3820625650551e-75,
        96.8974285362685,
        32.23132848638,
    ),
}
FIELDS = ("estimate", "se", "ci_low", "ci_high", "statistic", "p_value", "q", "q_pvalue")


@pytest.mark.parametrize("measure", list(MH))
def test_mantel_haenszel_matches_rma_mh(measure: str) -> None:
    res = mantel_haenszel(*BCG, measure=measure)
    assert isinstance(res, FixedEffectResult)
    expected = MH[measure]
    for field, value in zip(FIELDS, expected[:8], strict=True):
        assert getattr(res, field) == pytest.approx(value, rel=1e-9), field
    assert res.i2 == pytest.approx(expected[8], rel=1e-9)
    assert res.h2 == pytest.approx(expected[9], rel=1e-9)
    assert (res.k, res.q_df, res.measure, res.method) == (13, 12, measure, "MH")


def test_peto_matches_rma_peto() -> None:
    # rma.peto(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)
    res = peto(*BCG)
    assert res.estimate == pytest.approx(-0.474446310940636, rel=1e-9)
    assert res.se == pytest.approx(0.0406590807446483, rel=1e-9)
    assert (res.ci_low, res.ci_high) == pytest.approx((-0.554136644844653, -0.39475597703662))
    assert res.p_value == pytest.approx(1.83807338632167e-31, rel=1e-7)
    assert res.q == pytest.approx(167.730167511489, rel=1e-9)
    assert res.q_pvalue == pytest.approx(1.38975434718433e-29, rel=1e-7)
    assert (res.i2, res.h2) == pytest.approx((92.8456519312914, 13.9775139592908))
    assert (res.measure, res.method, res.k) == ("OR", "Peto", 13)


# Zero cells, one double-zero study: ai=c(0,3,0,5), n1i=c(20,30,15,40), ci=c(2,6,0,9),
# n2i=c(21,29,15,41). metafor: beta, se, QE, QEp, I2, H2 (k = 4; Q on 2 df, the
# double-zero study dropped from Q as escalc(drop00=TRUE) does inside rma.mh / rma.peto)
ZERO = ([0, 3, 0, 5], [20, 30, 15, 40], [2, 6, 0, 9], [21, 29, 15, 41])
ZERO_MH = {
    "RR": (
        -0.748983401969192,
        0.398491529929549,
        0.420316690859621,
        0.810455903820826,
        0.21015834542981,
    ),
    "OR": (
        -0.883747166797942,
        0.464337200461549,
        0.357046745726142,
        0.836504505143646,
        0.178523372863071,
    ),
    "RD": (
        -0.084674836648351,
        0.0431542555726608,
        0.0757001131513462,
        0.962857304189094,
        0.0378500565756731,
    ),
}


@pytest.mark.parametrize("measure", list(ZERO_MH))
def test_mantel_haenszel_with_zero_cells(measure: str) -> None:
    beta, se, q, q_p, h2 = ZERO_MH[measure]
    res = mantel_haenszel(*ZERO, measure=measure)
    assert (res.estimate, res.se) == pytest.approx((beta, se), rel=1e-9)
    assert (res.q, res.q_pvalue, res.h2) == pytest.approx((q, q_p, h2), rel=1e-9)
    assert (res.q_df, res.k, res.i2) == (2, 4, 0.0)


def test_peto_with_zero_cells() -> None:
    # rma.peto(ai=c(0,3,0,5), n1i=c(20,30,15,40), ci=c(2,6,0,9), n2i=c(21,29,15,41))
    res = peto(*ZERO)
    assert (res.estimate, res.se) == pytest.approx((-0.833557683371702, 0.432050657041203))
    assert (res.q, res.q_pvalue) == pytest.approx((0.76213074884463, 0.683133228719883))
    assert (res.q_df, res.k, res.i2, res.h2) == (2, 4, 0.0, pytest.approx(0.381065374422315))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mantel_haenszel([5], [4], [1], [10]), r"ai\[0\] = 5 exceeds n1i"),
        (lambda: mantel_haenszel([1, 2], [4, 4], [1], [10, 10]), "different lengths"),
        (lambda: mantel_haenszel([1], [4], [1], [10], measure="HR"), "'HR' is not RR, OR or RD"),
        (lambda: peto([0, 0], [10, 10], [0, 0], [10, 10]), "no information"),
        (lambda: mantel_haenszel([0, 0], [10, 10], [0, 0], [10, 10]), "no information"),
        (lambda: peto([1], [4], [-1], [10]), "non-negative"),
    ],
)
def test_invalid_tables_raise(call, message) -> None:
    with pytest.raises(AnalysisInputError, match=message):
        call()
