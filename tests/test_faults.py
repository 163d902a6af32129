"""Process faults and lost files (issue 18, items 1-3), run as a reviewer runs: `make report`.

* A missing input the config names is an error naming it; a deleted intermediate or result
  (processed table, results file, figure, `make clean-results`) is rebuilt by the next run.
* `kill -9` during each stage, then `make report`: it recovers by itself (no `--unlock`, no
  `--rerun-incomplete` to type), says what it did, and the outputs are the bytes of an
  uninterrupted run. Also when only Snakemake is killed and its job runs on.
* Two `make report` at once: the second waits for the first; same outputs.
* A figures job that fails half-way, and a full disk: the last good report and figures stay
  as they were, the message says what happened (no traceback), and the next run completes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from review_runner import (
    ROOT,
    job_of,
    kill_tree,
    make,
    snakemake_of,
    start_make,
    synthetic,
    tree,
    wait_for,
)

from bench.review import change_one_count

pytestmark = pytest.mark.e2e


#: The rows of outcomes.csv whose count the tests change (outcomes o00000, o00012, o00020).
ROWS = (0, 8 * 12, 8 * 20)


def _copy(source: Path, dest: Path) -> Path:
    """A copy of a review folder after a run, with its times (Snakemake and the cache compare
    them), so that the copy is as up to date as the original."""
    shutil.copytree(source, dest, copy_function=shutil.copy2, symlinks=True)
    return dest


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small synthetic review after one uninterrupted run."""
    review = synthetic(tmp_path_factory.mktemp("built") / "review")
    done = make("report", review)
    assert done.returncode == 0, done.stdout + done.stderr
    return review


@pytest.fixture(scope="module")
def reference(built: Path) -> dict[str, str]:
    """The outputs of the uninterrupted run."""
    return tree(built)


@pytest.fixture(scope="module")
def changed_reference(built: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The outputs of an uninterrupted clean run after the counts of ROWS changed."""
    review = synthetic(tmp_path_factory.mktemp("changed") / "review")
    for row in ROWS:
        change_one_count(review, row)
    done = make("report", review)
    assert done.returncode == 0, done.stdout + done.stderr
    return tree(review)


@pytest.fixture()
def review(built: Path, tmp_path: Path) -> Path:
    """A copy of the built review."""
    return _copy(built, tmp_path / "review")


@pytest.fixture()
def changed(review: Path) -> Path:
    """A copy of the built review whose counts of ROWS changed since its last run."""
    for row in ROWS:
        change_one_count(review, row)
    return review


# --- missing inputs and lost outputs ------------------------------------------------------------


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        ("data/raw/outcomes.csv", "data/raw/outcomes.csv: the raw table 'outcomes'"),
        ("data/raw/studies.csv", "data/raw/studies.csv: the raw table 'studies'"),
        ("schemas/outcomes.schema.yaml", "schemas/outcomes.schema.yaml: the schema of the"),
    ],
)
def test_a_missing_input_is_an_error_naming_it(review: Path, remove: str, named: str) -> None:
    before = tree(review)
    (review / remove).unlink()
    done = make("report", review)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert named in output and "Traceback" not in output
    assert tree(review) == before  # the last good outputs are kept


def test_a_named_narrative_that_is_missing_is_an_error(review: Path) -> None:
    config = review / "config/config.yaml"
    config.write_text(
        config.read_text(encoding="utf-8") + "paths:\n  narrative: config/story.yaml\n",
        encoding="utf-8",
    )
    done = make("report", review)
    assert done.returncode != 0
    assert "config/story.yaml: config paths.narrative names it" in done.stdout + done.stderr


@pytest.mark.parametrize("lost", ["processed", "results", "one figure", "clean-results"])
def test_a_deleted_intermediate_or_result_is_rebuilt(
    review: Path, reference: dict[str, str], lost: str
) -> None:
    if lost == "processed":
        for table in (review / "data/processed").glob("*.csv"):
            table.unlink()
    elif lost == "results":
        (review / "results/analyses/outcomes.json").unlink()
    elif lost == "one figure":
        next((review / "results/figures").glob("*.forest.svg")).unlink()
    else:
        done = make("clean-results", review)
        assert done.returncode == 0, done.stderr
    assert tree(review) != reference
    done = make("report", review)
    assert done.returncode == 0, done.stdout + done.stderr
    assert tree(review) == reference


def test_a_figure_changed_by_hand_is_published_again(
    review: Path, reference: dict[str, str]
) -> None:
    figure = next((review / "results/figures").glob("*.forest.svg"))
    figure.write_bytes(figure.read_bytes().replace(b"<svg", b"<svg data-edited='1'", 1))
    done = make("report", review)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "changed since it was drawn" in done.stdout + done.stderr
    assert tree(review) == reference


# --- killed runs --------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["validate", "analyse", "figures", "report"])
def test_kill_9_during_a_stage_then_make_report_recovers(
    changed: Path, changed_reference: dict[str, str], stage: str
) -> None:
    review = changed
    run = start_make("report", review)
    job = wait_for(job_of(run.proc.pid, f"{stage}.py"))
    time.sleep(0.4)  # inside the job: imports done or under way, outputs being written
    assert job.is_running()
    kill_tree(run.proc.pid)
    run.proc.wait(timeout=60)
    done = make("report", review)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "interrupted" in output
    assert "Traceback" not in output and "--unlock" not in output
    assert tree(review) == changed_reference


def test_kill_9_of_snakemake_alone_waits_for_its_job_then_recovers(
    changed: Path, changed_reference: dict[str, str]
) -> None:
    """The case of issue 18: Snakemake killed during the figures job, which runs on."""
    review = changed
    run = start_make("report", review)
    job = wait_for(job_of(run.proc.pid, "figures.py"))
    snakemake = snakemake_of(run.proc.pid)
    assert snakemake is not None
    snakemake.kill()
    run.proc.wait(timeout=60)
    done = make("report", review)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert not job.is_running()  # the next run waited for the orphaned job
    assert "removed its stale lock" in output
    assert tree(review) == changed_reference


def test_two_runs_at_once_take_turns(changed: Path, changed_reference: dict[str, str]) -> None:
    first = start_make("report", changed)
    second = start_make("report", changed)
    (code1, out1), (code2, out2) = first.wait(), second.wait()
    assert (code1, code2) == (0, 0), out1 + out2
    assert "another `make report` is running" in out1 + out2
    assert tree(changed) == changed_reference


# --- failed jobs and a full disk ---------------------------------------------------------------

#: Loaded into every Python process of the run (``sitecustomize``): in the figures job, the
#: figures of the analysis named by FAIL_ANALYSIS fail after a first file is written, as a
#: matplotlib error would half-way through a job.
FAILING_DRAW = textwrap.dedent(
    """
    import os, sys
    if any(a.endswith("scripts/figures.py") for a in sys.argv):
        import evsynth.plots.output as output
        draw = output.write_analysis_figures

        def failing(analysis, outdir, figures=None):
            written = draw(analysis, outdir, figures)
            if analysis["id"] == os.environ["FAIL_ANALYSIS"]:
                raise ValueError(r"Unknown symbol: \\undefinedmacro, found '\\'")
            return written

        output.write_analysis_figures = failing
    """
)


def test_a_failed_figures_job_leaves_the_last_good_figures_and_report(
    review: Path, changed_reference: dict[str, str], tmp_path: Path
) -> None:
    good = tree(review)
    figures = {k: v for k, v in good.items() if k.startswith("results/figures/")}
    outcomes = [change_one_count(review, row) for row in ROWS]
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FAILING_DRAW, encoding="utf-8")
    path = f"{hook}{os.pathsep}{ROOT}"
    done = make("report", review, PYTHONPATH=path, FAIL_ANALYSIS=outcomes[1])
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"the figures of analysis '{outcomes[1]}'" in output and "undefinedmacro" in output
    assert "Traceback" not in output
    after = tree(review)
    assert {k: v for k, v in after.items() if k.startswith("results/figures/")} == {
        k: v for k, v in figures.items() if not k.endswith(".figures.json")
    }  # every figure as it was; the manifest of the failed job is gone until it succeeds
    assert after["results/report.html"] == good["results/report.html"]
    done = make("report", review)
    assert done.returncode == 0, done.stdout + done.stderr
    assert tree(review) == changed_reference


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
    )
    return done.returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_full_disk_keeps_the_last_good_report_and_figures(
    built: Path, changed_reference: dict[str, str], tmp_path: Path
) -> None:
    review = tmp_path / "review"
    shutil.copytree(built, review, ignore=shutil.ignore_patterns("results"), symlinks=True)
    results = review / "results"
    if shutil.which("mount") is None or not _mount_tmpfs(results, "64m"):
        pytest.skip("cannot mount a tmpfs here (no mount capability)")
    try:
        # with their times (copy2), which Snakemake and the cache compare
        shutil.copytree(built / "results", results, dirs_exist_ok=True, symlinks=True)
        good = tree(review)
        for row in ROWS:
            change_one_count(review, row)
        stat = os.statvfs(results)
        ballast = results / "ballast"
        with ballast.open("wb") as handle:  # leave 16 KB
            handle.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - 16 * 1024))
        done = make("report", review)
        output = done.stdout + done.stderr
        assert done.returncode != 0
        assert "the disk is full" in output and "Traceback" not in output
        ballast.unlink()
        after = tree(review)
        for name, digest in good.items():
            if name.startswith(("results/figures/", "results/report")) and not name.endswith(
                ".figures.json"
            ):
                assert after.get(name) == digest, name
        done = make("report", review)
        assert done.returncode == 0, done.stdout + done.stderr
        recovered = tree(review)
    finally:
        subprocess.run(["umount", "-l", str(results)], check=False)
    assert recovered == changed_reference


def test_the_report_refuses_figures_of_other_data(review: Path) -> None:
    """The report checks each figure's data version against the results it reads."""
    manifest_path = review / "results/figures/outcomes.figures.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    name = manifest["files"][0]
    manifest["figures"][name]["data"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    report = review / "results/report.html"
    before = report.read_bytes()
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/report.py")],
        cwd=review,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 1
    assert f"{name}: drawn from other data than analysis" in done.stderr
    assert report.read_bytes() == before
