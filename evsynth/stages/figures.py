"""Stage 3: the figures of one dataset's analyses, drawn only for the analyses whose results
or setting changed, then published all at once with a manifest written last."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evsynth.errors import EvsynthError
from evsynth.io.safe_io import write_bytes_atomic, write_text_atomic
from evsynth.stages.analyse import Work, index_path_of


class FiguresError(EvsynthError):
    """A figure could not be drawn, or figures do not match the results they should show."""


def read_index(json_path: str | Path) -> dict[str, Any]:
    """The index of a results file (:func:`index_path_of`), checked against the file's bytes;
    when there is none (results written by hand or by an older evsynth), one computed from
    the file."""
    from evsynth.cache import analysis_text

    data = Path(json_path).read_bytes()
    path = index_path_of(json_path)
    digest = hashlib.sha256(data).hexdigest()
    if path.is_file():
        index: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if index.get("results_sha256") != digest:
            raise FiguresError(
                f"{path} does not describe {json_path} (the results changed after it was "
                "written); run the analyses again (make report)"
            )
        return index
    results = json.loads(data)
    entries = []
    for analysis in results["analyses"]:
        text = analysis_text(analysis).replace("\n", "\n  ").encode("utf-8")
        entries.append({"id": analysis["id"], "data": hashlib.sha256(text).hexdigest()})
    return {"dataset": results["dataset"], "results_sha256": digest, "entries": entries}


def _analysis_at(data: bytes, entry: Mapping[str, Any]) -> dict[str, Any]:
    """One analysis's results from the results file's bytes, checked against its digest."""
    if "offset" in entry:
        piece = data[entry["offset"] : entry["offset"] + entry["length"]]
        if hashlib.sha256(piece).hexdigest() == entry["data"]:
            return dict(json.loads(piece))
    for analysis in json.loads(data)["analyses"]:
        if analysis["id"] == entry["id"]:
            return dict(analysis)
    raise FiguresError(f"analysis {entry['id']!r} is not in the results")


def _draw(task: tuple[dict[str, Any], Mapping[str, Any] | None, str, str]) -> dict[str, str]:
    """Draw one analysis's figures into a staging folder and store them under ``key`` (in a
    worker); an error names the analysis."""
    from evsynth.cache import Store
    from evsynth.plots.output import write_analysis_figures

    analysis, setting, store_dir, key = task
    store = Store(store_dir)
    staged = store.staging()
    try:
        write_analysis_figures(analysis, staged, setting)  # collects matplotlib's cycles itself
        return store.put_folder(key, staged)
    except EvsynthError:
        raise
    except Exception as error:  # matplotlib, numpy, …: name the analysis, keep the message
        title = analysis.get("title") or analysis["id"]
        raise FiguresError(
            f"the figures of analysis {analysis['id']!r} ({title}) could not be drawn: "
            f"{type(error).__name__}: {error}"
        ) from error
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _publish(source: Path, target: Path) -> None:
    """Make ``target`` the file ``source`` (a hard link, or a copy across file systems),
    atomically; nothing is written when it already is."""
    try:
        if os.path.samefile(source, target):
            return
    except OSError:
        pass
    tmp = target.with_name(f".{target.name}.link.tmp")
    try:
        tmp.unlink(missing_ok=True)
        os.link(source, tmp)
    except OSError:  # another file system, or no hard links: copy
        write_bytes_atomic(target, source.read_bytes(), durable=False)
        return
    os.replace(tmp, target)


def write_figures(
    config: Mapping[str, Any] | None,
    results_path: str | Path,
    outdir: str | Path,
    manifest: str | Path,
    workers: int = 1,
    *,
    cache: str | Path | None = None,
) -> Work:
    """Draw the configured figures of one dataset's analyses (only those not in the cache),
    then publish them all into ``outdir`` and write the manifest last (module docstring)."""
    import tempfile

    from evsynth.cache import Store, figures_key
    from evsynth.parallel import map_ordered
    from evsynth.validate.config import figure_settings

    data = Path(results_path).read_bytes()
    index = read_index(results_path)
    dataset = index["dataset"]
    settings = figure_settings(config) if config is not None else None
    scratch = None
    if cache is None:  # no cache: draw everything into a folder removed at the end
        Path(outdir).mkdir(parents=True, exist_ok=True)
        scratch = tempfile.mkdtemp(dir=Path(outdir).parent, prefix=".figures-")
        cache = scratch
    store = Store(Path(cache) / "figures" / dataset)
    try:
        keys: list[str] = []
        sets: dict[str, dict[str, str]] = {}
        todo: list[tuple[dict[str, Any], Any, str, str]] = []
        for entry in index["entries"]:
            setting = settings.get(entry["id"]) if settings is not None else None
            key = figures_key(entry["data"], setting)
            keys.append(key)
            found = store.get_folder(key)
            if found is not None:
                sets[key] = found
            elif key not in {t[3] for t in todo}:
                todo.append((_analysis_at(data, entry), setting, str(store.folder), key))
        gc.freeze()
        for task, files in zip(todo, map_ordered(_draw, todo, workers), strict=True):
            sets[task[3]] = files
        record_dir = None if scratch is not None else Path(cache) / "figures"
        _publish_all(index, keys, sets, store, Path(outdir), Path(manifest), record_dir)
        drawn = {t[3] for t in todo}
        work = Work(
            dataset,
            tuple(e["id"] for e, k in zip(index["entries"], keys, strict=True) if k in drawn),
            tuple(e["id"] for e, k in zip(index["entries"], keys, strict=True) if k not in drawn),
        )
        if scratch is None:
            store.keep_only(keys)
            record = {"dataset": dataset, "drawn": list(work.computed), "reused": len(work.reused)}
            write_text_atomic(
                Path(cache) / "figures" / f"{dataset}.run.json",
                json.dumps(record, indent=1) + "\n",
                durable=False,
            )
        return work
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def published_path(cache: str | Path, dataset: str) -> Path:
    """``results/cache/figures/{dataset}.published.json``: size and modification time of each
    file the figures stage last published (the workflow's start checks them, cheaply)."""
    return Path(cache) / "figures" / f"{dataset}.published.json"


def _publish_all(
    index: Mapping[str, Any],
    keys: Sequence[str],
    sets: Mapping[str, Mapping[str, str]],
    store: Any,
    outdir: Path,
    manifest: Path,
    record_dir: Path | None,
) -> list[str]:
    """Publish every figure set into ``outdir``, remove the dataset's files no longer drawn,
    and write the manifest (prepared first, renamed into place last)."""
    dataset = index["dataset"]
    figures: dict[str, dict[str, Any]] = {}
    for entry, key in zip(index["entries"], keys, strict=True):
        for name, sha in sets[key].items():
            figures[name] = {
                "analysis": entry["id"],
                "data": entry["data"],
                "sha256": sha,
                "size": (store.path(key) / name).stat().st_size,
            }
    text = json.dumps(
        {
            "dataset": dataset,
            "files": sorted(figures),
            "results_sha256": index["results_sha256"],
            "figures": {name: figures[name] for name in sorted(figures)},
        },
        indent=1,
        ensure_ascii=False,
    )
    outdir.mkdir(parents=True, exist_ok=True)
    pending = manifest.with_name(f".{manifest.name}.pending.tmp")
    write_text_atomic(pending, text + "\n", durable=False)  # its space is taken before
    record = record_dir / f"{dataset}.published.json" if record_dir is not None else None
    try:
        before = json.loads(record.read_text(encoding="utf-8")) if record else {}
    except (OSError, ValueError):
        before = {}
    for key in keys:
        for name in sets[key]:
            _publish(store.path(key) / name, outdir / name)
    for name in sorted(set(before) - set(figures)):
        (outdir / name).unlink(missing_ok=True)
    if record is not None:
        stats = {name: _stat(outdir / name) for name in sorted(figures)}
        write_text_atomic(record, json.dumps(stats) + "\n", durable=False)
    os.replace(pending, manifest)
    return sorted(figures)


def _stat(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns]


def figures_stage(
    config: Mapping[str, Any] | None,
    results_path: str | Path,
    outdir: str | Path,
    manifest: str | Path | None,
    workers: int = 1,
    *,
    cache: str | Path | None = None,
) -> list[str]:
    """Draw the configured figures of one dataset's analyses into ``outdir`` and write the
    manifest (:func:`write_figures`); the names of the files."""
    target = Path(manifest) if manifest else Path(outdir) / ".figures.json"
    write_figures(config, results_path, outdir, target, workers, cache=cache)
    files: list[str] = json.loads(target.read_text(encoding="utf-8"))["files"]
    if not manifest:
        target.unlink()
    return files
