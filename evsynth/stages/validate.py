"""Stage 1: validate the raw tables and write the processed ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def validate_stage(config: Mapping[str, Any], tables: Iterable[str] | None = None) -> list[Path]:
    """Validate the review's raw tables (all, or ``tables``) and write the processed ones."""
    from evsynth.validate.processing import validate_and_write

    paths = config["paths"]
    return validate_and_write(
        paths["raw"],
        paths["processed"],
        list(tables or config["tables"]),
        paths["schemas"],
        config["derived"],
    )
