"""Versions a reviewer releases (evsynth.versions; `make release`) and "what changed" against
them (`make report COMPARE_WITH=N`)."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from review_runner import EPOCH, make, synthetic

from evsynth.versions import (
    VersionError,
    baseline,
    data_hash,
    next_number,
    read_version,
    release_date,
    released,
)

# --- the pieces ---------------------------------------------------------------------------------


def test_release_date_comes_from_source_date_epoch_else_today() -> None:
    assert release_date({"SOURCE_DATE_EPOCH": "0"}) == "1970-01-01"
    assert release_date({"SOURCE_DATE_EPOCH": EPOCH}) == "2026-01-01"
    assert release_date({"SOURCE_DATE_EPOCH": "86399"}) == "1970-01-01"  # UTC, not local
    import datetime as dt

    assert release_date({}) == dt.date.today().isoformat()
    with pytest.raises(VersionError, match="SOURCE_DATE_EPOCH='soon'"):
        release_date({"SOURCE_DATE_EPOCH": "soon"})


def test_data_hash_is_the_sha256_of_the_sha256sum_listing(tmp_path: Path) -> None:
    review = synthetic(tmp_path / "review", outcomes=3, studies=3)
    config = {"paths": {"raw": "data/raw"}, "tables": ["studies", "outcomes"]}
    listing = "".join(
        f"{hashlib.sha256((review / p).read_bytes()).hexdigest()}  {p}\n"
        for p in ("data/raw/outcomes.csv", "data/raw/studies.csv")
    )
    assert data_hash(config, review) == hashlib.sha256(listing.encode()).hexdigest()
    if shutil.which("sha256sum"):
        by_hand = subprocess.run(
            "sha256sum data/raw/outcomes.csv data/raw/studies.csv | sha256sum",
            shell=True,
            cwd=review,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[0]
        assert data_hash(config, review) == by_hand
    (review / "data/raw/studies.csv").write_text("changed\n", encoding="utf-8")
    assert data_hash(config, review) != hashlib.sha256(listing.encode()).hexdigest()


def _version(results: Path, number: int, complete: bool = True) -> None:
    folder = results / "versions" / str(number)
    folder.mkdir(parents=True)
    if complete:
        info = {"number": number, "date": "2026-01-01", "data_hash": "ab" * 32, "files": {}}
        (folder / "version.json").write_text(json.dumps(info), encoding="utf-8")


def test_the_baseline_is_the_last_release_or_the_one_named(tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert released(results) == [] and next_number(results) == 1
    assert baseline(results) is None
    for n in (1, 2, 3):
        _version(results, n)
    _version(results, 4, complete=False)  # a release that never finished
    assert released(results) == [1, 2, 3] and next_number(results) == 4
    assert baseline(results) == results / "versions" / "3"
    assert baseline(results, before=3) == results / "versions" / "2"
    assert baseline(results, compare_with="1") == results / "versions" / "1"
    assert read_version(results / "versions" / "2") == {
        "number": 2,
        "date": "2026-01-01",
        "data_hash": "ab" * 32,
    }
    for wrong in ("4", "7", "x"):
        with pytest.raises(VersionError, match=f"no released version {wrong} .*: 1, 2, 3"):
            baseline(results, compare_with=wrong)
    with pytest.raises(VersionError, match="not a readable version file"):
        read_version(results / "versions" / "4")


# --- make release and make report COMPARE_WITH=N ------------------------------------------------


def _halve_events(review: Path, outcome: str) -> None:
    path = review / "data/raw/outcomes.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["outcome"] == outcome:
            row["events_treat"] = str(int(row["events_treat"]) // 2)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _changes(report: Path) -> str:
    html = report.read_text(encoding="utf-8")
    return html.split('id="changes"', 1)[1].split("</section>", 1)[0]


def _record(review: Path) -> dict:
    return json.loads((review / "results/report.json").read_text(encoding="utf-8"))


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.mark.e2e
def test_make_release_and_what_changed_against_version_n(tmp_path: Path) -> None:
    review = synthetic(tmp_path / "review")
    results = review / "results"
    _ok(make("report", review))
    assert "First report" in _changes(results / "report.html")
    assert _record(review)["compared_with"] is None

    # Version 1: the report, what it embeds, the results and version.json, read-only.
    out = _ok(make("release", review))
    v1 = results / "versions" / "1"
    assert f"released version 1 of {review}" in out
    info = json.loads((v1 / "version.json").read_text(encoding="utf-8"))
    config = {"paths": {"raw": "data/raw"}, "tables": ["studies", "outcomes"]}
    assert info["number"] == 1 and info["date"] == "2026-01-01"
    assert info["data_hash"] == data_hash(config, review)
    assert sorted(info["files"]) == [
        "analyses/outcomes.json",
        "analyses/outcomes_summary.csv",
        "report.html",
        "report.json",
    ]
    for name, digest in info["files"].items():
        assert hashlib.sha256((v1 / name).read_bytes()).hexdigest() == digest
        assert (v1 / name).stat().st_mode & 0o222 == 0  # protected
    assert (v1 / "analyses/outcomes.json").read_bytes() == (
        results / "analyses/outcomes.json"
    ).read_bytes()
    released_v1 = {p: (v1 / p).read_bytes() for p in info["files"]}
    assert "Version 1 of 2026-01-01" in (v1 / "report.html").read_text(encoding="utf-8")
    since_v1 = f"compared with version 1 of 2026-01-01 (data {info['data_hash'][:12]})"

    # The report now compares with version 1; a rerun of the unchanged review: same bytes.
    _ok(make("report", review))
    assert _record(review)["compared_with"]["number"] == 1
    assert since_v1 in (results / "report.html").read_text(encoding="utf-8")
    assert "Version 1" not in (results / "report.html").read_text(encoding="utf-8")
    assert "No change" in _changes(results / "report.html")
    first = (results / "report.html").read_bytes()
    out = _ok(make("report", review))
    assert "Nothing to be done" in out
    assert (results / "report.html").read_bytes() == first

    # A changed outcome shows against version 1.
    _halve_events(review, "o00003")
    _ok(make("report", review))
    assert "o00003" in _changes(results / "report.html")
    assert _record(review)["compared_with"]["number"] == 1

    # Version 2 compares with version 1; afterwards the report compares with version 2.
    _ok(make("release", review))
    v2 = results / "versions" / "2"
    assert json.loads((v2 / "report.json").read_text("utf-8"))["compared_with"]["number"] == 1
    assert "o00003" in _changes(v2 / "report.html")
    _ok(make("report", review))
    assert _record(review)["compared_with"]["number"] == 2
    assert "No change" in _changes(results / "report.html")

    # ...or with the version the reviewer names.
    _ok(make("report", review, "COMPARE_WITH=1"))
    assert _record(review)["compared_with"]["number"] == 1
    assert "o00003" in _changes(results / "report.html")
    done = make("report", review, "COMPARE_WITH=9")
    assert done.returncode != 0
    assert "there is no released version 9" in done.stdout + done.stderr
    assert "released versions: 1, 2" in done.stdout + done.stderr

    # A released version is never rewritten.
    assert {p: (v1 / p).read_bytes() for p in info["files"]} == released_v1
