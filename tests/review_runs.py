"""Run a review folder's validate and analyse stages in-process (no Snakemake, no figures),
for tests that need real results quickly."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evsynth.stages import analyse_stage, datasets, validate_stage
from evsynth.validate.config import load_config

ROOT = Path(__file__).resolve().parents[1]
REVIEWS = Path(__file__).resolve().parent / "reviews"
#: The words of the shipped review that no other review's report, figure or the package may
#: hold (checked case-insensitively, except the short acronyms).
SHIPPED_WORDS = ("vitamin", "calcium", "fracture", "kidney", "avadec", "cholecalciferol")
SHIPPED_ACRONYMS = ("IU/day", "K2", "MGP", " IU")


@contextmanager
def inside(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def copy_review(source: Path, dest: Path) -> Path:
    """A copy of a review folder's inputs (config, schemas, raw data)."""
    for part in ("config", "schemas", "data/raw", "workflow/schemas"):
        if (source / part).is_dir():
            shutil.copytree(source / part, dest / part)
    return dest


def analysed(folder: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Validate and analyse a review folder in place: its config and ``{dataset: results}``."""
    with inside(folder):
        config = load_config("config/config.yaml", project_dir=".")
        validate_stage(config)
        results = {}
        for dataset in datasets(config):
            out = Path(config["paths"]["results"]) / "analyses"
            results[dataset] = analyse_stage(
                config,
                dataset,
                Path(config["paths"]["processed"]) / f"{dataset}.csv",
                out / f"{dataset}.json",
                out / f"{dataset}_summary.csv",
            )
    return config, results


def shipped_words_in(text: str) -> list[str]:
    """The shipped review's words found in ``text``."""
    lower = text.lower()
    found = [w for w in SHIPPED_WORDS if w in lower]
    return found + [w for w in SHIPPED_ACRONYMS if w in text]
