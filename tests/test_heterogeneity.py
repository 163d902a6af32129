"""Q, I², H² helpers and the Q-profile confidence interval for tau² against metafor 3.8.1."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evsynth import binary_effects, tau2_ci
from evsynth.errors import AnalysisInputError
from evsynth.meta.heterogeneity import Tau2Interval, i2_h2, q_statistic
from evsynth.meta.tau2 import Batch, generalised_q

BCG = (
    [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
    [123, 306, 231, 13598, 5069, 1541, 2545, 88391, 7499, 1716, 50634, 2498, 16913],
    [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
    [139, 303, 220, 12867, 5808, 1451, 629, 88391, 7277, 1665, 27338, 2341, 17854],
)
YI, VI = binary_effects(*BCG, "RR")


def test_q_profile_interval_matches_confint() -> None:
    # confint(rma(yi, vi, data=dat.bcg RR), control=list(tol=1e-13))$random["tau^2", ]
    ci = tau2_ci(YI, VI)
    assert isinstance(ci, Tau2Interval)
    assert ci.low == pytest.approx(0.119718361141261, rel=1e-7)
    assert ci.high == pytest.approx(1.11147908406093, rel=1e-7)


def test_q_profile_bounds_solve_the_generalised_q_equations() -> None:
    low, high = tau2_ci(YI, VI, level=0.90)
    batch = Batch.single(YI, VI)
    q_low = generalised_q(batch, np.array([low]))[0]
    q_high = generalised_q(batch, np.array([high]))[0]
    assert q_low == pytest.approx(stats.chi2.ppf(0.95, 12), rel=1e-9)
    assert q_high == pytest.approx(stats.chi2.ppf(0.05, 12), rel=1e-9)


def test_homogeneous_data_give_zero_bounds() -> None:
    # Q(0) below the chi-square quantiles: both bounds truncated at 0
    ci = tau2_ci([0.1, 0.1001, 0.0999], [0.1, 0.2, 0.3])
    assert ci == (0.0, 0.0)


def test_q_i2_h2_helpers_for_random_and_equal_effects() -> None:
    batch = Batch.single(YI, VI)
    q, q_df, q_p = q_statistic(batch)
    # rma(yi, vi, data=dat.bcg RR): QE, QEp
    assert q[0] == pytest.approx(152.233008082373, rel=1e-12) and q_df[0] == 12
    assert q_p[0] == pytest.approx(1.99676459084597e-26, rel=1e-8)
    i2, h2 = i2_h2(batch, np.array([0.313243258136486]), q, "REML")
    assert i2[0] == pytest.approx(92.2213845212691, rel=1e-9)
    assert h2[0] == pytest.approx(12.8557582353094, rel=1e-9)
    i2, h2 = i2_h2(batch, np.zeros(1), q, "EE")
    assert i2[0] == pytest.approx(100 * (q[0] - 12) / q[0])
    assert h2[0] == pytest.approx(q[0] / 12)


def test_helpers_for_a_single_study() -> None:
    batch = Batch.single(np.array([0.4]), np.array([0.2]))
    q, q_df, q_p = q_statistic(batch)
    assert (q[0], q_df[0], q_p[0]) == (0.0, 0, 1.0)
    assert tuple(x[0] for x in i2_h2(batch, np.zeros(1), q, "REML")) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("yi", "vi", "message"),
    [
        ([0.1], [0.1], "at least two studies"),
        ([0.1, 0.2], [0.1, -1], "vi positive"),
        ([0.1, np.inf], [0.1, 0.1], "finite"),
        ([0.1, 0.2], [0.1], "different lengths"),
    ],
)
def test_tau2_ci_rejects_bad_input(yi, vi, message) -> None:
    with pytest.raises(AnalysisInputError, match=message):
        tau2_ci(yi, vi)


def test_tau2_ci_rejects_bad_level() -> None:
    with pytest.raises(AnalysisInputError, match="level"):
        tau2_ci(YI, VI, level=1.5)


def test_upper_bound_is_capped_at_metafors_search_limit() -> None:
    # r <- rma(c(-5,5,-6), rep(0.01,3)); confint(r, control=list(tol=1e-12)):
    # tau2 36.99, ci.lb 10.0201461352272, ci.ub 369.9 = 10 * tau2 (the search limit)
    ci = tau2_ci([-5, 5, -6], [0.01] * 3)
    assert ci.low == pytest.approx(10.0201461352272, rel=1e-9)
    assert ci.high == pytest.approx(369.9, rel=1e-12)
