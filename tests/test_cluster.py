"""Run the workflow on a throwaway single-node SLURM cluster (tests/cluster/run_local_slurm.sh).

The script installs slurm-wlm and munge with apt-get, starts slurmctld/slurmd/munged as root,
runs the workflow through snakemake-executor-plugin-slurm and locally, and checks that the
results are byte-identical. Opt in with ``EVSYNTH_CLUSTER_TEST=1`` (needs root on Debian/Ubuntu).
It runs the shipped review, and the synthetic review of 1,000 outcomes of the benchmark
(``bench/review.py``) with the profile's grouped jobs; ``make bench`` reports the wall times.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from bench.review import write_review

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "cluster" / "run_local_slurm.sh"

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        os.environ.get("EVSYNTH_CLUSTER_TEST") != "1",
        reason="cluster test: set EVSYNTH_CLUSTER_TEST=1 to start a local SLURM cluster "
        "(root, apt-get) and run the workflow on it",
    ),
]


def _run_on_slurm(review: Path | None = None) -> str:
    """The script's output for ``review`` (None: the shipped review); asserts it passed."""
    env = {**os.environ, **({"EVSYNTH_REVIEW": str(review)} if review is not None else {})}
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env=env,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "PASS:" in result.stdout, output[-6000:]
    return result.stdout


def test_workflow_on_local_slurm_matches_local_run() -> None:
    _run_on_slurm()


def test_the_1000_outcome_review_on_local_slurm_in_grouped_jobs(tmp_path: Path) -> None:
    """Byte-identical results on SLURM and locally; the profile's groups submit fewer SLURM
    jobs than the Snakemake jobs of the local run (validation in one, each dataset's analyse,
    figures and gallery in one)."""
    review = write_review(tmp_path / "review", 1000, 20, shown=10)
    out = _run_on_slurm(review)
    times = re.search(r"TIMES: slurm_jobs=(\d+) slurm_seconds=\S+ local_jobs=(\d+)", out)
    assert times is not None, out[-3000:]
    slurm_jobs, local_jobs = int(times.group(1)), int(times.group(2))
    assert 0 < slurm_jobs < local_jobs, (slurm_jobs, local_jobs)
