"""Runs of a copy of the shipped project for the end-to-end tests (Snakemake in a temporary
directory, as `snakemake` in the checkout would run)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from evsynth import workflow

ROOT = Path(__file__).resolve().parent.parent


def copy_project(dest: Path) -> Path:
    return workflow.copy_project(ROOT, dest)


def copy_built(built: Path, dest: Path) -> Path:
    """A copy of a project after a run, with its files' times (Snakemake and the cache compare
    them), so that the copy is as up to date as the original."""
    shutil.copytree(built, dest, copy_function=shutil.copy2, symlinks=True)
    return dest


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


def computed(project: Path, dataset: str) -> tuple[list[str], list[str]]:
    """The analyses the last run computed and those whose figures it drew (cache records)."""
    cache = project / "results/cache"
    analysed = json.loads((cache / "analyses" / f"{dataset}.run.json").read_text("utf-8"))
    drawn = json.loads((cache / "figures" / f"{dataset}.run.json").read_text("utf-8"))
    return analysed["computed"], drawn["drawn"]


def rendered(project: Path) -> list[str]:
    """The analyses whose report sections the last report rendered (the others were reused)."""
    record = project / "results/cache/report.run.json"
    return list(json.loads(record.read_text(encoding="utf-8"))["rendered"])


def edit_first_hip_row(table: Path) -> None:
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


def build(folder: Path) -> Path:
    """A copy of the shipped project after one clean run."""
    project = copy_project(folder)
    out = snakemake(project, "--quiet", "rules")
    assert out.returncode == 0, out.stdout + out.stderr
    return project
