"""Stage 4: the report, rendered only from figures that match the results it shows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evsynth.io.safe_io import write_text_atomic
from evsynth.stages.figures import FiguresError, read_index


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
    cache: str | Path | None = None,
) -> Path:
    """Render the report from the review's results, figures, narrative and settings (written
    atomically: a failed run keeps the last good report).

    ``baseline``: the released version folder "What changed" compares with
    (:func:`evsynth.versions.baseline`), or None. ``version_info``: ``{"number", "date",
    "data_hash"}`` when the report is rendered as a released version. ``record``: where to
    write what the report embeds (:func:`report_record`). The figures are checked first
    (:func:`check_figures`)."""
    from evsynth.report import build_report, load_inputs
    from evsynth.report.fragments import open_fragments
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
    fragments = (
        open_fragments(cache, config, inputs["yaml_texts"], inputs["results_digests"])
        if cache is not None
        else None
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
        fragments=fragments,
    )
    write_text_atomic(output, html)
    if fragments is not None and cache is not None:
        fragments.finish(Path(cache) / "report.run.json")
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
