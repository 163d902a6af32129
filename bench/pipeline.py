"""Pipeline at scale: a synthetic review of many outcomes, run clean, as a no-op and after one
input changes. Prints wall time and the peak resident memory of the Snakemake process tree.

The synthetic review is written to a temporary copy of the project: ``studies.csv`` with
``n_studies`` trials and ``fractures.csv`` with ``n_outcomes`` outcomes per trial (realistic
counts: control risks 2-20%, arms of 100-5000 people, true RR around 0.9 with
heterogeneity). The config gets one analysis per outcome; the outcome schema's allowed values
are widened to match. Everything else is the shipped workflow.
"""

from __future__ import annotations

import csv
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from evsynth.workflow import copy_project

ROOT = Path(__file__).resolve().parent.parent


def write_review(dest: Path, n_outcomes: int, n_studies: int, seed: int = 7) -> None:
    """Replace the shipped review in ``dest`` by a synthetic one of the same shape."""
    rng = np.random.default_rng(seed)
    raw = dest / "data/raw"
    with open(ROOT / "data/raw/studies.csv", encoding="utf-8") as handle:
        template = next(csv.DictReader(handle))
    studies = []
    for s in range(n_studies):
        row = dict(template)
        daily = bool(rng.random() < 0.6)
        row.update(
            study_id=f"Synthetic{2000 + s % 25}{'abcdefghijklmnopqrstuvwxyz'[s // 25 % 26]}",
            comparison="D3 vs placebo",
            year=str(2000 + s % 25),
            regimen="daily" if daily else "intermittent",
            dose_iu=str(int(rng.choice([400, 800, 1000, 2000])) if daily else 100000),
            doses_per_year="365" if daily else str(int(rng.choice([3, 4, 12]))),
            calcium_mg_per_day_treat=str(int(rng.choice([0, 1000]))),
        )
        studies.append(row)
    _write(raw / "studies.csv", studies)
    outcomes = [f"outcome{i:04d}" for i in range(n_outcomes)]
    rows = []
    with open(ROOT / "data/raw/fractures.csv", encoding="utf-8") as handle:
        template = next(csv.DictReader(handle))
    for o in outcomes:
        log_rr = rng.normal(np.log(0.9), 0.15, n_studies)
        for s, study in enumerate(studies):
            n1, n2 = (int(x) for x in rng.integers(100, 5000, 2))
            p2 = rng.uniform(0.02, 0.2)
            p1 = min(0.95, p2 * np.exp(log_rr[s]))
            row = dict(template)
            row.update(
                study_id=study["study_id"],
                comparison=study["comparison"],
                outcome=o,
                count_unit="persons",
                events_treat=str(rng.binomial(n1, p1)),
                n_treat=str(n1),
                events_control=str(rng.binomial(n2, p2)),
                n_control=str(n2),
                effect_measure="",
                effect="",
                ci_low="",
                ci_high="",
                include="true",
                exclusion_reason="",
            )
            rows.append(row)
    _write(raw / "fractures.csv", rows)
    schema_path = dest / "workflow/schemas/fractures.schema.yaml"
    schema = yaml.safe_load(schema_path.read_text(encoding="utf-8"))
    schema["columns"]["outcome"]["allowed"] = outcomes
    schema_path.write_text(yaml.safe_dump(schema, sort_keys=False), encoding="utf-8")
    config_path = dest / "config/config.yaml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["analyses"] = {
        o: {
            "title": o,
            "dataset": "fractures",
            "outcome": o,
            "measure": "RR",
            "events_are": "harmful",
            "subgroups": ["dose_band"],
            "moderators": ["daily_equivalent_iu"],
        }
        for o in outcomes
    }
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def timed_run(cwd: Path, *args: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB, largest child) of one Snakemake run."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--quiet", "all", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak_mb


def run(n_outcomes: int = 1000, n_studies: int = 20) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        dest = copy_project(ROOT, tmp)
        write_review(dest, n_outcomes, n_studies)
        clean, peak = timed_run(dest)
        noop, _ = timed_run(dest)
        # One outcome row changes (one more event in the control arm of the first row).
        table = dest / "data/raw/fractures.csv"
        rows = list(csv.DictReader(table.open(encoding="utf-8")))
        rows[0]["events_control"] = str(int(rows[0]["events_control"]) + 1)
        _write(table, rows)
        one_changed, _ = timed_run(dest)
    return {
        "clean_s": clean,
        "noop_s": noop,
        "one_input_changed_s": one_changed,
        "peak_rss_mb": peak,
    }


if __name__ == "__main__":
    outcomes = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print(run(outcomes))
