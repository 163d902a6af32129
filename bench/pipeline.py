"""Pipeline at scale: a synthetic review of many outcomes, run clean, as a no-op and after one
input changes, with wall time and peak memory.

The synthetic review is written to a temporary copy of the project: ``studies.csv`` with
``n_studies`` trials and ``fractures.csv`` with ``n_outcomes`` outcomes per trial (realistic
counts: control risks 2-20%, arms of 100-5000 people, true RR around 0.9 with
heterogeneity). The config gets one analysis per outcome (subgroup: dose band; moderator:
daily-equivalent dose); the outcome schema's allowed values are widened to match.

Figures are configured as a large review would run them (:data:`LARGE_REVIEW_FIGURES`): the
forest plot of each outcome and its subgroup forest plot, SVG only (the report inlines the
SVGs; PNGs, funnel, bubble, leave-one-out and cumulative plots are switched off). With
``figures=None`` the shipped config's full set is drawn (every kind, SVG + PNG), which
:func:`main` measures on a smaller review. Everything else is the shipped workflow.

Memory: ``peak_rss_mb`` is the largest resident set of any single process of the run
(``ru_maxrss`` of the children of a wrapper process that runs only this Snakemake
invocation: the kernel's exact peak of the largest descendant). ``peak_tree_rss_mb`` is the
largest sum of the resident sets of the whole Snakemake process tree, sampled every 0.1 s
with psutil (pages that forked workers share are counted in each: an upper bound).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import yaml

from evsynth.workflow import PROJECT_PARTS, copy_project

ROOT = Path(__file__).resolve().parent.parent
CORES = 2

#: The figure setting of the large synthetic review: one forest plot per outcome plus its
#: subgroup forest plot, SVG only.
LARGE_REVIEW_FIGURES = {"kinds": ["forest", "subgroups"], "formats": ["svg"]}

#: Runs one command and prints the peak RSS (KB) of its largest descendant: the wrapper has
#: no other children, so RUSAGE_CHILDREN covers exactly this run.
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def write_review(
    dest: Path,
    n_outcomes: int,
    n_studies: int,
    seed: int = 7,
    figures: dict[str, list[str]] | None = LARGE_REVIEW_FIGURES,
) -> None:
    """Replace the shipped review in ``dest`` by a synthetic one of the same shape.

    ``figures`` becomes ``defaults.figures`` of its config (None: the shipped setting)."""
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
    if figures is not None:
        config["defaults"]["figures"] = figures
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


def _snakemake(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--cores", str(CORES), *args]


def _env(cwd: Path) -> dict[str, str]:
    """The copy's own evsynth first on the path (see :func:`run`)."""
    return {**os.environ, "PYTHONPATH": str(cwd)}


def planned_jobs(cwd: Path) -> dict[str, int]:
    """Jobs a run would do now, by rule (a dry run; not timed)."""
    out = subprocess.run(
        _snakemake("--dry-run", "--quiet", "rules", "all"),
        cwd=cwd,
        env=_env(cwd),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    jobs: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            jobs[parts[0]] = int(parts[1])
    return jobs


def timed_run(cwd: Path) -> dict[str, float]:
    """Wall seconds, peak RSS of the largest process and sampled peak RSS of the process tree
    (MB) of one Snakemake run of the default target.

    Written data is flushed to disk first (``os.sync``), so that the write-back of the files
    the previous run (or the set-up) wrote is not timed as part of this one."""
    os.sync()
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as log:  # a pipe could fill
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRAPPER, *_snakemake("--quiet", "all", "all")],
            cwd=cwd,
            env=_env(cwd),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        tree_peak = 0
        wrapper = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                members = [wrapper, *wrapper.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            total = 0
            for member in members:
                with contextlib.suppress(psutil.NoSuchProcess):  # ended since the listing
                    total += member.memory_info().rss
            tree_peak = max(tree_peak, total)
            time.sleep(0.1)
        proc.wait()
        seconds = time.perf_counter() - start
        log.seek(0)
        output = log.read()
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake failed in {cwd}:\n{output}")
    largest_kb = int(output.strip().splitlines()[-1])
    return {
        "seconds": seconds,
        "peak_rss_mb": largest_kb / 1024,
        "peak_tree_rss_mb": tree_peak / 2**20,
    }


def run(
    n_outcomes: int = 1000,
    n_studies: int = 20,
    figures: dict[str, list[str]] | None = LARGE_REVIEW_FIGURES,
    reruns: bool = True,
) -> dict[str, Any]:
    """Clean run (and, with ``reruns``, a no-op rerun and a rerun after one count changed) of
    a synthetic review in a temporary copy of the project.

    The copy carries its own ``evsynth`` (first on ``PYTHONPATH``), so the runs time one
    snapshot of the code, and an edit to the working tree during the benchmark cannot make
    the no-op rerun redo the analyses (the library's sources are inputs of the rules)."""
    with tempfile.TemporaryDirectory() as tmp:
        dest = copy_project(ROOT, tmp, (*PROJECT_PARTS, "evsynth"))
        write_review(dest, n_outcomes, n_studies, figures=figures)
        clean = timed_run(dest)
        manifest = json.loads(
            (dest / "results/figures/fractures.figures.json").read_text(encoding="utf-8")
        )
        result: dict[str, Any] = {
            "outcomes": n_outcomes,
            "studies": n_studies,
            "figures": figures or "shipped (all kinds, svg + png)",
            "figure_files": len(manifest["files"]),
            "clean_s": clean["seconds"],
            "per_outcome_s": clean["seconds"] / n_outcomes,
            "peak_rss_mb": clean["peak_rss_mb"],
            "peak_tree_rss_mb": clean["peak_tree_rss_mb"],
        }
        if not reruns:
            return result
        result["noop_planned_jobs"] = planned_jobs(dest)
        result["noop_s"] = timed_run(dest)["seconds"]
        # One outcome row changes (one more event in the control arm of the first row).
        table = dest / "data/raw/fractures.csv"
        rows = list(csv.DictReader(table.open(encoding="utf-8")))
        rows[0]["events_control"] = str(int(rows[0]["events_control"]) + 1)
        _write(table, rows)
        result["one_changed_planned_jobs"] = planned_jobs(dest)
        result["one_input_changed_s"] = timed_run(dest)["seconds"]
    return result


def markdown(large: dict[str, Any], full: dict[str, Any] | None) -> list[str]:
    """The pipeline section of bench/RESULTS.md."""
    n, k = large["outcomes"], large["studies"]
    lines = [
        f"## Pipeline: synthetic review, {n:,} outcomes x {k} studies, {CORES} cores",
        "",
        "Figures as a large review runs them: the forest plot of each outcome and its subgroup "
        f"forest plot, SVG only (`figures: {json.dumps(LARGE_REVIEW_FIGURES)}`), "
        f"{large['figure_files']:,} files.",
        "",
        f"- clean run: {large['clean_s']:.1f} s ({large['per_outcome_s']:.3f} s per outcome)",
        f"- no-op rerun: {large['noop_s']:.1f} s (jobs planned: "
        f"{_jobs(large['noop_planned_jobs'])})",
        f"- one input changed (one count in fractures.csv): "
        f"{large['one_input_changed_s']:.1f} s (jobs: {_jobs(large['one_changed_planned_jobs'])}; "
        "the analyses and figures of a dataset are one job each, so every outcome of "
        "fractures is analysed and drawn again)",
        f"- peak RSS of any one process: {large['peak_rss_mb']:.0f} MB; peak sum over the "
        f"process tree (sampled every 0.1 s, shared pages counted per process): "
        f"{large['peak_tree_rss_mb']:.0f} MB",
    ]
    if full is not None:
        lines += [
            "",
            f"### Full figure set, {full['outcomes']:,} outcomes x {full['studies']} studies",
            "",
            "The shipped setting: every kind (forest, subgroups, leave-one-out, cumulative, "
            f"funnel, bubble), SVG + PNG, {full['figure_files']:,} files.",
            "",
            f"- clean run: {full['clean_s']:.1f} s ({full['per_outcome_s']:.2f} s per outcome)",
            f"- peak RSS of any one process: {full['peak_rss_mb']:.0f} MB; tree: "
            f"{full['peak_tree_rss_mb']:.0f} MB",
        ]
    return lines


def _jobs(jobs: dict[str, int]) -> str:
    shown = {rule: count for rule, count in sorted(jobs.items()) if rule != "all"}
    return ", ".join(f"{rule} {count}" for rule, count in shown.items()) or "none"


def main(outcomes: int = 1000, full_outcomes: int = 100) -> list[str]:
    """Both measurements; prints and returns the markdown lines."""
    large = run(outcomes)
    full = run(full_outcomes, figures=None, reruns=False) if full_outcomes else None
    lines = markdown(large, full)
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 100,
    )
