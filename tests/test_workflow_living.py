"""End-to-end, living-review updates on a copy of the shipped project: two clean runs are the
same bytes; one changed count recomputes only its analysis (by the cache's records) and gives
the bytes of a clean run; "what changed" compares with the last released version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shipped_runs import (
    build,
    computed,
    copy_built,
    copy_project,
    digest_tree,
    edit_first_hip_row,
    rendered,
    snakemake,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("review"))


def test_two_clean_runs_are_byte_identical(built: Path, tmp_path: Path) -> None:
    again = copy_project(tmp_path / "again")
    out = snakemake(again, "--quiet", "rules")
    assert out.returncode == 0, out.stderr
    first = digest_tree(built / "results")
    second = digest_tree(again / "results")
    assert first.keys() == second.keys()
    differing = [name for name in first if first[name] != second[name]]
    assert differing == []


def test_changing_a_row_changes_the_report_and_what_changed_says_so(
    built: Path, tmp_path: Path
) -> None:
    """What changed compares with the last released version (make release)."""
    from review_runner import make

    project = copy_built(built, tmp_path / "review")
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


def test_one_changed_count_recomputes_only_its_analysis(built: Path, tmp_path: Path) -> None:
    """By the cache's records, not by timing; the outputs are those of a clean run. (The last
    test of the module: it edits the built project.)"""
    project = built
    edit_first_hip_row(project / "data/raw/fractures.csv")
    out = snakemake(project, "--quiet", "rules")
    assert out.returncode == 0, out.stderr
    assert computed(project, "fractures") == (["fractures-hip"], ["fractures-hip"])
    assert rendered(project) == ["fractures-hip"]  # the report's other sections were reused
    clean = copy_project(tmp_path / "clean")
    edit_first_hip_row(clean / "data/raw/fractures.csv")
    assert snakemake(clean, "--quiet", "rules").returncode == 0
    assert digest_tree(project / "results") == digest_tree(clean / "results")
    assert digest_tree(project / "data/processed") == digest_tree(clean / "data/processed")
