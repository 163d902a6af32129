"""Run one pure function over many independent items on several cores, results in input order.

The analyse and figures stages use it: each analysis (and each analysis's figures) depends on
nothing but its own inputs, so the work splits into independent tasks. Results come back in
the order of ``items``, whatever the number of workers, so the files written from them are
byte-identical to a serial run.
"""

from __future__ import annotations

import gc
import multiprocessing
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_ordered(func: Callable[[T], R], items: Iterable[T], workers: int = 1) -> list[R]:
    """``[func(item) for item in items]``, computed by ``workers`` processes.

    ``workers`` ≤ 1 (or a single item) runs in this process, without a pool. Otherwise a
    :class:`~concurrent.futures.ProcessPoolExecutor` runs the items in chunks; on Linux its
    workers are forked, so they start at once with the modules this process has imported
    (``func`` and the items are still pickled, so both must be picklable: a module-level
    function or a :func:`functools.partial` of one). An exception in a worker is raised here.
    """
    jobs = list(items)
    workers = min(int(workers), len(jobs))
    if workers <= 1:
        return [func(item) for item in jobs]
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    # A few chunks per worker: large enough to keep pickling cheap, small enough to balance
    # items of unequal cost.
    chunksize = max(1, len(jobs) // (4 * workers))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(func, jobs, chunksize=chunksize))


@contextmanager
def collected_after() -> Iterator[None]:
    """Run the block with automatic garbage collection off, then collect once.

    For tasks that build large object graphs with reference cycles (a matplotlib figure):
    the automatic collector runs many times during such a task and traverses the same young
    objects each time, about a tenth of the cost of drawing a forest plot. One collection at
    the end frees the same garbage, so memory stays bounded by one task. The collector's
    previous state is restored.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.collect()
