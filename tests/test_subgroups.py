"""Subgroup analysis and the test for subgroup differences.

metafor 3.8.1 reference (BCG trials by allocation, dat.bcg):
    dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)
    ctl <- list(threshold=1e-12, maxiter=2000)
"""

from __future__ import annotations

import numpy as np
import pytest
from bcg_data import VI, YI
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from evsynth.errors import AnalysisInputError
from evsynth.meta.pooling import pool
from evsynth.meta.subgroups import subgroup_analysis

# fmt: off
ALLOC = np.array(["random", "random", "random", "random", "alternate", "alternate", "random",
                  "random", "random", "systematic", "systematic", "systematic", "systematic"])
# fmt: on


def test_hand_computed_q_between() -> None:
    # EE: A = {0.1, 0.3} with v = 0.04 each → 0.2, SE² = 0.02; B = {0.5}, v = 0.02 → SE² 0.02.
    # Weights 50 and 50, mean 0.35: Q = 50·0.15² + 50·0.15² = 2.25 on 1 df.
    res = subgroup_analysis([0.1, 0.3, 0.5], [0.04, 0.04, 0.02], ["A", "A", "B"], method="EE")
    assert res.q_between == pytest.approx(2.25, rel=1e-12)
    assert res.df == 1
    assert res.p_value == pytest.approx(stats.chi2.sf(2.25, 1), rel=1e-12)
    assert res.i2_between == pytest.approx(100 * (2.25 - 1) / 2.25)
    assert list(res.groups["group"]) == ["A", "B"]
    assert res.groups["estimate"].tolist() == pytest.approx([0.2, 0.5])
    assert res.overall.k == 3


def test_separate_tau2_matches_metafor() -> None:
    # sep <- sapply(split(dat, dat$alloc), function(d) { r <- rma(yi, vi, data=d, control=ctl);
    #                                                   c(r$b, r$se) })
    # rma(sep[1,], sei=sep[2,], method="EE"): QE = 1.861444946155, QEp = 0.3942687588856
    res = subgroup_analysis(YI, VI, ALLOC)
    np.testing.assert_allclose(
        res.groups["estimate"], [-0.540792961849346, -0.970964704263089, -0.424207391510872],
        rtol=1e-9,
    )  # fmt: skip
    np.testing.assert_allclose(
        res.groups["se"], [0.281601613103888, 0.275956102972770, 0.359745232433124], rtol=1e-9
    )
    assert res.q_between == pytest.approx(1.861444946155, rel=1e-9)
    assert res.p_value == pytest.approx(0.3942687588856, rel=1e-9)
    assert res.df == 2 and res.tau2 == "separate"


def test_common_tau2_matches_metafor_qm() -> None:
    # rma(yi, vi, mods=~factor(alloc), data=dat, control=ctl): QM, QMp, QMdf[1]
    res = subgroup_analysis(YI, VI, ALLOC, tau2="common")
    assert res.q_between == pytest.approx(1.767511401932, rel=1e-9)
    assert res.p_value == pytest.approx(0.4132280327573, rel=1e-9)
    assert res.df == 2


def test_rows_equal_pool_of_each_subgroup() -> None:
    res = subgroup_analysis(YI, VI, ALLOC, method="DL", ci_method="hksj")
    for _, row in res.groups.iterrows():
        members = np.equal(ALLOC, row["group"])
        ref = pool(YI[members], VI[members], "DL", "hksj")
        assert row["estimate"] == pytest.approx(ref.estimate, rel=1e-12)
        assert row["ci_low"] == pytest.approx(ref.ci_low, rel=1e-12)
        assert row["k"] == ref.k
    assert res.overall.estimate == pytest.approx(pool(YI, VI, "DL", "hksj").estimate)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(4, 14))
def test_ee_q_between_is_total_minus_within(seed: int, k: int) -> None:
    # Under equal effects, Q_total = Q_between + Σ Q_within (Borenstein et al. 2009, ch. 19).
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.5, k)
    yi = rng.normal(0, np.sqrt(vi))
    groups = np.array(["a", "b"] * k)[:k]
    res = subgroup_analysis(yi, vi, groups, method="EE")
    within = sum(pool(yi[groups == g], vi[groups == g], "EE").q for g in ("a", "b"))
    assert res.q_between == pytest.approx(pool(yi, vi, "EE").q - within, rel=1e-8, abs=1e-10)
    common = subgroup_analysis(yi, vi, groups, method="EE", tau2="common")
    assert common.q_between == pytest.approx(res.q_between, rel=1e-8, abs=1e-10)


def test_inputs_are_checked() -> None:
    with pytest.raises(AnalysisInputError, match="at least two subgroups"):
        subgroup_analysis(YI, VI, ["x"] * 13)
    with pytest.raises(AnalysisInputError, match="3 labels for 13"):
        subgroup_analysis(YI, VI, ["a", "b", "c"])
    with pytest.raises(AnalysisInputError, match="tau2"):
        subgroup_analysis(YI, VI, ALLOC, tau2="pooled")
    with pytest.raises(AnalysisInputError, match="not method 'PM'"):
        subgroup_analysis(YI, VI, ALLOC, method="PM", tau2="common")
