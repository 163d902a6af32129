"""The synthetic review of :mod:`bench.pipeline` on a throwaway single-node SLURM cluster
(``tests/cluster/run_local_slurm.sh``, as root: it installs slurm-wlm and munge with apt-get),
through snakemake-executor-plugin-slurm with the profile's grouped jobs, against a local run
of the same review: job counts, wall times, and whether the results are byte-identical.

It belongs here rather than in the test suite: the cluster test of ``make test``
(``EVSYNTH_CLUSTER_TEST=1``) runs the shipped review, which takes about two minutes; the
1,000-outcome review would add several more to a suite that must stay under ten.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.review import write_review

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "cluster" / "run_local_slurm.sh"


def main(outcomes: int = 1000, studies: int = 20) -> list[str]:
    """Run the comparison; the markdown lines (a note when it cannot run here)."""
    heading = [f"## The same review on SLURM ({outcomes:,} outcomes x {studies} trials)", ""]
    if os.environ.get("BENCH_CLUSTER", "1") == "0":
        return [*heading, "Skipped (BENCH_CLUSTER=0)."]
    if os.geteuid() != 0:
        return [*heading, "Not run: the local SLURM cluster needs root."]
    with tempfile.TemporaryDirectory() as tmp:
        review = write_review(Path(tmp) / "review", outcomes, studies, shown=10)
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        done = subprocess.run(
            ["bash", str(SCRIPT)],
            env={
                **os.environ,
                "EVSYNTH_REVIEW": str(review),
                "PYTHON": sys.executable,
                "PYTHONPATH": path,
            },
            capture_output=True,
            text=True,
            timeout=3600,
        )
    output = done.stdout + done.stderr
    times = re.search(
        r"TIMES: slurm_jobs=(\d+) slurm_seconds=([\d.]+) local_jobs=(\d+) local_seconds=([\d.]+)",
        output,
    )
    verdict = next((line for line in output.splitlines() if line.startswith(("PASS", "FAIL"))), "")
    if done.returncode != 0 or times is None:
        return [*heading, f"Failed (exit {done.returncode}):", "", "```", output[-3000:], "```"]
    slurm_jobs, slurm_s, local_jobs, local_s = times.groups()
    lines = [
        *heading,
        "`tests/cluster/run_local_slurm.sh` with `EVSYNTH_REVIEW` = the synthetic review "
        "folder: the workflow through snakemake-executor-plugin-slurm "
        "(`workflow/profiles/slurm`: validation grouped in one submission, each dataset's "
        "analyse and figures jobs in one) and locally with `--cores 2`.",
        "",
        "| run | jobs | wall |",
        "| --- | --- | --- |",
        f"| SLURM (executor plugin, grouped) | {slurm_jobs} SLURM jobs | {float(slurm_s):.1f} s |",
        f"| local, 2 cores | {local_jobs} Snakemake jobs | {float(local_s):.1f} s |",
        "",
        f"{verdict}",
    ]
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
