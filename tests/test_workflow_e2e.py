"""End-to-end: Snakemake on a copy of the shipped review in a temporary directory.

These tests run the real workflow (validate → analyse → figures → report) and assert on the
outputs' content, on incremental reruns (a changed count or setting recomputes only its
analysis, by the cache's records), on keeping the last good report when a run fails, and on
byte-identical outputs across clean and incremental runs.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from evsynth import workflow

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.e2e


def copy_project(dest: Path) -> Path:
    return workflow.copy_project(ROOT, dest)


def snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def planned_jobs(cwd: Path) -> dict[str, int]:
    """Jobs a dry run would execute, by rule name."""
    out = snakemake(cwd, "--dry-run", "--quiet", "rules")
    assert out.returncode == 0, out.stderr
    jobs: dict[str, int] = {}
    for line in (out.stdout + out.stderr).splitlines():
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if match and match.group(1) != "total":
            jobs[match.group(1)] = int(match.group(2))
    return jobs


def digest_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not {"logs", "cache"} & set(p.relative_to(root).parts)
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("review"))
    out = snakemake(project, "--quiet", "rules")
    assert out.returncode == 0, out.stdout + out.stderr
    return project


def test_clean_run_writes_report_results_and_figures(built: Path) -> None:
    report = (built / "results/report.html").read_text(encoding="utf-8")
    assert "<html" in report and "Hip fracture" in report
    for dataset in ("fractures", "kidney_stones", "avadec_markers"):
        assert (built / f"results/analyses/{dataset}.json").stat().st_size > 0
    assert list((built / "results/figures").glob("fractures-hip.forest*.svg"))


def test_untouched_rerun_does_nothing(built: Path) -> None:
    assert planned_jobs(built) == {}


def test_changing_one_table_reruns_only_what_depends_on_it(built: Path) -> None:
    table = built / "data/raw/kidney_stones.csv"
    original = table.read_bytes()
    try:
        table.write_bytes(original.replace(b"reported a stone", b"reported a stone ", 1))
        jobs = planned_jobs(built)
    finally:
        table.write_bytes(original)
    assert jobs.get("validate") == 1  # kidney_stones only: no other table joins it
    assert jobs.get("analyse") == 1
    assert jobs.get("report") == 1


def test_failed_run_keeps_last_good_report_and_names_the_cell(built: Path) -> None:
    report = built / "results/report.html"
    before = report.read_bytes()
    figures_before = digest_tree(built / "results/figures")
    table = built / "data/raw/fractures.csv"
    original = table.read_text(encoding="utf-8")
    records = list(csv.reader(io.StringIO(original)))
    # Corrupt the first record's n_treat into text: every stage after validation must stop.
    records[1][records[0].index("n_treat")] = "many"
    corrupted = io.StringIO()
    csv.writer(corrupted, lineterminator="\n").writerows(records)
    try:
        table.write_text(corrupted.getvalue(), encoding="utf-8")
        out = snakemake(built, "--quiet", "rules")
    finally:
        table.write_text(original, encoding="utf-8")
    assert out.returncode != 0
    combined = out.stdout + out.stderr
    assert "fractures.csv:2" in combined and "n_treat" in combined
    assert "Traceback" not in combined
    assert report.read_bytes() == before
    assert digest_tree(built / "results/figures") == figures_before


def test_two_clean_runs_are_byte_identical(built: Path, tmp_path: Path) -> None:
    again = copy_project(tmp_path / "again")
    out = snakemake(again, "--quiet", "rules")
    assert out.returncode == 0, out.stderr
    first = digest_tree(built / "results")
    second = digest_tree(again / "results")
    assert first.keys() == second.keys()
    differing = [name for name in first if first[name] != second[name]]
    assert differing == []


def _computed(project: Path, dataset: str) -> tuple[list[str], list[str]]:
    """The analyses the last run computed and those whose figures it drew (cache records)."""
    cache = project / "results/cache"
    analysed = json.loads((cache / "analyses" / f"{dataset}.run.json").read_text("utf-8"))
    drawn = json.loads((cache / "figures" / f"{dataset}.run.json").read_text("utf-8"))
    return analysed["computed"], drawn["drawn"]


def _edit_first_hip_row(table: Path) -> None:
    text = table.read_text(encoding="utf-8")
    records = list(csv.reader(io.StringIO(text)))
    header = records[0]
    row = next(
        r
        for r in records[1:]
        if r[header.index("outcome")] == "hip" and r[header.index("events_control")]
    )
    row[header.index("events_control")] = str(int(row[header.index("events_control")]) + 1)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(records)
    table.write_text(out.getvalue(), encoding="utf-8")


def test_one_changed_count_recomputes_only_its_analysis(tmp_path: Path) -> None:
    """By the cache's records, not by timing; the outputs are those of a clean run."""
    project = copy_project(tmp_path / "review")
    assert snakemake(project, "--quiet", "rules").returncode == 0
    _edit_first_hip_row(project / "data/raw/fractures.csv")
    out = snakemake(project, "--quiet", "rules")
    assert out.returncode == 0, out.stderr
    assert _computed(project, "fractures") == (["fractures-hip"], ["fractures-hip"])
    clean = copy_project(tmp_path / "clean")
    _edit_first_hip_row(clean / "data/raw/fractures.csv")
    assert snakemake(clean, "--quiet", "rules").returncode == 0
    assert digest_tree(project / "results") == digest_tree(clean / "results")
    assert digest_tree(project / "data/processed") == digest_tree(clean / "data/processed")


def test_changing_one_analysis_setting_recomputes_only_that_analysis(built: Path) -> None:
    config = built / "config/config.yaml"
    original = config.read_text(encoding="utf-8")
    head, tail = original.split("  fractures-nonvertebral:", 1)
    try:
        config.write_text(
            head + "  fractures-nonvertebral:\n    level: 0.9" + tail, encoding="utf-8"
        )
        out = snakemake(built, "--quiet", "rules")
        assert out.returncode == 0, out.stderr
        assert _computed(built, "fractures") == (
            ["fractures-nonvertebral"],
            ["fractures-nonvertebral"],
        )
        assert _computed(built, "kidney_stones") == ([], [])
    finally:
        config.write_text(original, encoding="utf-8")
        assert snakemake(built, "--quiet", "rules").returncode == 0


def test_changing_a_row_changes_the_report_and_what_changed_says_so(tmp_path: Path) -> None:
    """What changed compares with the last released version (make release)."""
    from review_runner import make

    project = copy_project(tmp_path / "review")
    assert make("report", project).returncode == 0
    first = (project / "results/report.html").read_text(encoding="utf-8")
    assert "First report" in first
    released = make("release", project)
    assert released.returncode == 0, released.stdout + released.stderr
    table = project / "data/raw/kidney_stones.csv"
    table.write_text(
        table.read_text(encoding="utf-8").replace(",449,18176,", ",549,18176,", 1),
        encoding="utf-8",
    )
    out = make("report", project)
    assert out.returncode == 0, out.stdout + out.stderr
    second = (project / "results/report.html").read_text(encoding="utf-8")
    stones = json.loads((project / "results/analyses/kidney_stones.json").read_text("utf-8"))
    nnt = stones["analyses"][0]["single_trial_nnt"]["label"]
    assert nnt != "NNTH 273" and nnt in second
    changes = second.split('id="changes"', 1)[1].split("</section>", 1)[0]
    assert "First report" not in changes
    assert "Kidney stones" in changes or "kidney stones" in changes or "kidney-stones" in changes
    record = json.loads((project / "results/report.json").read_text(encoding="utf-8"))
    assert record["compared_with"]["number"] == 1
    assert not (project / "results/previous").exists()  # no hidden state beside the report
