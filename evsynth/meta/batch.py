"""Batches of meta-analyses and the cache-sized blocks that the estimators iterate over.

A :class:`Batch` holds N meta-analyses padded to the largest k: arrays ``y`` and ``v`` of
shape (N, kmax) and a boolean ``mask`` marking real studies (padding holds y = 0, v = 1).

The iterative estimators make many passes over their data per iteration, so they work on one
:class:`Block` of rows at a time: a block is small enough to stay in the CPU cache for all of
an iteration's passes, and it holds the padding in the form the arithmetic needs, y = 0 and
v = +∞, so that a weight 1/(v + tau²) is exactly 0 there without a mask. Row sums are
matrix-vector products with a vector of ones (one BLAS call instead of numpy's pairwise
reduction over a short axis). Every result is per row, so blocking changes the order of no
sum within an analysis and the answer does not depend on the block size.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

#: Rows per block: 4,096 analyses of k = 20 are 640 KB per array, about a core's L2 cache
#: (measured: 2,048 to 4,096 rows are fastest for k = 20; larger blocks spill to L3).
BLOCK_ROWS = 4096


@dataclass(frozen=True)
class Batch:
    """N meta-analyses padded to the largest k. Padding cells hold y = 0, v = 1, mask False."""

    y: np.ndarray
    v: np.ndarray
    mask: np.ndarray

    @cached_property
    def k(self) -> np.ndarray:
        """Studies per analysis."""
        return self.mask.sum(axis=1)

    @classmethod
    def single(cls, yi: np.ndarray, vi: np.ndarray) -> Batch:
        """The batch of one analysis."""
        return cls(yi[None, :].copy(), vi[None, :].copy(), np.ones((1, len(yi)), dtype=bool))

    def take(self, rows: np.ndarray) -> Batch:
        """The analyses at ``rows``, as a batch of their own."""
        return Batch(self.y[rows], self.v[rows], self.mask[rows])

    def blocks(self, rows: np.ndarray | None = None, size: int = BLOCK_ROWS) -> Iterator[Block]:
        """The analyses at ``rows`` (default: all) in blocks of at most ``size`` rows."""
        if rows is None:
            for start in range(0, len(self.y), size):
                yield self._block(slice(start, min(start + size, len(self.y))))
            return
        for start in range(0, len(rows), size):
            yield self._block(rows[start : start + size])

    def _block(self, rows: slice | np.ndarray) -> Block:
        mask = self.mask[rows]
        y, v = weightless_padding(self.y[rows], self.v[rows], mask)
        index = np.arange(len(self.y))[rows] if isinstance(rows, slice) else rows
        return Block(index, y, v, mask)


def weightless_padding(
    y: np.ndarray, v: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``y`` and ``v`` as C-contiguous float arrays with y = 0 and v = +∞ outside ``mask``, so
    that a weight 1/(v + tau²) is exactly 0 on padding."""
    if mask.all():
        return np.ascontiguousarray(y, dtype=float), np.ascontiguousarray(v, dtype=float)
    return np.where(mask, y, 0.0), np.where(mask, v, np.inf)


@dataclass(frozen=True)
class Block:
    """Some rows of a batch, padded with y = 0 and v = +∞ (weights vanish on padding)."""

    rows: np.ndarray
    y: np.ndarray
    v: np.ndarray
    mask: np.ndarray
    ones: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ones", np.ones(self.y.shape[1]))

    @cached_property
    def k(self) -> np.ndarray:
        return self.mask.sum(axis=1)

    @cached_property
    def padded(self) -> bool:
        """Whether any analysis of the block has fewer studies than the block is wide."""
        return not self.mask.all()

    def row_sum(self, a: np.ndarray) -> np.ndarray:
        """Σⱼ a[i, j] per row."""
        return a @ self.ones

    def row_dot(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Σⱼ a[i, j]·b[i, j] per row, summed in the same order as :meth:`row_sum` (so that,
        for example, Σwy/Σw is exactly y when every y is equal)."""
        return (a * b) @ self.ones

    def weights(self, tau2: np.ndarray) -> np.ndarray:
        """Random-effects weights 1/(vᵢ + tau²) (0 on padding)."""
        return 1.0 / (self.v + tau2[:, None])


def map_blocks(
    batch: Batch,
    fn: Callable[..., tuple[np.ndarray, ...]],
    *per_row: np.ndarray,
    outputs: int,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """Apply ``fn(block, *per_row_values)``, which returns ``outputs`` per-row arrays, to every
    block of ``batch`` (or of ``rows``) and join each output over those rows, in order."""
    parts = [fn(block, *(values[block.rows] for values in per_row)) for block in batch.blocks(rows)]
    if not parts:
        return tuple(np.zeros(0) for _ in range(outputs))
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def _threads_for(rows: int) -> int:
    """Threads worth starting for ``rows`` analyses: one per :data:`BLOCK_ROWS` rows, at most
    one per core this process may run on (a thread costs about 0.1 ms to start)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, rows // BLOCK_ROWS))


def by_rows(fn: Callable[..., Any], *per_row: np.ndarray, args: tuple = ()) -> Any:
    """``fn(*per_row, *args)`` for functions that work row by row (a compiled kernel of
    :mod:`evsynth.meta.likelihood`, an elementwise scipy tail probability), run on consecutive
    chunks of rows in as many threads as :func:`_threads_for` allows and joined in order.

    Every row gets the same result as in a single call, so the answer does not depend on the
    number of threads. It only pays for functions that release the GIL (numba ``nogil``
    kernels, numpy ufuncs). No thread outlives the call, so a process may still fork.
    """
    n = len(per_row[0])
    threads = _threads_for(n)
    if threads == 1:
        return fn(*per_row, *args)
    bounds = np.linspace(0, n, threads + 1).astype(int)
    chunks = [tuple(a[lo:hi] for a in per_row) for lo, hi in itertools.pairwise(bounds)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        parts = list(pool.map(lambda chunk: fn(*chunk, *args), chunks))
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))
    return np.concatenate(parts)
