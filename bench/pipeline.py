"""Pipeline at scale: a synthetic review folder of many outcomes (:mod:`bench.review`), run as
a reviewer runs another review, ``make report REVIEW=dir``: clean, as a no-op, and after one
count changed, with wall time, peak memory, each job's time, and which analyses the changed
count recomputed (the cache's records).

Memory: ``peak_rss_mb`` is the largest resident set of any single process of the run
(``ru_maxrss`` of the children of a wrapper process that runs only this ``make``: the kernel's
exact peak of the largest descendant). ``peak_tree_pss_mb`` is the largest memory of the
whole process tree, sampled every 0.5 s with psutil as the sum of the proportional set sizes
(PSS: a page shared by n processes, as a pool's forked workers share their parent's, counts
1/n in each), and ``peak_tree_rss_mb`` the largest plain sum of resident sets (shared pages
counted in every process that maps them: an upper bound).

Each timed run starts after ``os.sync()``, so the disk write-back of what the previous run
wrote is not counted in the next. The review runs this checkout's evsynth (``PYTHONPATH``) in
this interpreter's environment (``EVSYNTH_ENV``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.review import FIGURES, change_one_count, write_review

ROOT = Path(__file__).resolve().parent.parent
CORES = 2
#: How often the process tree's memory is sampled. Reading a process's PSS makes the kernel
#: walk its page tables: sampled every 0.1 s, the sampler took 0.7 s of CPU during a 9.7 s
#: run on 2 cores and slowed it; every 0.5 s it takes a fifth of that, and the peaks (a job's
#: pool, the report) last seconds.
SAMPLE_SECONDS = 0.5

#: Runs one command and prints the peak RSS (KB) of its largest descendant: the wrapper has
#: no other children, so RUSAGE_CHILDREN covers exactly this run.
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "EVSYNTH_ENV": sys.prefix}


def make_report(review: Path) -> list[str]:
    return ["make", "--no-print-directory", "-C", str(ROOT), "report", f"REVIEW={review}"]


def timed_run(command: list[str]) -> dict[str, Any]:
    """Wall seconds, peak RSS of the largest process and the sampled peak PSS and RSS sum of
    the process tree (MB) of one command (module docstring)."""
    os.sync()
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as log:  # a pipe could fill
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRAPPER, *command],
            env=_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        tree_peak = pss_peak = 0
        wrapper = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                members = [wrapper, *wrapper.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            rss = pss = 0
            for member in members:
                with contextlib.suppress(psutil.Error):  # ended since the listing
                    info = member.memory_full_info()
                    rss, pss = rss + info.rss, pss + info.pss
            tree_peak, pss_peak = max(tree_peak, rss), max(pss_peak, pss)
            time.sleep(SAMPLE_SECONDS)
        proc.wait()
        seconds = time.perf_counter() - start
        log.seek(0)
        output = log.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-5000:]}")
    return {
        "seconds": seconds,
        "peak_rss_mb": int(output.strip().splitlines()[-1]) / 1024,
        "peak_tree_rss_mb": tree_peak / 2**20,
        "peak_tree_pss_mb": pss_peak / 2**20,
        "output": output,
    }


def job_times(review: Path, since: float) -> dict[str, float]:
    """Seconds each job of the run that started at ``since`` (``time.time()``) took, with
    its imports, from its log (``done in … (… s with imports)``)."""
    out = {}
    for log in sorted((review / "results/logs").glob("*.log")):
        if log.stat().st_mtime < since:
            continue  # a job of an earlier run
        found = re.search(r"\(([0-9.]+) s with imports\)", log.read_text(encoding="utf-8"))
        if found:
            out[log.stem] = float(found.group(1))
    return out


def _record(review: Path, kind: str) -> dict[str, Any]:
    """What the last run's ``kind`` job did (its cache record): analyses, figures, report."""
    name = "report.run.json" if kind == "report" else f"{kind}/outcomes.run.json"
    return json.loads((review / "results/cache" / name).read_text("utf-8"))


def run(
    n_outcomes: int = 1000,
    n_studies: int = 20,
    reruns: bool = True,
    shown: int | None = 10,
) -> dict[str, Any]:
    """Clean run (and, with ``reruns``, a no-op and a rerun after one count changed) of the
    synthetic review in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        review = write_review(Path(tmp) / "review", n_outcomes, n_studies, shown=shown)
        started = time.time()
        clean = timed_run(make_report(review))
        manifest = json.loads(
            (review / "results/figures/outcomes.figures.json").read_text(encoding="utf-8")
        )
        result: dict[str, Any] = {
            "outcomes": n_outcomes,
            "studies": n_studies,
            "figure_files": len(manifest["files"]),
            "clean": clean,
            "clean_jobs": job_times(review, started),
            "report_mb": (review / "results/report.html").stat().st_size / 2**20,
            "results_mb": (review / "results/analyses/outcomes.json").stat().st_size / 2**20,
        }
        if not reruns:
            return result
        result["noop"] = timed_run(make_report(review))
        result["changed_outcome"] = change_one_count(review, 0)
        started = time.time()
        result["changed"] = timed_run(make_report(review))
        result["changed_jobs"] = job_times(review, started)
        result["recomputed"] = _record(review, "analyses")["computed"]
        result["redrawn"] = _record(review, "figures")["drawn"]
        result["rendered"] = _record(review, "report")["rendered"]
    return result


def _mb(run: dict[str, Any]) -> str:
    return (
        f"peak RSS {run['peak_rss_mb']:.0f} MB (largest process); process tree "
        f"{run['peak_tree_pss_mb']:.0f} MB PSS ({run['peak_tree_rss_mb']:.0f} MB summing "
        "each process's RSS)"
    )


def _jobs(times: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in sorted(times.items()))


def _single_core(large: dict[str, Any]) -> list[str]:
    """What runs on one core, how long it took, and what would make it parallel."""
    jobs = large["clean_jobs"]
    report = jobs.get("report", float("nan"))
    changed = large["changed_jobs"].get("report", float("nan"))
    return [
        "",
        "Single-core parts. The analyses, their JSON encoding (each analysis's text is "
        "encoded in the worker that computed it; the job only concatenates) and the figures "
        "run in a pool of processes. The report job is one process: "
        f"{report:.1f} s in the clean run, rendering every analysis's section, and "
        f"{changed:.1f} s after the changed count, where it reuses every section but one "
        "and its time is parsing the results JSON, GRADE for every analysis, and the "
        "first screen, Summary of Findings, claims and provenance appendix (which read "
        "every analysis). The sections are independent and separately cached, so the clean "
        "run's could be rendered in a process pool like the analyses; the per-analysis "
        "parts (GRADE, provenance rows) could be cached with the section. The gallery job "
        "(one process) runs beside the report and does not lengthen the run on 2 cores.",
    ]


def markdown(large: dict[str, Any], huge: dict[str, Any] | None) -> list[str]:
    """The pipeline section of bench/RESULTS.md."""
    n, k = large["outcomes"], large["studies"]
    lines = [
        f"## Pipeline: `make report REVIEW=dir`, {n:,} outcomes x {k} trials, {CORES} cores",
        "",
        "A synthetic review folder (`bench/review.py`: binary counts, one RR analysis per "
        "outcome with a subgroup and a moderator), forest plots only, SVG "
        f"(`figures: {json.dumps(FIGURES)}`): {large['figure_files']:,} files. Its report "
        "shows 10 outcomes in full (sections and Summary of Findings).",
        "",
        "| run | wall | target | memory |",
        "| --- | --- | --- | --- |",
        f"| clean | {large['clean']['seconds']:.1f} s | ≤ 60 s | {_mb(large['clean'])} |",
        f"| no-op | {large['noop']['seconds']:.1f} s | ≤ 2 s | {_mb(large['noop'])} |",
        f"| one count changed | {large['changed']['seconds']:.1f} s | ≤ 10 s | "
        f"{_mb(large['changed'])} |",
        "",
        "- Memory: the largest process is the kernel's exact peak (`ru_maxrss`); the process "
        "tree (make, Snakemake, its jobs and their pools) is sampled every "
        f"{SAMPLE_SECONDS} s, as PSS (the pages a pool's forked workers share with their "
        "parent counted once) and as the plain sum of each process's RSS (counted in each: "
        "an upper bound).",
        f"- Jobs of the clean run (each with its imports): {_jobs(large['clean_jobs'])}.",
        f"- Jobs after one count changed (outcome {large['changed_outcome']}): "
        f"{_jobs(large['changed_jobs'])}.",
        f"- Recomputed by the changed count (cache records): analyses "
        f"{', '.join(large['recomputed']) or 'none'}; figures redrawn "
        f"{', '.join(large['redrawn']) or 'none'}; report sections rendered "
        f"{', '.join(large['rendered']) or 'none'}; every other analysis, figure set and "
        "section was reused from `results/cache`.",
        f"- Results JSON {large['results_mb']:.0f} MB; report {large['report_mb']:.1f} MB.",
        *_single_core(large),
    ]
    if huge is not None:
        growth = huge["outcomes"] / n
        lines += [
            "",
            f"### {huge['outcomes']:,} outcomes x {huge['studies']} trials",
            "",
            "| run | wall | memory |",
            "| --- | --- | --- |",
            f"| clean | {huge['clean']['seconds']:.1f} s | {_mb(huge['clean'])} |",
            f"| no-op | {huge['noop']['seconds']:.1f} s | {_mb(huge['noop'])} |",
            f"| one count changed | {huge['changed']['seconds']:.1f} s | {_mb(huge['changed'])} |",
            "",
            f"- Jobs of the clean run: {_jobs(huge['clean_jobs'])}.",
            f"- Jobs after one count changed: {_jobs(huge['changed_jobs'])}.",
            f"- Recomputed: analyses {', '.join(huge['recomputed'])}; figures "
            f"{', '.join(huge['redrawn'])}; report sections {', '.join(huge['rendered'])}.",
            f"- Growth for {growth:.0f}x the outcomes: clean run "
            f"x{huge['clean']['seconds'] / large['clean']['seconds']:.1f}, no-op "
            f"x{huge['noop']['seconds'] / large['noop']['seconds']:.1f}, one count changed "
            f"x{huge['changed']['seconds'] / large['changed']['seconds']:.1f}, peak RSS of "
            f"the largest process x"
            f"{huge['clean']['peak_rss_mb'] / large['clean']['peak_rss_mb']:.1f}.",
        ]
    return lines


def main(outcomes: int = 1000, huge_outcomes: int = 10000) -> list[str]:
    """Both measurements; prints and returns the markdown lines."""
    large = run(outcomes)
    huge = run(huge_outcomes) if huge_outcomes else None
    lines = markdown(large, huge)
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 10000,
    )
