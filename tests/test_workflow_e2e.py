"""End-to-end: Snakemake on a copy of the shipped review in a temporary directory.

These tests run the real workflow (validate → analyse → figures → report) and assert on the
outputs' content, on what a change reruns (a changed table, or one analysis's setting, by the
cache's records) and on keeping the last good report when a run fails. Living-review updates
and determinism are in test_workflow_living.py.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from shipped_runs import build, computed, digest_tree, planned_jobs, snakemake

from evsynth.validate.config import load_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("review"))


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
        assert computed(built, "fractures") == (
            ["fractures-nonvertebral"],
            ["fractures-nonvertebral"],
        )
        assert computed(built, "kidney_stones") == ([], [])
    finally:
        config.write_text(original, encoding="utf-8")
        assert snakemake(built, "--quiet", "rules").returncode == 0


def test_snakemake_report_holds_every_figure_and_table_by_analysis(built: Path) -> None:
    """`snakemake --report x.zip`: the evidence summary, every figure the manifests list and
    each analysis's tables, each with its caption, in a category per analysis."""
    import zipfile

    archive = built / "results/archive.zip"
    out = snakemake(built, "--quiet", "rules", "--report", str(archive))
    assert out.returncode == 0, out.stdout + out.stderr
    names = zipfile.ZipFile(archive).namelist()
    shown = {name.split("/raw/", 1)[1].split("/", 1)[1] for name in names if "/raw/" in name}
    expected = {"report.html"}
    for manifest in sorted((built / "results/figures").glob("*.figures.json")):
        figures = json.loads(manifest.read_text(encoding="utf-8"))["figures"]
        for name, figure in figures.items():
            if name.endswith((".svg", ".png")):
                expected.add(f"{figure['analysis']}/{name.removeprefix(figure['analysis'] + '.')}")
    config = load_config(built / "config/config.yaml")
    for analysis in config["analyses"]:
        expected |= {f"{analysis}/pooled.csv", f"{analysis}/studies.csv"}
    expected |= {f"{markers}/markers.csv" for markers in config["markers"]}
    assert shown == expected
    page = zipfile.ZipFile(archive).read("archive/report.html").decode("utf-8")
    alt = (built / "results/figures/fractures-hip.forest.alt.txt").read_text("utf-8").strip()
    assert json.dumps(alt.split(":")[0])[1:-1] in page
    for spec in config["analyses"].values():
        assert f'"analysis": {json.dumps(spec["title"])}' in page
    assert '"Evidence summary"' in page
