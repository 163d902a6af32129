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
ENGINE_PARTS = ("io", "meta", "validate", "analysis", "stages", "schemas")


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


# --- the validated config, remembered ---------------------------------------------------------


def _schema_listing(config: Mapping[str, Any], root: Path) -> dict[str, str]:
    """SHA-256 of every file in the review's schema folder (what validating the config reads
    besides the config itself)."""
    folder = root / config["paths"]["schemas"]
    if not folder.is_dir():
        return {}
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def load_config_cached(
    path: str | Path = "config/config.yaml", project_dir: str | Path = "."
) -> dict[str, Any]:
    """:func:`evsynth.validate.config.load_config`, remembered between the jobs of a run.

    Every Snakemake start and every job reads the config; validating 1,000 analyses against
    the JSON Schema takes about a second. The validated config is kept in
    ``.snakemake/evsynth/config/`` of the review under the SHA-256 of the config's text, the
    review folder's path and the library (:func:`evsynth.cache.library_fingerprint`), with
    the SHA-256 of every file of the schema folder it was checked against: any change is a
    miss and the config is validated again. Errors are never remembered."""
    from evsynth.cache import digest, library_fingerprint
    from evsynth.validate.config import load_config

    root = Path(project_dir).resolve()
    config_path = Path(path)
    try:
        text = config_path.read_bytes()
    except OSError:
        return load_config(path, project_dir=project_dir)  # it says what is wrong
    key = digest("config", text, str(root), library_fingerprint("engine"))
    store = root / ".snakemake" / "evsynth" / "config"
    entry = store / f"{key}.json"
    try:
        kept = json.loads(entry.read_text(encoding="utf-8"))
        if kept["schemas"] == _schema_listing(kept["config"], root):
            return dict(kept["config"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    config = load_config(path, project_dir=project_dir)
    try:
        text_out = json.dumps({"schemas": _schema_listing(config, root), "config": config})
        if json.loads(text_out)["config"] != config:  # not plain JSON values: do not keep
            return config
        store.mkdir(parents=True, exist_ok=True)
        for old in store.glob("*.json"):
            old.unlink(missing_ok=True)
        from evsynth.io.safe_io import write_text_atomic

        write_text_atomic(entry, text_out, durable=False)
    except (OSError, TypeError, ValueError):
        pass  # a read-only review folder: validate every time
    return config


# --- what the workflow checks at every start --------------------------------------------------


def _named_in_paths(config_text: str, key: str) -> bool:
    """Whether the config's ``paths:`` block sets ``key`` (block or flow style)."""
    import re

    block = re.search(r"^paths:(.*?)(?=^\S|\Z)", config_text, flags=re.M | re.S)
    return bool(block and re.search(rf"(^|[{{,\s]){key}\s*:", block.group(1), flags=re.M))


def missing_inputs(config: Mapping[str, Any], config_file: str | Path) -> list[str]:
    """Every input the config names that does not exist, each with why it is needed: the raw
    table and the schema of every table, and the report's YAML files when ``paths`` names
    them (without them the report uses its defaults)."""
    paths = config["paths"]
    problems = []
    for table in config["tables"]:
        for path, what in (
            (f"{paths['raw']}/{table}.csv", f"the raw table {table!r} (config: tables)"),
            (f"{paths['schemas']}/{table}.schema.yaml", f"the schema of the table {table!r}"),
        ):
            if not Path(path).is_file():
                problems.append(f"{path}: {what} does not exist")
    try:
        text = Path(config_file).read_text(encoding="utf-8")
    except OSError:
        text = ""
    for key in ("narrative", "report_settings"):
        if not Path(paths[key]).is_file() and _named_in_paths(text, key):
            problems.append(f"{paths[key]}: config paths.{key} names it and it does not exist")
    return problems


def stale_figures(results: str | Path, datasets: list[str]) -> dict[str, str]:
    """``{manifest: why}`` for each dataset's figure manifest that no longer describes what is
    on disk: drawn from other results than the current ones (their index's SHA-256), or a
    figure it lists is missing, or has another size or modification time than when it was
    published (``results/cache/figures/{dataset}.published.json``). The workflow reruns
    those figure jobs; Snakemake alone would not notice a deleted figure (it is not a
    declared output)."""
    root = Path(results)
    stale = {}
    for dataset in datasets:
        manifest = root / "figures" / f"{dataset}.figures.json"
        index = root / "analyses" / f"{dataset}.index.json"
        if not manifest.is_file() or not index.is_file():
            continue  # Snakemake sees a missing output itself
        try:
            listed = json.loads(manifest.read_text(encoding="utf-8"))
            current = json.loads(index.read_text(encoding="utf-8"))["results_sha256"]
            if listed.get("results_sha256") != current:
                stale[str(manifest)] = "drawn from other results"
                continue
            figures = listed["figures"]
        except (OSError, ValueError, KeyError, TypeError):
            stale[str(manifest)] = "unreadable"
            continue
        try:
            published = json.loads(
                (root / "cache" / "figures" / f"{dataset}.published.json").read_text("utf-8")
            )
        except (OSError, ValueError):
            published = {}
        for name, entry in figures.items():
            try:
                info = (root / "figures" / name).stat()
            except OSError:
                stale[str(manifest)] = f"{name} is missing"
                break
            seen = published.get(name)
            if info.st_size != entry.get("size") or (
                seen is not None and seen != [info.st_size, info.st_mtime_ns]
            ):
                stale[str(manifest)] = f"{name} changed since it was drawn"
                break
    return stale
