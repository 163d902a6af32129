"""``make report`` / ``evsynth report``: run the Snakemake workflow on a review, recovering by
itself from a run that was killed or crashed, and one run at a time.

A run of Snakemake that is killed (``kill -9``, a closed terminal, a machine that went down)
leaves two things behind that make the next plain ``snakemake`` refuse to start: its lock
(``LockException … --unlock``) and markers on the outputs it was writing
(``IncompleteFilesException … --rerun-incomplete``). A reviewer should not have to know
either flag. :func:`run_workflow`:

1. takes the review's run lock (``.snakemake/evsynth/run.lock``, an ``flock``: the system
   releases it when its holder dies, however it dies); a second ``make report`` on the same
   review waits for the first and says so;
2. waits until no job of an earlier run is still working (every job holds the jobs lock,
   shared, while it runs: :func:`job_lock`; a job outlives a Snakemake killed with ``-9``);
3. when Snakemake's own lock is there but no Snakemake process runs in the review, removes it
   (``snakemake --unlock``) and says so;
4. names the outputs that an interrupted job left marked incomplete and reruns their jobs
   (``--rerun-incomplete``), and removes the temporary files of interrupted atomic writes;
5. runs Snakemake and returns its exit status.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

STATE = Path(".snakemake") / "evsynth"
RUN_LOCK = "run.lock"
JOBS_LOCK = "jobs.lock"
#: The folders where atomic writes leave ``.<name>.<random>.tmp`` files when interrupted.
TEMP_PATTERNS = (".*.tmp",)


def default_snakefile() -> Path | None:
    """The Snakefile of the evsynth checkout this package belongs to (None when evsynth is
    installed without its workflow)."""
    path = Path(__file__).resolve().parent.parent / "Snakefile"
    return path if path.is_file() else None


@contextlib.contextmanager
def _flock(path: Path, shared: bool = False) -> Iterator[int | None]:
    """Hold an ``flock`` on ``path`` (waiting for it). Yields the descriptor, or None where
    the file system has no locks (the run then goes on unlocked)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        except OSError as error:
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            yield None
            return
        yield fd
    finally:
        os.close(fd)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def job_lock(folder: str | Path = ".") -> Iterator[None]:
    """Held (shared) by every job while it runs, in a review that :func:`run_workflow` runs:
    the next run waits for the jobs of a killed Snakemake to end before it reruns them."""
    state = Path(folder) / STATE
    if not state.is_dir():
        yield
        return
    with _flock(state / JOBS_LOCK, shared=True):
        yield


def snakemake_running(folder: Path) -> list[int]:
    """Process ids of Snakemake processes working in ``folder`` (Linux: ``/proc``)."""
    target = folder.resolve()
    found = []
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            if not any(b"snakemake" in part for part in cmdline[:3]):
                continue
            if Path(os.readlink(entry / "cwd")).resolve() == target:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def incomplete_outputs(folder: Path) -> list[str]:
    """The outputs Snakemake marked incomplete (a job started and never finished)."""
    markers = folder / ".snakemake" / "incomplete"
    if not markers.is_dir():
        return []
    names = []
    for marker in markers.rglob("*"):
        if not marker.is_file():
            continue
        # Snakemake's name: the path in URL-safe base64, cut into folders marked "@"
        parts = marker.relative_to(markers).parts
        encoded = "".join(p.removeprefix("@") for p in parts)
        try:
            names.append(base64.urlsafe_b64decode(encoded).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
    return sorted(n for n in names if (folder / n).exists())


def stray_temporaries(folder: Path, places: Sequence[str]) -> list[Path]:
    """Temporary files of interrupted atomic writes under ``places`` (outputs only)."""
    found: list[Path] = []
    for place in places:
        root = folder / place
        if root.is_dir():
            for pattern in TEMP_PATTERNS:
                found += [p for p in root.rglob(pattern) if p.is_file()]
    return sorted(found)


def _snakemake(snakefile: Path, folder: Path, *args: str) -> list[str]:
    """Snakemake's command line, through :mod:`evsynth.snakemake_main` (which ends the
    process when the run ends, not a second later)."""
    return [
        sys.executable,
        "-m",
        "evsynth.snakemake_main",
        "-s",
        str(snakefile),
        "--directory",
        str(folder),
        *args,
    ]


def recover(folder: Path, snakefile: Path, say: Callable[[str], None]) -> None:
    """Steps 2-4 of the module docstring, with the run lock held."""
    state = folder / STATE
    with _flock(state / JOBS_LOCK) as fd:
        del fd  # held: no job of an earlier run is still running
    locks = folder / ".snakemake" / "locks"
    if locks.is_dir() and any(locks.iterdir()):
        others = snakemake_running(folder)
        if others:
            say(
                f"evsynth: Snakemake (process {', '.join(map(str, others))}) is running in "
                f"{folder} outside `make report`; wait for it to end"
            )
            raise SystemExit(1)
        subprocess.run(
            _snakemake(snakefile, folder, "--unlock", "--quiet", "all"),
            check=True,
            capture_output=True,
        )
        say(f"evsynth: the last run of {folder} was interrupted; removed its stale lock")
    incomplete = incomplete_outputs(folder)
    if incomplete:
        shown = ", ".join(incomplete[:8]) + (" …" if len(incomplete) > 8 else "")
        say(f"evsynth: rebuilding what the interrupted run left incomplete: {shown}")
    temporaries = stray_temporaries(folder, ("results", "data/processed"))
    for path in temporaries:
        path.unlink(missing_ok=True)
    if temporaries:
        say(f"evsynth: removed {len(temporaries)} partial file(s) of the interrupted run")


def run_workflow(
    folder: str | Path = ".",
    args: Sequence[str] = (),
    *,
    snakefile: str | Path | None = None,
    cores: int = 2,
    say: Callable[[str], None] = print,
) -> int:
    """Run Snakemake on the review ``folder`` with ``args`` (targets, ``--config``, …), one run
    at a time and recovering from an interrupted run (module docstring); its exit status."""
    review = Path(folder).resolve()
    workflow_file = Path(snakefile) if snakefile is not None else default_snakefile()
    if workflow_file is None or not workflow_file.is_file():
        say(
            "evsynth: no Snakefile (evsynth is installed without its workflow); give "
            "--snakefile path/to/evsynth/Snakefile, or run every stage with `evsynth run`"
        )
        return 1
    if not (review / "config" / "config.yaml").is_file():
        say(f"evsynth: {review} has no config/config.yaml; `evsynth new PATH` makes a review")
        return 1
    state = review / STATE
    busy = wait_message(review)
    if busy:
        say(busy)
    with _flock(state / RUN_LOCK) as fd:
        if fd is not None:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {time.strftime('%H:%M:%S')}\n".encode())
        recover(review, workflow_file, say)
        command = _snakemake(
            workflow_file.resolve(), review, "--cores", str(cores), "--rerun-incomplete", *args
        )
        return subprocess.call(command)


def wait_message(folder: Path) -> str | None:
    """What to say when another ``make report`` holds the review's run lock (None: free)."""
    path = folder / STATE / RUN_LOCK
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        if _try_flock(fd):
            return None
        holder = Path(path).read_text(encoding="utf-8").split()
    finally:
        os.close(fd)
    who = f" (process {holder[0]}, started {holder[1]})" if len(holder) >= 2 else ""
    return f"evsynth: another `make report` is running on {folder}{who}; waiting for it to end"
