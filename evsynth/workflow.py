"""Small helpers the Snakemake rules call: which files a stage depends on, config digests."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
#: The subpackages the validation and analysis stages import besides the top-level modules.
ENGINE_PARTS = ("io", "meta", "validate", "analysis", "schemas")


def library_sources(part: str = "engine", root: Path | str | None = None) -> list[str]:
    """The evsynth source files a stage imports, relative to ``root``.

    Declared as rule inputs, so a change to the statistics reruns the analyses, a change to
    the plotting code reruns the figures and a change to the report code reruns the report
    (Snakemake compares modification times). ``part`` is ``"engine"`` (the top-level
    modules), ``"plots"`` or ``"report"`` (the subpackages with their templates).
    """
    base = Path(root).resolve() if root is not None else Path.cwd().resolve()
    if part == "engine":
        files = sorted(PACKAGE_DIR.glob("*.py"))
        for stage in ENGINE_PARTS:
            files += sorted(
                p for p in (PACKAGE_DIR / stage).rglob("*") if p.suffix in (".py", ".yaml")
            )
    else:
        suffixes = {".py", ".j2", ".yaml", ".css"}
        files = sorted(p for p in (PACKAGE_DIR / part).rglob("*") if p.suffix in suffixes)
    out = []
    for path in files:
        try:
            out.append(str(path.relative_to(base)))
        except ValueError:
            out.append(str(path))
    return out


def config_digest(section: Mapping[str, Any] | list[Any]) -> str:
    """A short, order-independent digest of a config section, used as a rule ``params`` so
    that changing an analysis setting reruns exactly the analyses that read it."""
    text = json.dumps(section, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


#: What a copy of the project needs to run the workflow elsewhere (tests, benchmarks, the
#: cluster check): the Snakefile, rules, config, scripts, raw data and the environment file.
PROJECT_PARTS = ("Snakefile", "workflow", "config", "scripts", "data/raw", "environment.yml")


def copy_project(
    source: Path | str, dest: Path | str, parts: tuple[str, ...] = PROJECT_PARTS
) -> Path:
    """Copy the parts of the project at ``source`` that the workflow needs into ``dest``."""
    source, dest = Path(source), Path(dest)
    for part in parts:
        origin = source / part
        if origin.is_dir():
            shutil.copytree(origin, dest / part, dirs_exist_ok=True)
        else:
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, dest / part)
    return dest
