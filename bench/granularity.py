"""What a Snakemake job per analysis would cost: the floor of that design, measured.

Two designs make a changed count recompute only its analysis (issue 17):

A. a Snakemake job per analysis (and one per analysis's figures), grouped for a cluster;
B. one job per dataset that keeps a content-addressed cache of each analysis's results and
   figures (what evsynth does: :mod:`evsynth.cache`).

Design A pays Snakemake's bookkeeping for every job (incomplete markers, metadata records,
output checks) and, for a job that runs Python, an interpreter that imports the statistics
stack. This module times those floors on a workflow of ``n`` trivial jobs per kind, with no
statistics at all:

* ``touch``: ``n`` jobs that each touch one file (Snakemake's own cost per job);
* ``python``: ``n`` jobs that each start Python and import what an analysis job imports
  (``evsynth.analysis.run``: pandas, scipy, numba);
* the no-op rerun of the ``touch`` workflow (building and checking a DAG of ``n`` jobs), and
  the rerun after one of the ``n`` inputs changed.

Run: ``python -m bench.granularity [n]``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

SNAKEFILE = """
N = {n}
IDS = [f"a{{i:05d}}" for i in range(N)]

rule all:
    input: expand("out/{{id}}.{kind}", id=IDS)

rule one:
    input: "in/{{id}}.txt"
    output: "out/{{id}}.{kind}"
    shell: {command!r}
"""

COMMANDS = {
    "touch": "cat {input} > {output}",
    "python": sys.executable + " -c 'import evsynth.analysis.run' && cat {input} > {output}",
}


def _run(folder: Path, cores: int = 2) -> float:
    start = time.perf_counter()
    subprocess.run(
        # as `make report` runs Snakemake (evsynth.snakemake_main: no idle second at the end)
        [sys.executable, "-m", "evsynth.snakemake_main", "--cores", str(cores), "--quiet", "all"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def measure(n: int, kind: str) -> dict[str, float]:
    """Clean run, no-op rerun and one-input-changed rerun of ``n`` trivial jobs of ``kind``."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "in").mkdir()
        for i in range(n):
            (folder / "in" / f"a{i:05d}.txt").write_text(str(i))
        (folder / "Snakefile").write_text(SNAKEFILE.format(n=n, kind=kind, command=COMMANDS[kind]))
        clean = _run(folder)
        noop = _run(folder)
        (folder / "in" / "a00000.txt").write_text("changed")
        one = _run(folder)
    return {"jobs": n, "clean_s": clean, "noop_s": noop, "one_changed_s": one}


def main(n: int = 1000) -> list[str]:
    touch = measure(n, "touch")
    python = measure(min(n, 100), "python")
    per_python = python["clean_s"] / python["jobs"]
    lines = [
        "### A Snakemake job per analysis: the floor, measured",
        "",
        f"Trivial jobs on 2 cores (`python -m bench.granularity {n}`), no statistics:",
        "",
        "| workflow | jobs | clean | no-op | one input changed |",
        "| --- | --- | --- | --- | --- |",
        f"| touch one file per job | {touch['jobs']:,} | {touch['clean_s']:.1f} s | "
        f"{touch['noop_s']:.1f} s | {touch['one_changed_s']:.1f} s |",
        f"| start Python and import the analysis stack per job | {python['jobs']:,} | "
        f"{python['clean_s']:.1f} s | {python['noop_s']:.1f} s | "
        f"{python['one_changed_s']:.1f} s |",
        "",
        f"A job per analysis and one per analysis's figures is {2 * n:,} jobs for {n:,} "
        f"outcomes: at {per_python:.2f} s a Python job (2 cores) the clean run's floor is "
        f"{2 * n * per_python:.0f} s before any statistic or figure, and Snakemake alone "
        f"spends {touch['noop_s']:.1f} s deciding that {n:,} jobs have nothing to do.",
    ]
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
