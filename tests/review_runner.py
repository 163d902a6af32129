"""Run `make report` / `make release` on a review folder from the tests, as a reviewer does.

``make`` uses this interpreter's environment (``EVSYNTH_ENV``: nothing is installed) and this
checkout's evsynth (first on ``PYTHONPATH``). ``SOURCE_DATE_EPOCH`` fixes release dates.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.review import write_review

ROOT = Path(__file__).resolve().parents[1]
EPOCH = "1767225600"  # 2026-01-01 UTC


def env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "EVSYNTH_ENV": sys.prefix,
        "PYTHONPATH": path,
        "SOURCE_DATE_EPOCH": EPOCH,
        **extra,
    }


def make_command(target: str, review: Path, *variables: str) -> list[str]:
    return ["make", "--no-print-directory", "-C", str(ROOT), target, f"REVIEW={review}", *variables]


def make(
    target: str, review: Path, *variables: str, timeout: float = 600, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """``make target REVIEW=review`` with ``variables`` (``COMPARE_WITH=1``, …)."""
    return subprocess.run(
        make_command(target, review, *variables),
        capture_output=True,
        text=True,
        env=env(**extra_env),
        timeout=timeout,
    )


@dataclass
class Started:
    """A ``make`` running in its own session; its output goes to ``log``."""

    proc: subprocess.Popen[str]
    log: Path

    def wait(self, timeout: float = 600) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout)
        return code, self.log.read_text(encoding="utf-8")


def start_make(target: str, review: Path, *variables: str, **extra_env: str) -> Started:
    """``make`` in its own session, its output in a file beside the review."""
    log = review.parent / f"{review.name}.{target}.{time.monotonic_ns()}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            make_command(target, review, *variables),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env(**extra_env),
            start_new_session=True,
        )
    return Started(proc, log)


def synthetic(folder: Path, outcomes: int = 24, studies: int = 8) -> Path:
    """A small synthetic review folder (bench/review.py): forest plots only, SVG."""
    return write_review(folder, outcomes, studies, shown=4)


def copy_review(source: Path, dest: Path) -> Path:
    """The inputs of a review folder (config, schemas, raw data), nothing it made."""
    for part in ("config", "schemas", "data/raw"):
        if (source / part).is_dir():
            shutil.copytree(source / part, dest / part)
    return dest


def tree(review: Path) -> dict[str, str]:
    """SHA-256 of every output a run writes (results and processed tables), except logs and
    the cache (records of what was computed, not results)."""
    out = {}
    for part in ("results", "data/processed"):
        root = review / part
        for p in sorted(root.rglob("*")) if root.is_dir() else []:
            rel = p.relative_to(review)
            if p.is_file() and not {"logs", "cache"} & set(rel.parts):
                out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def wait_for(
    condition: Callable[[], psutil.Process | None], timeout: float = 120
) -> psutil.Process:
    """Poll ``condition`` every 10 ms until it gives a process."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = condition()
        if found is not None:
            return found
        time.sleep(0.01)
    raise TimeoutError("the process never appeared")


def job_of(root_pid: int, script: str) -> Callable[[], psutil.Process | None]:
    """A condition: the job running ``scripts/<script>`` under ``root_pid``, once started."""

    def find() -> psutil.Process | None:
        for p in descendants(root_pid):
            try:
                if any(part.endswith(f"scripts/{script}") for part in p.cmdline()):
                    return p
            except psutil.Error:
                continue
        return None

    return find


def snakemake_of(root_pid: int) -> psutil.Process | None:
    for p in descendants(root_pid):
        try:
            cmd = p.cmdline()
        except psutil.Error:
            continue
        if any("snakemake" in part for part in cmd[:3]) and "--unlock" not in cmd:
            return p
    return None


def kill_tree(root_pid: int) -> None:
    """``kill -9`` of a process and all its descendants at once (a crash of everything)."""
    members = [*descendants(root_pid)]
    with_root = [root_pid, *(p.pid for p in members)]
    for pid in with_root:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
