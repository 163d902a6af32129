"""Inverse-variance pooling and tau² estimators against metafor 3.8.1 on dat.bcg (log RR).

Reference values come from R; the calls are in the comments. ``control=list(threshold=1e-12,
tol=1e-13)`` makes metafor's Fisher scoring and PM root search converge tightly.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evsynth import binary_effects, pool, pool_many
from evsynth.errors import AnalysisInputError
from evsynth.meta import tau2 as tau2_module
from evsynth.meta.pooling import PoolResult
from evsynth.meta.tau2 import Batch, estimate_tau2

BCG_AI = [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27]
BCG_N1I = [123, 306, 231, 13598, 5069, 1541, 2545, 88391, 7499, 1716, 50634, 2498, 16913]
BCG_CI = [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29]
BCG_N2I = [139, 303, 220, 12867, 5808, 1451, 629, 88391, 7277, 1665, 27338, 2341, 17854]
YI, VI = binary_effects(BCG_AI, BCG_N1I, BCG_CI, BCG_N2I, "RR")

# rma(yi, vi, data=escalc("RR", ...dat.bcg), method=m,
#     control=list(threshold=1e-12, tol=1e-13, maxiter=10000)): tau2, b, se, I2, H2
BCG = {
    "REML": (
        0.313243258136486,
        -0.71453234215814,
        0.179781516105207,
        92.2213845212691,
        12.8557582353094,
    ),
    "DL": (
        0.308760262862376,
        -0.714117222073227,
        0.178742089535403,
        92.1173468545621,
        12.6860840068644,
    ),
    "ML": (
        0.280028137268671,
        -0.711199135474184,
        0.171896808776897,
        91.3782837894469,
        11.5986188315498,
    ),
    "PM": (
        0.318068452205024,
        -0.714968153493444,
        0.180892191537624,
        92.3303379541533,
        13.0383841429039,
    ),
    "SJ": (
        0.345515701598595,
        -0.717248592557584,
        0.187059458416427,
        92.8963240955401,
        14.0772188012148,
    ),
    "HE": (
        0.328563857995769,
        -0.715878588758735,
        0.183279985988782,
        92.5570974066271,
        13.435618529932,
    ),
    "EE": (0.0, -0.430285163654091, 0.0404987517108638, 92.1173468545621, 12.6860840068644),
}
BCG_Q = 152.233008082373


@pytest.mark.parametrize("method", list(BCG))
def test_bcg_matches_metafor_for_every_estimator(method: str) -> None:
    tau2, b, se, i2, h2 = BCG[method]
    res = pool(YI, VI, method=method)
    assert res.tau2 == pytest.approx(tau2, rel=1e-8, abs=1e-12)
    assert res.estimate == pytest.approx(b, rel=1e-8)
    assert res.se == pytest.approx(se, rel=1e-8)
    assert res.i2 == pytest.approx(i2, rel=1e-8)
    assert res.h2 == pytest.approx(h2, rel=1e-8)
    assert res.q == pytest.approx(BCG_Q, rel=1e-12)
    assert res.q_df == 12 and res.k == 13
    assert res.converged and res.method == method
    assert res.tau == pytest.approx(math.sqrt(res.tau2))


def test_bcg_wald_interval_test_and_prediction_interval() -> None:
    # r <- rma(yi, vi, data=dat); predict(r)
    res = pool(YI, VI)
    assert (res.ci_low, res.ci_high) == pytest.approx((-1.06689763881035, -0.362167045505926))
    assert res.p_value == pytest.approx(7.05425810164237e-05, rel=1e-6)
    assert (res.pi_low, res.pi_high) == pytest.approx((-1.8666922179029, 0.437627533586617))
    assert res.q_pvalue == pytest.approx(1.99676459084597e-26, rel=1e-8)
    assert math.isnan(res.df) and res.ci_method == "z"


def test_bcg_knapp_hartung() -> None:
    # r <- rma(yi, vi, data=dat, test="knha"); predict(r)
    res = pool(YI, VI, ci_method="hksj")
    assert (res.ci_low, res.ci_high) == pytest.approx((-1.10844371368555, -0.320620970630728))
    assert res.statistic == pytest.approx(-3.95223988652481, rel=1e-7)
    assert res.p_value == pytest.approx(0.0019200150960573, rel=1e-6)
    assert (res.pi_low, res.pi_high) == pytest.approx((-1.99601683419621, 0.566952149879933))
    assert res.df == 12


def test_higgins_prediction_interval_uses_t_with_k_minus_2_df() -> None:
    res = pool(YI, VI, pi_method="higgins")
    half = stats.t.ppf(0.975, 11) * math.sqrt(res.se**2 + res.tau2)
    assert (res.pi_low, res.pi_high) == pytest.approx((res.estimate - half, res.estimate + half))


def test_two_studies_with_hksj_and_its_modified_version() -> None:
    # rma(yi, vi, data=dat[1:2, ], test="knha") and test="adhoc"
    res = pool(YI[:2], VI[:2], ci_method="hksj")
    assert res.tau2 == 0.0 and res.tau2_on_boundary
    assert res.estimate == pytest.approx(-1.32500344224488)
    assert res.se == pytest.approx(0.336820105220864)
    assert (res.ci_low, res.ci_high) == pytest.approx((-5.60470865844108, 2.95470177395133))
    assert res.p_value == pytest.approx(0.15847419284587, rel=1e-7)
    assert (res.pi_low, res.pi_high) == pytest.approx((res.ci_low, res.ci_high))
    mod = pool(YI[:2], VI[:2], ci_method="hksj_modified")
    assert mod.se == pytest.approx(0.348988772287383)
    assert (mod.ci_low, mod.ci_high) == pytest.approx((-5.75932623355462, 3.10931934906487))


def test_modified_hksj_is_never_narrower_than_wald() -> None:
    # rma(yi, vi, data=dat[c(1,2,4), ], method="DL", test="adhoc"): KH factor < 1 truncated
    res = pool(YI[[0, 1, 3]], VI[[0, 1, 3]], method="DL", ci_method="hksj_modified")
    assert res.se == pytest.approx(0.131096874375296)
    assert res.ci_low == pytest.approx(-1.98916931128173)
    wald = pool(YI[[0, 1, 3]], VI[[0, 1, 3]], method="DL")
    assert res.se >= wald.se
    assert pool(YI[[0, 1, 3]], VI[[0, 1, 3]], method="DL", ci_method="hksj").se < wald.se


@pytest.mark.parametrize("ci_method", ["z", "hksj", "hksj_modified"])
def test_single_study_returns_itself(ci_method: str) -> None:
    # rma(0.5, 0.1): tau2 0, QE 0, QEp 1, I2 0, H2 1, PI = CI (metafor sets test="z" for k=1)
    res = pool([0.5], [0.1], ci_method=ci_method)
    assert (res.estimate, res.se, res.tau2, res.k) == (0.5, pytest.approx(math.sqrt(0.1)), 0, 1)
    assert (res.q, res.q_df, res.q_pvalue, res.i2, res.h2) == (0.0, 0, 1.0, 0.0, 1.0)
    assert res.ci_low == pytest.approx(-0.1197950323045616)
    assert (res.pi_low, res.pi_high) == (res.ci_low, res.ci_high)
    assert res.p_value == pytest.approx(0.1138463, rel=1e-6)
    assert math.isnan(res.df) and res.converged


def test_all_equal_effects_lie_on_the_boundary() -> None:
    # rma(c(.5,.5,.5), c(.1,.2,.3), test="knha"): tau2 0, ci.lb 0.5, I2 0, H2 1, QE 0
    res = pool([0.5, 0.5, 0.5], [0.1, 0.2, 0.3], ci_method="hksj")
    assert res.tau2 == 0 and res.tau2_on_boundary and res.converged
    assert (res.ci_low, res.ci_high, res.q, res.i2, res.h2) == (0.5, 0.5, 0.0, 0.0, 1.0)
    # rma(..., method="EE"): I2 0, H2 = Q/(k-1) = 0
    ee = pool([0.5, 0.5, 0.5], [0.1, 0.2, 0.3], method="EE")
    assert (ee.i2, ee.h2, ee.tau2_on_boundary) == (0.0, 0.0, False)


@pytest.mark.parametrize("method", ["REML", "ML", "DL", "PM", "HE"])
def test_homogeneous_data_truncate_tau2_at_zero(method: str) -> None:
    y = [0.10, 0.12, 0.09, 0.11]
    res = pool(y, [0.04, 0.05, 0.03, 0.06], method=method)
    assert res.tau2 == 0.0 and res.tau2_on_boundary and res.i2 == 0.0


def test_sidik_jonkman_is_positive_unless_all_effects_are_equal() -> None:
    # SJ = tau0 Q(tau0)/(k-1) with tau0 = sum((y - mean)^2)/k > 0: never on the boundary
    res = pool([0.10, 0.12, 0.09, 0.11], [0.04, 0.05, 0.03, 0.06], method="SJ")
    assert res.tau2 > 0 and not res.tau2_on_boundary


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_bracketing_fallback_gives_the_scoring_answer(monkeypatch, method: str) -> None:
    expected = estimate_tau2(Batch.single(YI, VI), method)
    assert expected.iterations[0] > 2
    # Scoring stops after two steps, unconverged: the bracketing search must finish the job.
    monkeypatch.setattr(tau2_module, "FISHER_STEPS", 2)
    scoring = tau2_module._fisher_scoring(Batch.single(YI, VI), method == "REML")
    assert not scoring.converged[0]
    fallback = estimate_tau2(Batch.single(YI, VI), method)
    assert fallback.converged[0]
    assert fallback.tau2[0] == pytest.approx(expected.tau2[0], rel=1e-10)


def test_pool_many_sorts_groups_and_matches_pool() -> None:
    frame = pd.DataFrame(
        {
            "outcome": ["b"] * 6 + ["a"] * 7,
            "subset": ["x", "y"] * 6 + ["x"],
            "yi": YI,
            "vi": VI,
        }
    )
    out = pool_many(frame, "outcome", method="REML", ci_method="hksj")
    assert list(out["outcome"]) == ["a", "b"]
    for group, rows in frame.groupby("outcome"):
        single = pool(rows["yi"], rows["vi"], ci_method="hksj")
        row = out[out["outcome"] == group].iloc[0]
        for field in ("estimate", "se", "ci_low", "tau2", "i2", "q_pvalue", "pi_high"):
            assert row[field] == pytest.approx(getattr(single, field), rel=1e-12, abs=1e-15)
    two = pool_many(frame, ["outcome", "subset"])
    assert list(zip(two["outcome"], two["subset"], strict=True)) == [
        ("a", "x"),
        ("a", "y"),
        ("b", "x"),
        ("b", "y"),
    ]
    assert set(PoolResult.__dataclass_fields__) <= set(out.columns)


def test_pool_many_handles_groups_of_one_next_to_larger_groups() -> None:
    frame = pd.DataFrame({"g": [1, 2, 2, 2], "yi": [0.3, *YI[:3]], "vi": [0.2, *VI[:3]]})
    out = pool_many(frame, "g", method="REML", ci_method="hksj").set_index("g")
    assert out.loc[1, "estimate"] == 0.3 and out.loc[1, "k"] == 1
    assert out.loc[2, "k"] == 3 and out["converged"].all()


@pytest.mark.parametrize(
    ("yi", "vi", "message"),
    [
        ([0.1, 0.2], [0.1, -0.1], r"analysis 'hip': vi\[1\] = -0.1 is not positive"),
        ([0.1, 0.2], [0.1, 0.0], r"vi\[1\] = 0.0 is not positive"),
        ([0.1, np.nan], [0.1, 0.1], r"yi\[1\] is nan"),
        ([0.1, 0.2], [0.1], "different lengths"),
        ([], [], "no studies"),
    ],
)
def test_pool_rejects_inputs_that_cannot_be_pooled(yi, vi, message) -> None:
    with pytest.raises(AnalysisInputError, match=message):
        pool(yi, vi, name="hip")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "FE"}, "method 'FE'"),
        ({"ci_method": "t"}, "ci_method 't'"),
        ({"pi_method": "x"}, "pi_method 'x'"),
        ({"level": 95}, "level"),
    ],
)
def test_pool_rejects_unknown_options(kwargs, message) -> None:
    with pytest.raises(AnalysisInputError, match=message):
        pool(YI, VI, **kwargs)


def test_pool_many_groups_unsorted_multi_key_and_missing_keys_like_pandas() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "a": rng.choice(["x", "y", None], 60),
            "b": rng.integers(0, 3, 60),
            "yi": rng.normal(0, 0.5, 60),
            "vi": rng.uniform(0.01, 0.3, 60),
        }
    )
    for by in ("a", ["a", "b"], "b"):
        out = pool_many(frame, by, method="REML")
        keys = [by] if isinstance(by, str) else by
        grouped = list(frame.groupby(keys, sort=True, dropna=False))
        assert len(out) == len(grouped)
        for row, (_, rows) in zip(out.itertuples(), grouped, strict=True):
            single = pool(rows["yi"], rows["vi"])
            assert row.k == len(rows)
            assert row.estimate == pytest.approx(single.estimate, rel=1e-12)
            assert row.tau2 == pytest.approx(single.tau2, rel=1e-9, abs=1e-12)


def test_pool_many_names_the_group_with_bad_data() -> None:
    frame = pd.DataFrame({"g": ["ok", "ok", "hip"], "yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.1, 0]})
    with pytest.raises(AnalysisInputError, match="hip"):
        pool_many(frame, "g")
    with pytest.raises(AnalysisInputError, match="not in the frame"):
        pool_many(frame, "missing")
