"""The stages of the pipeline as functions of a review folder's files.

The Snakemake rules call them through the thin ``scripts/*.py`` (one job per table, dataset,
report or release); ``evsynth run`` calls them in order without Snakemake (an installed
evsynth, with no workflow folder, renders a report the same way). Each stage reads only what
the previous ones wrote: raw → processed → analyses → figures → report → versions.

Living reviews change a trial at a time, so inside a dataset's job the unit of work is the
analysis: with a cache folder (``results/cache``, :mod:`evsynth.cache`) the analyse stage
recomputes only the analyses whose rows, settings or library changed and the figures stage
redraws only the figure sets whose analysis or setting changed; the outputs are the same
bytes as a clean run's.

Outputs are all-or-nothing per stage:

* every file is replaced atomically (:mod:`evsynth.io.safe_io`);
* the figures stage draws every figure that changed before it touches ``results/figures``; a
  drawing that fails (or a full disk) leaves the figures there as they were. It then publishes
  them by hard links and renames and writes its manifest last, recording for every file its
  SHA-256 and the data version (the SHA-256 of its analysis's results) it was drawn from;
* the report stage refuses figures whose manifest does not match the results it reads or
  whose bytes are not those the manifest records (:func:`check_figures`), and records what
  it embeds (``results/report.json``).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evsynth.errors import EvsynthError
from evsynth.io.safe_io import read_processed, write_bytes_atomic, write_csv, write_text_atomic


class FiguresError(EvsynthError):
    """A figure could not be drawn, or figures do not match the results they should show."""


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


# --- analyse ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Work:
    """What a dataset's analyse or figures job computed and what it took from the cache."""

    dataset: str
    computed: tuple[str, ...]
    reused: tuple[str, ...]

    def describe(self, verb: str = "computed") -> str:
        """One line for the job's log, naming what was computed (the first 20)."""
        names = ", ".join(self.computed[:20]) + (" …" if len(self.computed) > 20 else "")
        total = len(self.computed) + len(self.reused)
        return (
            f"{self.dataset}: {total} analyses, {len(self.computed)} {verb}"
            + (f" ({names})" if names else "")
            + f", {len(self.reused)} reused from the cache"
        )


def index_path_of(json_path: str | Path) -> Path:
    """``results/analyses/{dataset}.index.json`` beside ``{dataset}.json``: the SHA-256 of the
    results file and, for each analysis, where its results lie in it and their SHA-256."""
    path = Path(json_path)
    return path.with_name(f"{path.stem}.index.json")


def _summary_part(analysis: Mapping[str, Any]) -> dict[str, Any]:
    """What :func:`evsynth.analysis.run.summary_table` reads of an analysis."""
    return {
        "id": analysis["id"],
        "overall": analysis["overall"],
        "subgroups": {
            column: {"groups": sub["groups"]}
            for column, sub in (analysis.get("subgroups") or {}).items()
        },
    }


def _compute(task: tuple[Any, dict[str, Any]]) -> bytes:
    """One analysis (in a worker): its summary part (one JSON line) and its results text."""
    from evsynth.analysis.model import jsonable
    from evsynth.analysis.run import run_analysis
    from evsynth.cache import analysis_text

    rows, spec = task
    result = jsonable(run_analysis(rows, spec))
    # in the analysis's own order of subgroups (the summary CSV lists them so)
    summary = json.dumps(_summary_part(result), allow_nan=False)
    return (summary + "\n" + analysis_text(result)).encode("utf-8")


def write_analyses(
    config: Mapping[str, Any],
    dataset: str,
    table: str | Path,
    json_path: str | Path,
    summary_path: str | Path,
    workers: int = 1,
    *,
    cache: str | Path | None = None,
) -> Work:
    """Run every analysis of ``dataset`` and write its results JSON, its index
    (:func:`index_path_of`) and its summary CSV; with ``cache`` (a folder), reuse the results
    of each analysis whose input key is stored there (:mod:`evsynth.cache`).

    Each analysis reads only the rows its filter passes, so it is given only those rows."""
    from evsynth.analysis.model import jsonable
    from evsynth.analysis.run import analysis_specs, run_markers, summary_table
    from evsynth.cache import RowIndex, Store, analysis_key, assemble, table_lines
    from evsynth.parallel import map_ordered

    frame = read_processed(table)
    gc.freeze()  # what was read lives to the end: keep the garbage collector off it
    rows = RowIndex(frame, table_lines(table))
    store = Store(Path(cache) / "analyses" / dataset) if cache is not None else None
    specs = analysis_specs(config, dataset)
    keys: list[str] = []
    payloads: dict[str, bytes] = {}
    todo: list[tuple[str, tuple[Any, dict[str, Any]]]] = []
    for spec in specs:
        positions = rows.positions(spec.get("where") or {})
        key = analysis_key(spec, rows, positions)
        keys.append(key)
        stored = store.get(key) if store is not None else None
        if stored is not None:
            payloads[key] = stored
        elif key not in payloads and key not in {k for k, _ in todo}:
            todo.append((key, (frame.iloc[positions], spec)))
    for (key, _), payload in zip(
        todo, map_ordered(_compute, [task for _, task in todo], workers), strict=True
    ):
        payloads[key] = payload
        if store is not None:
            store.put(key, payload)
    summaries, texts = [], []
    for key in keys:
        summary, _, text = payloads[key].partition(b"\n")
        summaries.append(json.loads(summary))
        texts.append(text.decode("utf-8"))
    markers = [
        jsonable(run_markers(frame, {**spec, "id": name}))
        for name, spec in sorted(config.get("markers", {}).items())
        if spec["dataset"] == dataset
    ]
    built = assemble(dataset, texts, markers)
    # regenerated by the workflow when lost: atomic, not flushed to disk (see safe_io)
    write_bytes_atomic(json_path, built.data, durable=False)
    _write_index(json_path, dataset, specs, built.data, built.spans)
    write_csv(summary_table({"analyses": summaries}), summary_path, durable=False)
    computed = {k for k, _ in todo}
    work = Work(
        dataset,
        tuple(s["id"] for s, k in zip(specs, keys, strict=True) if k in computed),
        tuple(s["id"] for s, k in zip(specs, keys, strict=True) if k not in computed),
    )
    if store is not None and cache is not None:
        store.keep_only(keys)
        _write_record(Path(cache) / "analyses" / f"{dataset}.run.json", work, keys, specs)
    return work


def _write_index(
    json_path: str | Path,
    dataset: str,
    specs: Sequence[Mapping[str, Any]],
    data: bytes,
    spans: Sequence[tuple[int, int]],
) -> None:
    entries = [
        {
            "id": spec["id"],
            "offset": offset,
            "length": length,
            "data": hashlib.sha256(data[offset : offset + length]).hexdigest(),
        }
        for spec, (offset, length) in zip(specs, spans, strict=True)
    ]
    index = {
        "dataset": dataset,
        "results_sha256": hashlib.sha256(data).hexdigest(),
        "entries": entries,
    }
    text = json.dumps(index, indent=1, ensure_ascii=False) + "\n"
    write_text_atomic(index_path_of(json_path), text, durable=False)


def _write_record(
    path: Path, work: Work, keys: Sequence[str], specs: Sequence[Mapping[str, Any]]
) -> None:
    """What the last run computed (the cache's record, read by tests and the benchmark)."""
    record = {
        "dataset": work.dataset,
        "computed": list(work.computed),
        "reused": len(work.reused),
        "keys": {spec["id"]: key for spec, key in zip(specs, keys, strict=True)},
    }
    write_text_atomic(path, json.dumps(record, indent=1) + "\n", durable=False)


def analyse_stage(
    config: Mapping[str, Any],
    dataset: str,
    table: str | Path,
    json_path: str | Path,
    summary_path: str | Path,
    workers: int = 1,
    *,
    cache: str | Path | None = None,
) -> dict[str, Any]:
    """Run every analysis of ``dataset``; write its results JSON, index and summary CSV
    (:func:`write_analyses`); the results."""
    write_analyses(config, dataset, table, json_path, summary_path, workers, cache=cache)
    results: dict[str, Any] = json.loads(Path(json_path).read_text(encoding="utf-8"))
    return results


# --- figures ----------------------------------------------------------------------------------


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


# --- report -----------------------------------------------------------------------------------


def check_figures(results_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Every figure the manifests in ``results/figures`` list, checked: the manifest was drawn
    from the results file now in ``results/analyses`` (its SHA-256), each figure from its
    analysis's results as they are now (data version), and each file holds the bytes the
    manifest records. Returns ``{file name: {"analysis", "data", "sha256"}}``; raises
    :class:`FiguresError` naming every mismatch (the report must not embed them)."""
    root = Path(results_dir)
    problems: list[str] = []
    checked: dict[str, dict[str, Any]] = {}
    for path in sorted((root / "figures").glob("*.figures.json")):
        manifest = json.loads(path.read_text(encoding="utf-8"))
        results = root / "analyses" / f"{manifest.get('dataset')}.json"
        if "figures" not in manifest or not results.is_file():
            problems.append(f"{path}: not a manifest of the results in {root / 'analyses'}")
            continue
        try:
            index = read_index(results)
        except FiguresError as error:
            problems.append(str(error))
            continue
        if manifest["results_sha256"] != index["results_sha256"]:
            problems.append(f"{path}: drawn from other results than {results}")
            continue
        now = {e["id"]: e["data"] for e in index["entries"]}
        for name, figure in manifest["figures"].items():
            file = root / "figures" / name
            if now.get(figure["analysis"]) != figure["data"]:
                problems.append(
                    f"{file}: drawn from other data than analysis {figure['analysis']!r}"
                )
            elif not file.is_file():
                problems.append(f"{file}: missing")
            elif hashlib.sha256(file.read_bytes()).hexdigest() != figure["sha256"]:
                problems.append(f"{file}: not the file its manifest lists (changed since drawn)")
            else:
                checked[name] = {k: figure[k] for k in ("analysis", "data", "sha256")}
    if problems:
        raise FiguresError(
            "the report would embed figures that do not match its results:\n  "
            + "\n  ".join(problems[:20])
            + ("\n  …" if len(problems) > 20 else "")
            + "\nrun `make report` again: it draws them anew"
        )
    return checked


def report_stage(
    config: Mapping[str, Any],
    output: str | Path,
    *,
    record: str | Path | None = None,
    baseline: str | Path | None = None,
    version_info: Mapping[str, Any] | None = None,
) -> Path:
    """Render the report from the review's results, figures, narrative and settings (written
    atomically: a failed run keeps the last good report).

    ``baseline``: the released version folder "What changed" compares with
    (:func:`evsynth.versions.baseline`), or None. ``version_info``: ``{"number", "date",
    "data_hash"}`` when the report is rendered as a released version. ``record``: where to
    write what the report embeds (:func:`report_record`). The figures are checked first
    (:func:`check_figures`)."""
    from evsynth.report import build_report, load_inputs
    from evsynth.versions import read_version

    paths = config["paths"]
    results = paths["results"]
    figures = check_figures(results)
    previous_dir = Path(baseline) / "analyses" if baseline is not None else None
    previous_version = read_version(baseline) if baseline is not None else None
    inputs = load_inputs(
        results,
        config,
        paths["narrative"],
        paths["report_settings"],
        previous_dir,
        previous_version=previous_version,
        version_info=dict(version_info) if version_info is not None else None,
    )
    html = build_report(
        inputs["results"],
        inputs["figures"],
        inputs["previous"],
        inputs["narrative"],
        inputs["settings"],
        inputs["config"],
        version=inputs["version"],
        previous_version=inputs["previous_version"],
        version_info=inputs["version_info"],
    )
    write_text_atomic(output, html)
    if record is not None:
        text = report_record(results, html, inputs["version"], figures, previous_version)
        write_text_atomic(record, text)
    return Path(output)


def report_record(
    results_dir: str | Path,
    html: str,
    version: str,
    figures: Mapping[str, Mapping[str, Any]],
    previous_version: Mapping[str, Any] | None,
) -> str:
    """``results/report.json``: the report's SHA-256 and input version, the results it was
    rendered from (SHA-256 of each dataset's results file), the version it compares with, and
    every figure available to it with the data version it was drawn from."""
    root = Path(results_dir) / "analyses"
    datasets = {
        p.name.removesuffix(".index.json"): json.loads(p.read_text(encoding="utf-8"))[
            "results_sha256"
        ]
        for p in sorted(root.glob("*.index.json"))
    }
    record = {
        "report_sha256": hashlib.sha256(html.encode("utf-8")).hexdigest(),
        "version": version,
        "results": datasets,
        "compared_with": dict(previous_version) if previous_version else None,
        "figures": {name: dict(figures[name]) for name in sorted(figures)},
    }
    return json.dumps(record, indent=1, ensure_ascii=False) + "\n"


# --- release ----------------------------------------------------------------------------------


def release_stage(
    config: Mapping[str, Any],
    number: int,
    folder: str | Path,
    *,
    baseline: str | Path | None = None,
) -> dict[str, Any]:
    """Stamp the current results as version ``number`` in ``folder`` (``results/versions/N``;
    :mod:`evsynth.versions`): the report rendered as that version, what it embeds, the
    results, and ``version.json`` last. Returns the version's ``{"number", "date",
    "data_hash"}``."""
    from evsynth.versions import VERSION_FILE, data_hash, release_date

    target = Path(folder)
    info = {"number": int(number), "date": release_date(), "data_hash": data_hash(config)}
    report_stage(
        config,
        target / "report.html",
        record=target / "report.json",
        baseline=baseline,
        version_info=info,
    )
    analyses = Path(config["paths"]["results"]) / "analyses"
    for dataset in datasets(config):
        for name in (f"{dataset}.json", f"{dataset}_summary.csv"):
            write_bytes_atomic(target / "analyses" / name, (analyses / name).read_bytes())
    files = {
        str(p.relative_to(target)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(target.rglob("*"))
        if p.is_file() and p.name != VERSION_FILE
    }
    text = json.dumps({**info, "files": files}, indent=1, ensure_ascii=False) + "\n"
    write_text_atomic(target / VERSION_FILE, text)
    return info


# --- every stage, without Snakemake -----------------------------------------------------------


def datasets(config: Mapping[str, Any]) -> list[str]:
    """The tables the analyses and marker sets read."""
    return sorted(
        {s["dataset"] for s in config["analyses"].values()}
        | {s["dataset"] for s in config["markers"].values()}
    )


def run_all(config: Mapping[str, Any], workers: int = 1) -> Path:
    """Every stage in order for a review (``evsynth run``): the report's path. It compares
    with the last released version and uses the review's cache (``results/cache``)."""
    from evsynth.versions import baseline

    results = Path(config["paths"]["results"])
    processed = Path(config["paths"]["processed"])
    cache = results / "cache"
    validate_stage(config)
    for dataset in datasets(config):
        analysis = results / "analyses" / f"{dataset}.json"
        write_analyses(
            config,
            dataset,
            processed / f"{dataset}.csv",
            analysis,
            results / "analyses" / f"{dataset}_summary.csv",
            workers,
            cache=cache,
        )
        write_figures(
            config,
            analysis,
            results / "figures",
            results / "figures" / f"{dataset}.figures.json",
            workers,
            cache=cache,
        )
    return report_stage(
        config,
        results / "report.html",
        record=results / "report.json",
        baseline=baseline(results),
    )
