"""``python -m evsynth.snakemake_main ARGS``: Snakemake's command line
(``snakemake.cli.main``), ending as soon as the run has ended.

Snakemake's scheduler limits how fast it starts jobs (``--max-jobs-per-timespan``, by
default 100 per second) with a ``threading.Timer`` it arms each time it schedules; the timer
only wakes the scheduler for another look. When the run is over the interpreter still waits
for the last timer, so every run that ran a job ended about a second after its last job (a
tenth of the time of a living review's one-count update). Here the timers still pending when
Snakemake returns are cancelled (``Timer.cancel``): the scheduler has finished, and nothing
else runs in them. Exit handlers (log files, executor plugins) run as usual.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Run Snakemake's command line with ``argv``; exit with its status."""
    from snakemake.cli import main as snakemake

    try:
        snakemake(list(argv) if argv is not None else sys.argv[1:])
    finally:
        for thread in threading.enumerate():
            if isinstance(thread, threading.Timer):
                thread.cancel()


if __name__ == "__main__":
    main()
