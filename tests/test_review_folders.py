"""Any review, no code change: real non-vitamin-D reviews run from their own folders.

* The pipeline's results of the three test reviews (BCG vaccine, Normand 1999, Hackshaw 1998)
  equal metafor's (tests/reference/reviews.json) to 1e-6: every pooled estimate, subgroup,
  meta-regression and leave-one-out value, through the analysis layer (rows → trials →
  model), not only the engine.
* A review runs with plain Snakemake from its own folder (`--directory`) and with
  `make report REVIEW=…`; `evsynth new` writes folders that run at once; a non-editable
  install renders a report; no report, figure or package file holds the shipped review's words.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest
from reference_cases import load
from review_runs import REVIEWS, ROOT, analysed, copy_review, shipped_words_in

FIXTURE = {r["name"]: r for r in load("reviews")["reviews"]}
TOL = 1e-6


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = {}
    for name in FIXTURE:
        folder = copy_review(REVIEWS / name, tmp_path_factory.mktemp(name))
        _, results = analysed(folder)
        out[name] = {a["id"]: a for ds in results.values() for a in ds["analyses"]}
    return out


def close(actual: Any, expected: Any) -> bool:
    if expected is None:
        return actual is None or (isinstance(actual, float) and math.isnan(actual))
    return math.isclose(float(actual), float(expected), rel_tol=TOL, abs_tol=TOL)


CASES = [(r, a["id"]) for r, review in FIXTURE.items() for a in review["analyses"]]


@pytest.mark.parametrize(("review", "analysis_id"), CASES)
def test_pooled_result_equals_metafor(runs, review: str, analysis_id: str) -> None:
    expected = next(a for a in FIXTURE[review]["analyses"] if a["id"] == analysis_id)
    got = runs[review][analysis_id]["overall"]
    keys = ["estimate", "se", "ci_low", "ci_high", "p_value", "q", "i2", "k"]
    if expected["model"] == "random":
        keys += ["tau2", "pi_low", "pi_high"]
    for key in keys:
        assert close(got[key], expected["pooled"][key]), (key, got[key], expected["pooled"][key])
    assert got["trials"] == expected["pooled"]["k"]


@pytest.mark.parametrize(("review", "analysis_id"), CASES)
def test_study_effects_weights_order_equal_metafor(runs, review: str, analysis_id: str) -> None:
    expected = next(a for a in FIXTURE[review]["analyses"] if a["id"] == analysis_id)
    studies = {s["study_id"]: s for s in runs[review][analysis_id]["studies"]}
    for sid, yi, vi in zip(
        *(expected["studies"][k] for k in ("study_id", "yi", "vi")), strict=True
    ):
        assert close(studies[sid]["yi"], yi) and close(studies[sid]["vi"], vi), sid


@pytest.mark.parametrize(("review", "analysis_id"), CASES)
def test_subgroups_and_meta_regressions_equal_metafor(runs, review, analysis_id) -> None:
    expected = next(a for a in FIXTURE[review]["analyses"] if a["id"] == analysis_id)
    got = runs[review][analysis_id]
    for sub in expected.get("subgroups") or []:
        mine = got["subgroups"][sub["column"]]
        groups = {g["group"]: g for g in mine["groups"]}
        for g in sub["groups"]:
            for key in ("estimate", "se", "ci_low", "ci_high", "tau2", "k"):
                assert close(groups[str(g["group"])][key], g[key]), (sub["column"], g["group"], key)
        assert close(mine["q_between"], sub["q_between"]) and mine["df"] == sub["df"]
        assert close(mine["p_value"], sub["p_value"])
    for reg in expected.get("meta_regression") or []:
        mine = got["meta_regression"][reg["moderator"]]
        for key in ("coef", "se", "ci_low", "ci_high", "p_value"):
            assert all(close(a, b) for a, b in zip(mine[key], reg[key], strict=True)), key
        for key in ("qm", "qm_pvalue", "qe", "tau2", "r2"):
            assert close(mine[key], reg[key]), key


@pytest.mark.parametrize(("review", "analysis_id"), CASES)
def test_leave_one_out_and_cumulative_equal_metafor(runs, review, analysis_id):
    """Every model, Mantel–Haenszel included (refitted on each subset as metafor's
    leave1out.rma.mh); rows matched by the study left out (the pipeline orders by year)."""
    expected = next(a for a in FIXTURE[review]["analyses"] if a["id"] == analysis_id)
    got = runs[review][analysis_id]
    label = {s["study_id"]: s["label"] for s in got["studies"]}
    rows = {r["label"]: r for r in got.get("leave_one_out") or []}
    loo = expected.get("leave_one_out") or {}
    for sid, est, se in zip(
        loo.get("study_id", []), loo.get("estimate", []), loo.get("se", []), strict=True
    ):
        assert close(rows[label[sid]]["estimate"], est) and close(rows[label[sid]]["se"], se), sid
    assert len(rows) == len(loo.get("study_id", []))
    cum = expected.get("cumulative") or {}
    if cum.get("estimate"):
        assert close(got["cumulative"][-1]["estimate"], cum["estimate"][-1])


def test_subgroup_test_p_value_is_not_estimable_with_one_group(runs) -> None:
    # Normand 1999 has no subgroup; BCG's alloc has three groups and a finite test.
    bcg = runs["bcg"]["tb"]["subgroups"]["alloc"]
    assert bcg["df"] == 2 and bcg["note"] is None


# --- the review as a folder: Snakemake, make, evsynth new, an installed evsynth ---------------


def _snakemake(folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(folder),
        "--cores",
        "2",
        "--quiet",
        "all",
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=folder.parent)


def _all_text(folder: Path) -> str:
    parts = [folder.joinpath("results", "report.html").read_text(encoding="utf-8")]
    parts += [
        p.read_text(encoding="utf-8")
        for p in (folder / "results" / "figures").glob("*")
        if p.suffix in (".svg", ".txt")
    ]
    return "\n".join(parts)


@pytest.mark.e2e
def test_a_review_runs_from_its_own_folder_and_speaks_its_own_words(tmp_path: Path) -> None:
    folder = copy_review(REVIEWS / "hackshaw1998", tmp_path / "hackshaw")
    done = _snakemake(folder)
    assert done.returncode == 0, done.stderr[-3000:]
    text = _all_text(folder)
    assert shipped_words_in(text) == []
    report = (folder / "results/report.html").read_text(encoding="utf-8")
    assert "<title>Spousal smoking" in report or "lung cancer" in report.lower()
    assert re.search(r"<svg role=\"img\"", report)  # its figures are inlined
    assert not (ROOT / "results" / "hackshaw").exists()  # nothing written outside the folder


@pytest.mark.e2e
def test_make_report_review_runs_another_review(tmp_path: Path) -> None:
    folder = copy_review(REVIEWS / "normand1999", tmp_path / "normand")
    done = subprocess.run(
        ["make", "-C", str(ROOT), "report", f"REVIEW={folder}"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = (folder / "results/report.html").read_text(encoding="utf-8")
    assert shipped_words_in(_all_text(folder)) == []
    assert "Mean Difference" in report and "specialist stroke unit care" in report


@pytest.mark.e2e
@pytest.mark.parametrize("example", ["binary", "continuous"])
def test_evsynth_new_writes_a_review_that_runs(tmp_path: Path, example: str) -> None:
    folder = tmp_path / f"my-{example}"
    made = subprocess.run(
        [sys.executable, "-m", "evsynth", "new", str(folder), "--example", example],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    done = _snakemake(folder)
    assert done.returncode == 0, done.stderr[-3000:]
    assert shipped_words_in(_all_text(folder)) == []
    again = subprocess.run(
        [sys.executable, "-m", "evsynth", "new", str(folder)], capture_output=True, text=True
    )
    assert again.returncode == 1 and "not empty" in again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.e2e
def test_a_non_editable_install_renders_a_report(tmp_path: Path) -> None:
    """pip install . (not editable) into a fresh venv that borrows this venv's dependencies:
    the wheel carries its templates, schemas and examples, and `evsynth run` renders."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # The dependencies come from this venv's site-packages as a plain path (a .pth line): its
    # own .pth files, the editable evsynth's among them, are not processed there.
    deps = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    (site / "zz_dependencies.pth").write_text(deps + "\n", encoding="utf-8")
    source = tmp_path / "src"
    top_level = {".venv", ".git", "results", "data", "tests", ".snakemake", "build", "bench"}

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
        return skipped | (top_level & set(names) if Path(folder) == ROOT else set())

    shutil.copytree(ROOT, source, ignore=ignore)
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    installed = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            str(source),
        ],
        capture_output=True,
        text=True,
        env=clean,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    where = subprocess.run(
        [str(python), "-c", "import evsynth; print(evsynth.__file__)"],
        capture_output=True,
        text=True,
        env=clean,
        cwd=tmp_path,
    )
    assert "site-packages" in where.stdout and str(ROOT) not in where.stdout
    folder = tmp_path / "review"
    for args in (["new", str(folder)], ["run", str(folder)]):
        done = subprocess.run(
            [str(python), "-m", "evsynth", *args],
            capture_output=True,
            text=True,
            env=clean,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert "<svg" in (folder / "results/report.html").read_text(encoding="utf-8")


def test_the_package_holds_no_word_of_the_shipped_review() -> None:
    """The library, its templates, schemas and examples know no review (lessons of STYLE.md)."""
    package = ROOT / "evsynth"
    found = []
    for path in package.rglob("*"):
        if path.suffix not in (".py", ".j2", ".css", ".yaml", ".html", ".csv", ".json"):
            continue
        words = shipped_words_in(path.read_text(encoding="utf-8"))
        if words:
            found.append(f"{path.relative_to(ROOT)}: {words}")
    assert found == []


def test_results_follow_the_documented_schema(runs) -> None:
    """docs/results.schema.json is generated from the results model and the results of every
    test review validate against it."""
    import json

    import jsonschema

    from evsynth.analysis.schema import results_schema

    documented = json.loads((ROOT / "docs/results.schema.json").read_text(encoding="utf-8"))
    assert documented == results_schema(), "regenerate: python -m evsynth.analysis.schema"
    validator = jsonschema.Draft202012Validator(documented)
    for review in runs.values():
        document = {"dataset": "x", "analyses": list(review.values()), "markers": []}
        assert list(validator.iter_errors(document)) == []
    broken = {
        "dataset": "x",
        "analyses": [
            {**next(iter(runs["bcg"].values())), "k": "many", "overall": {"estimate": "high"}}
        ],
        "markers": [],
    }
    assert list(validator.iter_errors(broken))
