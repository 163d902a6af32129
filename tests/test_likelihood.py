"""The compiled likelihood functions against finite differences and the numpy definitions,
and the batch blocks that the closed-form estimators iterate over."""

from __future__ import annotations

import numpy as np
import pytest

from evsynth import pool
from evsynth.meta import likelihood
from evsynth.meta.batch import Batch, map_blocks, weightless_padding
from evsynth.meta.tau2 import _he, estimate_tau2, generalised_q, log_likelihood

RNG = np.random.default_rng(11)
Y = RNG.normal(0.2, 0.5, (6, 9))
V = RNG.uniform(0.02, 0.4, (6, 9))
MASK = np.arange(9)[None, :] < np.array([[2], [3], [5], [9], [9], [7]])
BATCH = Batch(np.where(MASK, Y, 0.0), np.where(MASK, V, 1.0), MASK)


def _numpy_log_likelihood(y: np.ndarray, v: np.ndarray, tau2: float, reml: bool) -> float:
    w = 1 / (v + tau2)
    mu = (w * y).sum() / w.sum()
    ll = -0.5 * np.log(v + tau2).sum() - 0.5 * (w * (y - mu) ** 2).sum()
    return float(ll - 0.5 * np.log(w.sum())) if reml else float(ll)


@pytest.mark.parametrize("reml", [True, False])
def test_log_likelihood_matches_its_definition_on_padded_rows(reml: bool) -> None:
    tau2 = np.array([0.0, 0.01, 0.1, 0.3, 1.0, 2.5])
    got = log_likelihood(BATCH, tau2, reml)
    for i in range(len(tau2)):
        m = MASK[i]
        expected = _numpy_log_likelihood(Y[i, m], V[i, m], tau2[i], reml)
        assert got[i] == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("tau2", [0.0, 0.05, 0.4])
def test_score_and_observed_information_are_the_derivatives_of_the_likelihood(
    reml: bool, tau2: float
) -> None:
    y, v = weightless_padding(BATCH.y, BATCH.v, BATCH.mask)
    t = np.full(len(y), tau2)
    h = 1e-5
    ll = lambda x: likelihood.log_likelihood(y, v, x, reml)  # noqa: E731
    if tau2 > 0:
        numeric_score = (ll(t + h) - ll(t - h)) / (2 * h)
    else:  # one-sided, second order, at the boundary
        numeric_score = (-3 * ll(t) + 4 * ll(t + h) - ll(t + 2 * h)) / (2 * h)
    assert likelihood.score(y, v, t, reml) == pytest.approx(numeric_score, rel=1e-5, abs=1e-7)
    if tau2 > 0:
        second = (ll(t + h) - 2 * ll(t) + ll(t - h)) / h**2
        observed = np.array([likelihood._terms(y[i], v[i], tau2, reml)[2] for i in range(len(y))])
        assert observed == pytest.approx(-second, rel=1e-3, abs=1e-4)


@pytest.mark.parametrize("reml", [True, False])
def test_zero_is_better_is_the_comparison_of_the_two_likelihoods(reml: bool) -> None:
    y, v = weightless_padding(BATCH.y, BATCH.v, BATCH.mask)
    for tau2 in (1e-9, 0.01, 0.2, 3.0):
        t = np.full(len(y), tau2)
        expected = likelihood.log_likelihood(y, v, np.zeros(len(y)), reml) > ll_at(y, v, t, reml)
        check = np.ones(len(y), dtype=bool)
        assert (likelihood.zero_is_better(y, v, t, check, reml) == expected).all()
        assert not likelihood.zero_is_better(y, v, t, ~check, reml).any()


def ll_at(y: np.ndarray, v: np.ndarray, t: np.ndarray, reml: bool) -> np.ndarray:
    return likelihood.log_likelihood(y, v, t, reml)


def test_padded_marks_padding_with_zero_effect_and_infinite_variance() -> None:
    y, v = weightless_padding(BATCH.y, BATCH.v, BATCH.mask)
    assert (y[~MASK] == 0).all() and np.isinf(v[~MASK]).all()
    assert (v[MASK] == V[MASK]).all() and y.flags.c_contiguous


@pytest.mark.parametrize("size", [1, 2, 4, 4096])
def test_results_do_not_depend_on_the_block_size(size: int, monkeypatch) -> None:
    from evsynth.meta import batch as batch_module

    expected = (_he(BATCH), generalised_q(BATCH, np.full(6, 0.1)))
    monkeypatch.setattr(batch_module, "BLOCK_ROWS", size)
    monkeypatch.setattr(batch_module.Batch, "blocks", _blocks_of(size, batch_module.Batch.blocks))
    assert np.allclose(_he(BATCH), expected[0], rtol=1e-14, atol=0)
    assert np.allclose(generalised_q(BATCH, np.full(6, 0.1)), expected[1], rtol=1e-14, atol=0)


def _blocks_of(size, blocks):
    def fixed(self, rows=None, size_=size):
        return blocks(self, rows, size_)

    return fixed


def test_map_blocks_keeps_row_order_and_handles_an_empty_selection() -> None:
    (k,) = map_blocks(BATCH, lambda block: (block.k.astype(float),), outputs=1)
    assert (k == MASK.sum(axis=1)).all()
    rows = np.array([4, 0])
    (k,) = map_blocks(BATCH, lambda block: (block.k.astype(float),), outputs=1, rows=rows)
    assert (k == MASK.sum(axis=1)[rows]).all()
    (empty,) = map_blocks(BATCH, lambda block: (block.k,), outputs=1, rows=np.array([], int))
    assert len(empty) == 0


def test_every_row_of_a_padded_batch_is_its_own_pool() -> None:
    est = estimate_tau2(BATCH, "REML")
    for i in range(len(Y)):
        single = pool(Y[i, MASK[i]], V[i, MASK[i]], "REML")
        assert est.tau2[i] == pytest.approx(single.tau2, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_results_do_not_depend_on_the_number_of_threads(threads: int, monkeypatch) -> None:
    """pool_batch splits its kernels and tail probabilities over threads by rows; every
    field is bit-for-bit the one of a single thread, in row order."""
    from evsynth.meta import batch as batch_module
    from evsynth.meta.pooling import pool_batch

    rng = np.random.default_rng(7)
    k = rng.integers(1, 9, size=40)
    mask = np.arange(8)[None, :] < k[:, None]
    y = np.where(mask, rng.normal(0.0, 0.5, (40, 8)), 0.0)
    v = np.where(mask, rng.uniform(0.01, 0.3, (40, 8)), 1.0)
    batch = Batch(y, v, mask)
    calls: list[int] = []

    def forced(rows: int) -> int:
        calls.append(rows)
        return threads

    for ci_method in ("z", "hksj"):
        single = pool_batch(batch, "REML", ci_method)
        monkeypatch.setattr(batch_module, "_threads_for", forced)
        split = pool_batch(batch, "REML", ci_method)
        monkeypatch.undo()
        assert calls, "no function was split over threads"
        for name, values in single.items():
            np.testing.assert_array_equal(split[name], values, err_msg=name)


def test_by_rows_joins_tuples_and_arrays_in_order(monkeypatch) -> None:
    from evsynth.meta import batch as batch_module

    monkeypatch.setattr(batch_module, "_threads_for", lambda rows: 3)
    a = np.arange(10.0)
    doubled, negated = batch_module.by_rows(lambda x, s: (s * x, -x), a, args=(2.0,))
    assert (doubled == 2 * a).all() and (negated == -a).all()
    assert (batch_module.by_rows(np.sqrt, a) == np.sqrt(a)).all()
    monkeypatch.undo()
    assert batch_module._threads_for(1) == 1  # small batches stay in this thread
