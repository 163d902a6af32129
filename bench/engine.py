"""Engine throughput: evsynth.pool_many against PyMARE, statsmodels and metafor.

The same simulated data (N meta-analyses of k studies) go to every peer. Printed: fits per
second, evsynth's speed-up over each peer, and the largest difference from metafor (when
``Rscript`` with metafor is installed). evsynth and PyMARE are timed as the fastest of
``REPEATS`` runs each; the statsmodels and metafor loops once.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evsynth.meta.pooling import pool_many


@dataclass(frozen=True)
class Timing:
    peer: str
    n: int
    k: int
    seconds: float
    fits: int

    @property
    def per_second(self) -> float:
        return self.fits / self.seconds


def simulate(n: int, k: int, seed: int = 20261124) -> tuple[np.ndarray, np.ndarray]:
    """N × k effects: vi ~ U(0.01, 0.5), true tau² = 0.05 (some analyses land on tau² = 0)."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.5, (n, k))
    y = rng.normal(0.0, np.sqrt(v + 0.05))
    return y, v


def as_frame(y: np.ndarray, v: np.ndarray) -> pd.DataFrame:
    n, k = y.shape
    return pd.DataFrame({"analysis": np.repeat(np.arange(n), k), "yi": y.ravel(), "vi": v.ravel()})


#: In-process peers are timed this many times and the fastest run is kept (the same for
#: evsynth and PyMARE), so that a background process does not decide the ratio.
REPEATS = 5


def best_time(call: Callable[[], object], repeats: int = REPEATS) -> tuple[float, object]:
    """The fastest wall time of ``repeats`` calls, and the last call's result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - start)
    return best, result


def time_evsynth(y: np.ndarray, v: np.ndarray) -> tuple[Timing, pd.DataFrame]:
    frame = as_frame(y, v)
    seconds, result = best_time(
        lambda: pool_many(frame, "analysis", method="REML", ci_method="hksj")
    )
    timing = Timing("evsynth pool_many (REML, HKSJ, PI)", *y.shape, seconds, y.shape[0])
    return timing, result  # type: ignore[return-value]


def time_pymare(y: np.ndarray, v: np.ndarray) -> Timing | None:
    try:
        from pymare.estimators import VarianceBasedLikelihoodEstimator
    except ImportError:
        return None
    n, k = y.shape
    x = np.ones((k, 1))
    seconds, _ = best_time(lambda: VarianceBasedLikelihoodEstimator(method="REML").fit(y.T, v.T, x))
    return Timing("PyMARE batched REML", n, k, seconds, n)


def time_statsmodels(y: np.ndarray, v: np.ndarray, method: str, limit: int) -> Timing:
    from statsmodels.stats.meta_analysis import combine_effects

    n = min(limit, y.shape[0])
    start = time.perf_counter()
    for i in range(n):
        combine_effects(y[i], v[i], method_re=method.lower())
    return Timing(
        f"statsmodels combine_effects ({method})", n, y.shape[1], time.perf_counter() - start, n
    )


R_SCRIPT = r"""
suppressMessages(library(metafor))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
ids <- unique(d$analysis)
start <- proc.time()[["elapsed"]]
out <- lapply(ids, function(i) {
  s <- d[d$analysis == i, ]
  fit <- function(step) rma(s$yi, s$vi, method = "REML", test = "knha",
                            control = list(threshold = 1e-10, maxiter = 10000, stepadj = step))
  r <- tryCatch(fit(1), error = function(e) tryCatch(fit(0.25), error = function(e) NULL))
  if (is.null(r)) return(c(i, NA, NA, NA, NA, NA))
  p <- predict(r)
  c(i, r$b, r$se, r$tau2, p$pi.lb, p$pi.ub)
})
elapsed <- proc.time()[["elapsed"]] - start
m <- do.call(rbind, out)
colnames(m) <- c("analysis", "estimate", "se", "tau2", "pi_low", "pi_high")
write.csv(m, args[2], row.names = FALSE)
cat(elapsed)
"""


def time_metafor(y: np.ndarray, v: np.ndarray, limit: int) -> tuple[Timing, pd.DataFrame] | None:
    if shutil.which("Rscript") is None:
        return None
    check = subprocess.run(["Rscript", "-e", "library(metafor)"], capture_output=True)
    if check.returncode != 0:
        return None
    n = min(limit, y.shape[0])
    with tempfile.TemporaryDirectory() as tmp:
        data, out, script = Path(tmp, "d.csv"), Path(tmp, "o.csv"), Path(tmp, "loop.R")
        as_frame(y[:n], v[:n]).to_csv(data, index=False, float_format="%.17g")
        script.write_text(R_SCRIPT)
        run = subprocess.run(
            ["Rscript", str(script), str(data), str(out)],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = float(run.stdout.strip().split()[-1])
        return Timing("metafor rma() loop (REML, knha)", n, y.shape[1], seconds, n), pd.read_csv(
            out
        )


def largest_difference(ours: pd.DataFrame, metafor: pd.DataFrame) -> float:
    merged = ours.merge(metafor.dropna(), on="analysis", suffixes=("", "_r"))
    diffs = [
        np.max(np.abs(merged[c] - merged[f"{c}_r"]) / np.maximum(1.0, np.abs(merged[f"{c}_r"])))
        for c in ("estimate", "se", "tau2", "pi_low", "pi_high")
    ]
    return float(max(diffs))


def run(n: int, k: int, loop_limit: int = 2000) -> dict[str, object]:
    """Time every peer on the same N × k data; ratios use fits per second."""
    y, v = simulate(n, k)
    ours, result = time_evsynth(y, v)
    rows = [ours]
    report: dict[str, object] = {"n": n, "k": k}
    peers = [
        time_pymare(y, v),
        time_statsmodels(y, v, "PM", loop_limit),
        time_statsmodels(y, v, "DL", loop_limit),
    ]
    metafor = time_metafor(y, v, loop_limit)
    if metafor is not None:
        peers.append(metafor[0])
        report["max_rel_diff_vs_metafor"] = largest_difference(result, metafor[1])
    rows += [p for p in peers if p is not None]
    report["timings"] = [
        {
            "peer": t.peer,
            "fits": t.fits,
            "seconds": t.seconds,
            "fits_per_second": t.per_second,
            "evsynth_speedup": ours.per_second / t.per_second,
        }
        for t in rows
    ]
    return report


def main() -> None:
    for n, k in [(20000, 20), (100000, 5), (20000, 100)]:
        report = run(n, k)
        print(f"\nN = {n:,} meta-analyses, k = {k}")
        for t in report["timings"]:  # type: ignore[union-attr]
            rate, ratio = t["fits_per_second"], t["evsynth_speedup"]
            print(f"  {t['peer']:<42} {rate:>14,.0f} fits/s   evsynth ×{ratio:,.1f}")
        if "max_rel_diff_vs_metafor" in report:
            worst = report["max_rel_diff_vs_metafor"]
            print(f"  largest relative difference from metafor: {worst:.2e}")


if __name__ == "__main__":
    main()
