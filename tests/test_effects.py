"""Effect sizes against metafor 3.8.1 ``escalc`` (values pasted from R, call in comments)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evsynth import binary_effects, continuous_effects, generic_effects
from evsynth.errors import AnalysisInputError
from evsynth.meta.effects import EffectSizes

# dat.bcg, first three trials: tpos, tpos + tneg, cpos, cpos + cneg
AI, N1I, CI, N2I = [4, 6, 3], [123, 306, 231], [11, 29, 11], [139, 303, 220]


def test_log_risk_ratio_matches_escalc() -> None:
    # escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)[1:3, ]
    yi, vi = binary_effects(AI, N1I, CI, N2I, "RR")
    np.testing.assert_allclose(
        yi, [-0.889311333920205, -1.58538865720143, -1.34807314829969], rtol=1e-12
    )
    np.testing.assert_allclose(
        vi, [0.325584765003961, 0.194581121398144, 0.415367965367965], rtol=1e-12
    )


def test_log_odds_ratio_and_risk_difference_match_escalc() -> None:
    # escalc("OR", ...) and escalc("RD", ...) on dat.bcg, first two trials
    yi, vi = binary_effects(AI[:2], N1I[:2], CI[:2], N2I[:2], "OR")
    np.testing.assert_allclose(yi, [-0.938694140870392, -1.66619072902655], rtol=1e-12)
    np.testing.assert_allclose(vi, [0.357124952253629, 0.208132393657186], rtol=1e-12)
    yi, vi = binary_effects(AI[:2], N1I[:2], CI[:2], N2I[:2], "RD")
    np.testing.assert_allclose(yi, [-0.04661636544423, -0.0761017278198408], rtol=1e-12)
    np.testing.assert_allclose(vi, [0.000780068664855938, 0.000348462574726583], rtol=1e-12)


ZERO = ([0, 3, 0], [10, 10, 10], [2, 4, 0], [10, 12, 10])


def test_only0_corrects_only_tables_with_a_zero_cell_including_double_zero() -> None:
    # escalc("RR", ai=c(0,3,0), n1i=c(10,10,10), ci=c(2,4,0), n2i=c(10,12,10))
    yi, vi = binary_effects(*ZERO, "RR")
    np.testing.assert_allclose(yi, [-1.6094379124341, -0.105360515657826, 0.0], atol=1e-12)
    np.testing.assert_allclose(vi, [2.21818181818182, 0.4, 3.81818181818182], rtol=1e-12)


def test_if0all_corrects_every_table() -> None:
    # escalc("OR", ..., to="if0all")
    yi, vi = binary_effects(*ZERO, "OR", to="if0all")
    np.testing.assert_allclose(yi, [-1.82074700610131, -0.1261512853269, 0.0], atol=1e-12)
    np.testing.assert_allclose(vi, [2.61288515406162, 0.758916900093371, 4.19047619047619])


def test_drop00_gives_nan_for_double_zero_studies_only() -> None:
    # escalc("RR", ..., drop00=TRUE): third study NA
    yi, vi = binary_effects(*ZERO, "RR", drop00=True)
    np.testing.assert_allclose(yi[:2], [-1.6094379124341, -0.105360515657826], rtol=1e-12)
    assert np.isnan(yi[2]) and np.isnan(vi[2])


def test_all_and_none_corrections() -> None:
    yi_all, _ = binary_effects([3], [10], [4], [12], "RR", to="all")
    assert yi_all[0] == pytest.approx(np.log(3.5 / 11) - np.log(4.5 / 13))
    yi_none, vi_none = binary_effects([0], [10], [2], [10], "RR", to="none")
    assert np.isnan(yi_none[0]) and np.isnan(vi_none[0])  # log(0): undefined, not -inf


def test_returns_named_tuple_of_arrays() -> None:
    result = binary_effects(AI, N1I, CI, N2I)
    assert isinstance(result, EffectSizes)
    assert isinstance(result.yi, np.ndarray) and result.vi.shape == (3,)


def test_smd_is_hedges_g_with_exact_correction_and_ls_variance() -> None:
    # escalc("SMD", m1i=c(10,5), sd1i=c(2,3), n1i=c(12,30), m2i=c(9,6), sd2i=c(2.5,2), n2i=c(10,25))
    yi, vi = continuous_effects([10, 5], [2, 3], [12, 30], [9, 6], [2.5, 2], [10, 25], "SMD")
    np.testing.assert_allclose(yi, [0.429657936436514, -0.379821669308772], rtol=1e-12)
    np.testing.assert_allclose(vi, [0.187528922932035, 0.0746448287922106], rtol=1e-12)


def test_mean_difference() -> None:
    yi, vi = continuous_effects([10, 5], [2, 3], [12, 30], [9, 6], [2.5, 2], [10, 25], "MD")
    np.testing.assert_allclose(yi, [1.0, -1.0])
    np.testing.assert_allclose(vi, [0.958333333333333, 0.46], rtol=1e-12)


def test_generic_ratio_from_ci_is_on_log_scale() -> None:
    yi, vi = generic_effects([0.8], [0.6], [1.2], measure="HR")
    se = (np.log(1.2) - np.log(0.6)) / (2 * stats.norm.ppf(0.975))
    assert yi[0] == pytest.approx(np.log(0.8))
    assert vi[0] == pytest.approx(se**2, rel=1e-12)


def test_generic_difference_from_se_and_from_90_percent_ci() -> None:
    yi, vi = generic_effects([1.5], se=[0.5], measure="MD")
    assert (yi[0], vi[0]) == (1.5, 0.25)
    yi, vi = generic_effects([1.0], [0.0], [2.0], measure="MD", level=0.90)
    assert vi[0] == pytest.approx((1 / stats.norm.ppf(0.95)) ** 2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: binary_effects([5], [4], [1], [10], name="hip"),
            r"'hip'.*ai\[0\] = 5 exceeds",
        ),
        (lambda: binary_effects([-1], [4], [1], [10]), r"ai\[0\] = -1.* not a non-negative"),
        (lambda: binary_effects([1, 2], [4], [1], [10]), "different lengths"),
        (lambda: binary_effects([np.nan], [4], [1], [10]), r"ai\[0\] = nan"),
        (lambda: binary_effects([1], [4], [1], [10], "HR"), "measure 'HR'"),
        (lambda: binary_effects([1], [4], [1], [10], to="some"), "to='some'"),
        (lambda: continuous_effects([1], [0], [5], [1], [1], [5], "SMD"), "sd1i must be positive"),
        (lambda: generic_effects([0.8], [0.9], [1.2], measure="RR"), "ci_low <= estimate"),
        (lambda: generic_effects([-0.8], se=[0.1], measure="OR"), "must be positive"),
        (lambda: generic_effects([0.8], measure="RR"), "either ci_low and ci_high, or se"),
    ],
)
def test_invalid_inputs_raise_clear_errors(call, message) -> None:
    with pytest.raises(AnalysisInputError, match=message):
        call()
