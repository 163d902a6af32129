"""Egger's test, funnel data and trim-and-fill against metafor 3.8.1 (BCG trials, dat.bcg).

dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)
ctl <- list(threshold=1e-12, maxiter=2000); fit <- rma(yi, vi, data=dat, control=ctl)
"""

from __future__ import annotations

import numpy as np
import pytest
from bcg_data import VI, YI
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.errors import AnalysisInputError
from evsynth.meta.pooling import pool
from evsynth.meta.regression import meta_regression
from evsynth.meta.small_study import egger_test, funnel_data, trim_and_fill

# fmt: off
# fmt: on


def test_egger_matches_metafor_regtest() -> None:
    # r <- regtest(fit); c(r$zval, r$pval, r$est, r$ci.lb, r$ci.ub)
    res = egger_test(YI, VI)
    got = [res.statistic, res.p_value, res.intercept, res.intercept_ci_low, res.intercept_ci_high]
    expected = [-0.8033291930908, 0.4217844888553, -0.510431874103, -1.118223989009,
                0.09736024080271]  # fmt: skip
    np.testing.assert_allclose(got, expected, rtol=1e-8)
    assert np.isnan(res.df) and res.k == 13


def test_egger_is_the_meta_regression_on_se() -> None:
    fit = meta_regression(YI, VI, np.sqrt(VI))
    res = egger_test(YI, VI)
    assert res.slope == fit.coef[1] and res.statistic == fit.statistic[1]


@pytest.mark.parametrize(
    ("method", "estimator", "k0", "estimate", "se", "tau2"),
    [
        # t <- trimfill(fit, control=ctl); c(t$k0, t$b, t$se, t$tau2); t$side == "right"
        ("REML", "L0", 1, -0.6570827834878, 0.1785283801319, 0.3312876334395),
        # trimfill(fit, estimator="R0", control=ctl): nothing filled
        ("REML", "R0", 0, -0.7145323421581, 0.1797815161052, 0.3132432581365),
        # trimfill(rma(yi, vi, data=dat, method="DL"))
        ("DL", "L0", 1, -0.6560732129886, 0.1734634024654, 0.308132153287),
    ],
)
def test_trim_and_fill_matches_metafor(
    method: str, estimator: str, k0: int, estimate: float, se: float, tau2: float
) -> None:
    res = trim_and_fill(YI, VI, method=method, estimator=estimator)
    assert (res.k0, res.side) == (k0, "right")
    assert res.pooled.k == 13 + k0 and len(res.filled_yi) == k0
    np.testing.assert_allclose(
        [res.pooled.estimate, res.pooled.se, res.pooled.tau2], [estimate, se, tau2], rtol=1e-8
    )


def test_trim_and_fill_se_k0_matches_metafor() -> None:
    # trimfill(rma(yi, vi, data=dat, method="DL"))$se.k0
    assert trim_and_fill(YI, VI, method="DL").se_k0 == pytest.approx(2.452798643183, rel=1e-9)


def test_filled_studies_mirror_the_trimmed_ones() -> None:
    # Three small studies far right of a symmetric core: filled on the left.
    yi = np.array([-0.2, -0.1, 0.0, 0.1, 0.2, 0.9, 1.0, 1.1])
    vi = np.array([0.01, 0.01, 0.01, 0.01, 0.01, 0.3, 0.3, 0.3])
    res = trim_and_fill(yi, vi, method="EE")
    assert res.side == "left" and res.k0 > 0
    # the mirror images of the k0 largest studies about the trimmed centre
    centre = pool(np.sort(yi)[: len(yi) - res.k0], vi[np.argsort(yi)][: len(yi) - res.k0], "EE")
    np.testing.assert_allclose(
        np.sort(res.filled_yi), np.sort(2 * centre.estimate - np.sort(yi)[-res.k0 :])
    )
    assert res.pooled.estimate < pool(yi, vi, "EE").estimate


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(3, 15))
def test_mirrored_data_fill_on_the_mirrored_side(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.5, k)
    yi = rng.normal(0, np.sqrt(vi + 0.05))
    a, b = trim_and_fill(yi, vi), trim_and_fill(-yi, vi, side=None)
    assert a.k0 >= 0 and a.pooled.k == k + a.k0
    if a.side != b.side:  # mirroring the data mirrors the analysis
        assert a.k0 == b.k0
        assert a.pooled.estimate == pytest.approx(-b.pooled.estimate, rel=1e-7, abs=1e-10)


def test_funnel_data_limits() -> None:
    frame = funnel_data(YI, VI, estimate=-0.7)
    assert list(frame.columns) == ["yi", "se", "limit_low", "limit_high"]
    np.testing.assert_allclose(frame["se"], np.sqrt(VI))
    np.testing.assert_allclose(
        frame["limit_high"] - frame["limit_low"], 2 * 1.959963984540054 * np.sqrt(VI)
    )


def test_inputs_are_checked() -> None:
    with pytest.raises(AnalysisInputError, match="at least three"):
        egger_test(YI[:2], VI[:2])
    with pytest.raises(AnalysisInputError, match="estimator"):
        trim_and_fill(YI, VI, estimator="X0")
    with pytest.raises(AnalysisInputError, match="pass side"):
        trim_and_fill(YI, VI, method="PM")
