"""Run a script's main function the way every entry point should: clear errors, no traceback.

A reviewer who feeds the pipeline a bad table sees one line per problem (file, line, column,
what to do) and a non-zero exit status, never a Python traceback; the same lines go to the
rule's log file.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from evsynth.errors import EvsynthError


def run(main: Callable[[], None], log: str | Path | None = None) -> None:
    """Call ``main``; on an :class:`EvsynthError` print its message, log it and exit 1."""
    try:
        main()
    except EvsynthError as error:
        message = f"error: {error}\n"
        sys.stderr.write(message)
        if log:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            Path(log).write_text(message, encoding="utf-8")
        sys.exit(1)
