"""Run the workflow on a throwaway single-node SLURM cluster (tests/cluster/run_local_slurm.sh).

The script installs slurm-wlm and munge with apt-get, starts slurmctld/slurmd/munged as root,
runs the workflow through snakemake-executor-plugin-slurm and locally, and checks that the
results are byte-identical. Opt in with ``EVSYNTH_CLUSTER_TEST=1`` (needs root on Debian/Ubuntu).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

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


def test_workflow_on_local_slurm_matches_local_run() -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "PASS:" in result.stdout, output[-6000:]
