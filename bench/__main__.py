"""`make bench`: engine throughput against the peers, scaling curves, raw-table validation and
the pipeline at scale.

Writes bench/RESULTS.md (figures and the machine) and bench/scaling.png.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench import cluster, engine, granularity, pipeline, validation

HERE = Path(__file__).resolve().parent


def scaling() -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """Seconds of pool_many (REML, HKSJ, PI) against N (k = 20) and against k (N = 20,000)."""
    by_n = []
    for n in (1_000, 10_000, 100_000):
        y, v = engine.simulate(n, 20)
        by_n.append((n, engine.time_evsynth(y, v)[0].seconds))
    by_k = []
    for k in (5, 20, 100):
        y, v = engine.simulate(20_000, k)
        by_k.append((k, engine.time_evsynth(y, v)[0].seconds))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, data, label in (
        (axes[0], by_n, "N meta-analyses (k = 20)"),
        (axes[1], by_k, "k studies (N = 20,000)"),
    ):
        ax.plot([d[0] for d in data], [d[1] for d in data], marker="o")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("seconds")
    fig.suptitle("evsynth pool_many: REML + HKSJ + prediction interval")
    fig.tight_layout()
    fig.savefig(HERE / "scaling.png", dpi=100, metadata={"Software": None})
    return by_n, by_k


def machine() -> str:
    return f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def commit() -> str:
    """The checkout's commit (and whether it has uncommitted changes), for the record."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" with uncommitted changes" if git("status", "--porcelain") else "")


def main() -> None:
    lines = ["# Benchmark results", "", f"Machine: {machine()}", f"Commit: {commit()}", ""]
    for n, k in [(20_000, 20), (100_000, 5), (20_000, 100)]:
        report = engine.run(n, k)
        lines += [
            f"## Engine: N = {n:,} meta-analyses, k = {k}",
            "",
            "| peer | fits | seconds | fits/s | evsynth speed-up |",
            "| --- | --- | --- | --- | --- |",
        ]
        for t in report["timings"]:
            cells = [
                t["peer"],
                f"{t['fits']:,}",
                f"{t['seconds']:.3f}",
                f"{t['fits_per_second']:,.0f}",
                f"×{t['evsynth_speedup']:,.1f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        if "max_rel_diff_vs_metafor" in report:
            worst = report["max_rel_diff_vs_metafor"]
            lines.append(f"\nLargest relative difference from metafor: {worst:.1e}")
        lines.append("")
        print("\n".join(lines[-8:]), flush=True)
    by_n, by_k = scaling()
    lines += ["## Scaling (bench/scaling.png)", "", "| N (k = 20) | seconds |", "| --- | --- |"]
    lines += [f"| {n:,} | {s:.3f} |" for n, s in by_n]
    lines += ["", "| k (N = 20,000) | seconds |", "| --- | --- |"]
    lines += [f"| {k} | {s:.3f} |" for k, s in by_k]
    lines += ["", *validation.main()]
    # Pipeline: `make report REVIEW=dir` on BENCH_OUTCOMES outcomes, then BENCH_HUGE_OUTCOMES
    # (0 skips it); what a Snakemake job per analysis would cost (BENCH_GRANULARITY_JOBS);
    # the same review on a local SLURM cluster (root only; BENCH_CLUSTER=0 skips it).
    outcomes = int(os.environ.get("BENCH_OUTCOMES", "1000"))
    huge = int(os.environ.get("BENCH_HUGE_OUTCOMES", "10000"))
    start = time.perf_counter()
    lines += ["", *pipeline.main(outcomes, huge)]
    lines += ["", *granularity.main(int(os.environ.get("BENCH_GRANULARITY_JOBS", "1000")))]
    lines += ["", *cluster.main(outcomes)]
    lines.append(f"\nPipeline benchmark wall time: {time.perf_counter() - start:.0f} s")
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
