"""Leave-one-out and cumulative meta-analysis against metafor 3.8.1 (BCG trials, dat.bcg).

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
from evsynth.meta.sensitivity import cumulative, leave_one_out

# fmt: off
YEAR = np.array([1948, 1949, 1960, 1977, 1973, 1953, 1973, 1980, 1968, 1961, 1974, 1969, 1976])
# leave1out(fit): estimate, tau2, I2, Q
L1O_ESTIMATE = [-0.7070837846993, -0.6540312002935, -0.6855544108366, -0.6284093698077,
                -0.7641700951403, -0.710876555564, -0.6552475997847, -0.7947676045155,
                -0.7411972993045, -0.6530329153059, -0.7578586267235, -0.7598120993345,
                -0.7775361848944]
L1O_TAU2 = [0.3361567018037, 0.2925830839963, 0.3207379296491, 0.2627581480911,
            0.3278032604421, 0.3595540703768, 0.2930258697673, 0.2731829293867,
            0.3494520098055, 0.2987245046332, 0.340488287793, 0.3081622147954, 0.3037333663672]
L1O_I2 = [93.22593409398, 92.25395546744, 92.93541179777, 90.41246393346, 92.76343577215,
          90.91180754343, 92.27771772155, 87.03136273957, 93.21326203566, 92.23223094197,
          91.81095191921, 92.67820596487, 92.3444005461]
L1O_Q = [151.5825727471, 145.3176076702, 150.197044458, 96.56259497139, 151.3200089311,
         128.1866646829, 145.8296381451, 67.98581149908, 152.2050606854, 139.8270733168,
         151.4655045079, 150.7868345411, 149.7884238254]
# leave1out(rma(yi, vi, data=dat, test="knha", control=ctl)): se, ci.ub, pval
L1O_KNHA_SE = [0.1940027384319, 0.1813919417197, 0.1886953525136, 0.1819371937924,
               0.1919461507431, 0.1997466777041, 0.1808013392091, 0.1822951065506,
               0.1969210666064, 0.1866891667541, 0.1954682952324, 0.1788976430583,
               0.1855406689879]
L1O_KNHA_CI_HIGH = [-0.2800866363934, -0.2547902284083, -0.2702387401759, -0.2279683062019,
                    -0.3416994658181, -0.2712370821597, -0.2573065352606, -0.3935387802404,
                    -0.3077769539943, -0.2421328297302, -0.3276358096486, -0.3660610417878,
                    -0.3691639258585]
# cumul(fit, order=dat$year): estimate, tau2, ci.lb
CUM_ESTIMATE = [-0.8893113339202, -1.325003442245, -0.9720799318133, -1.001096174496,
                -1.101425785211, -0.973463894382, -0.9012511002726, -0.7885655037188,
                -0.8656074387864, -0.7852103678567, -0.7082059923706, -0.7947676045155,
                -0.7145323421581]
CUM_TAU2 = [0, 0, 0.08720679283874, 0.07626230886879, 0.08575517049187, 0.1046041815642,
            0.1204597218593, 0.1780273482668, 0.2023350868966, 0.2005458458156,
            0.2280919281686, 0.2731829293867, 0.3132432581365]
CUM_CI_LOW = [-2.007667479076, -2.009008866937, -1.453179248111, -1.436766445929,
              -1.492763121502, -1.341261527199, -1.275091480993, -1.174582470554,
              -1.25025665985, -1.138284433222, -1.057833029819, -1.14732139066, -1.06689763881]
# fmt: on


def test_leave_one_out_matches_metafor() -> None:
    frame = leave_one_out(YI, VI, labels=[f"trial {i}" for i in range(1, 14)])
    assert list(frame["label"]) == [f"trial {i}" for i in range(1, 14)]
    for column in ("label", "estimate", "se", "ci_low", "ci_high", "p_value", "q", "q_pvalue"):
        assert column in frame.columns
    np.testing.assert_allclose(frame["estimate"], L1O_ESTIMATE, rtol=1e-8)
    np.testing.assert_allclose(frame["tau2"], L1O_TAU2, rtol=1e-8)
    np.testing.assert_allclose(frame["i2"], L1O_I2, rtol=1e-8)
    np.testing.assert_allclose(frame["q"], L1O_Q, rtol=1e-8)
    assert (frame["k"] == 12).all()


def test_leave_one_out_knapp_hartung_matches_metafor() -> None:
    frame = leave_one_out(YI, VI, ci_method="hksj")
    np.testing.assert_allclose(frame["se"], L1O_KNHA_SE, rtol=1e-8)
    np.testing.assert_allclose(frame["ci_high"], L1O_KNHA_CI_HIGH, rtol=1e-8)
    assert (frame["df"] == 11).all()


def test_cumulative_matches_metafor() -> None:
    frame = cumulative(YI, VI, YEAR)
    # stable sort by year: the two 1973 trials (5 and 7) keep their input order
    assert list(frame["label"]) == ["1", "2", "6", "3", "10", "9", "12", "5", "7", "11", "13",
                                    "4", "8"]  # fmt: skip
    np.testing.assert_allclose(frame["estimate"], CUM_ESTIMATE, rtol=1e-8)
    np.testing.assert_allclose(frame["tau2"], CUM_TAU2, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(frame["ci_low"], CUM_CI_LOW, rtol=1e-8)
    assert list(frame["k"]) == list(range(1, 14))


@pytest.mark.parametrize("method", ["REML", "DL", "PM", "EE"])
@pytest.mark.parametrize("ci_method", ["z", "hksj"])
def test_row_i_equals_pool_without_study_i(method: str, ci_method: str) -> None:
    frame = leave_one_out(YI, VI, method=method, ci_method=ci_method)
    for i in range(len(YI)):
        ref = pool(np.delete(YI, i), np.delete(VI, i), method, ci_method)
        for field in ("estimate", "se", "ci_low", "ci_high", "p_value", "tau2", "i2", "q"):
            assert frame[field].iloc[i] == pytest.approx(getattr(ref, field), rel=1e-10, abs=1e-13)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 10))
def test_cumulative_last_row_is_the_full_analysis(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.5, k)
    yi = rng.normal(0, np.sqrt(vi + 0.1))
    frame = cumulative(yi, vi, rng.integers(1990, 2000, k))
    full = pool(yi, vi)
    assert frame["estimate"].iloc[-1] == pytest.approx(full.estimate, rel=1e-9, abs=1e-12)
    assert frame["tau2"].iloc[-1] == pytest.approx(full.tau2, rel=1e-7, abs=1e-10)
    assert (frame["ci_low"] <= frame["estimate"]).all()
    assert (frame["estimate"] <= frame["ci_high"]).all()


def test_inputs_are_checked() -> None:
    with pytest.raises(AnalysisInputError, match="at least 2"):
        leave_one_out(YI[:1], VI[:1])
    with pytest.raises(AnalysisInputError, match="labels has 2 entries"):
        leave_one_out(YI, VI, labels=["a", "b"])
    with pytest.raises(AnalysisInputError, match="not positive"):
        cumulative(YI, -VI, YEAR)
    with pytest.raises(AnalysisInputError, match="order has 3 entries"):
        cumulative(YI, VI, YEAR[:3])
