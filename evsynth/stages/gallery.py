"""The figures and tables of each analysis for Snakemake's own report (``snakemake --report``).

``results/report.html`` is the evidence summary a reader opens; Snakemake's report archive is
where a reviewer or an auditor browses every output with its provenance. For it, each
dataset gets a gallery folder, ``results/gallery/{dataset}/{analysis}/``, holding:

* every figure of the analysis the figures stage published (SVG and PNG; hard links, so the
  gallery takes no space), named without the analysis's prefix (``forest.svg``);
* ``pooled.csv``: the pooled estimate overall and in each subgroup (the analysis's rows of
  the summary CSV);
* ``studies.csv``: each study's numbers, effect, interval, weight, risk of bias and source;

and, for a marker set, ``{markers}/markers.csv`` (each marker's reported values and source);

and ``captions.json`` (``{"analysis/file": caption}``): a figure's caption is its alt text,
a table's says what it lists. The workflow marks the folder for the report with one category
per analysis (:class:`Captions` feeds the captions to the report's caption template).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evsynth.io.safe_io import format_cell, parse_json, write_bytes_atomic, write_text_atomic

#: The columns of ``studies.csv`` first, in this order, when the analysis has them; the
#: study's other plain values follow in name order.
STUDY_COLUMNS = (
    "label",
    "comparison",
    "events_treat",
    "n_treat",
    "events_control",
    "n_control",
    "yi",
    "vi",
    "yi_exp",
    "ci_low",
    "ci_high",
    "ci_low_exp",
    "ci_high_exp",
    "weight_pct",
    "rob_overall",
    "doi_or_pmid",
    "source_url",
)
#: Figure files the gallery shows (the alt text becomes the caption).
SHOWN = (".svg", ".png")
CAPTIONS = "captions.json"


def plain_table(
    records: list[Mapping[str, Any]], first: tuple[str, ...] = ()
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the CSV of ``records``: the columns of ``first`` they have, then
    their other plain (not list or mapping) values in name order; cells as every CSV of the
    pipeline writes them (:func:`evsynth.io.safe_io.format_cell`: formulas neutralised)."""
    rows = [{k: v for k, v in r.items() if not isinstance(v, (list, dict))} for r in records]
    present = {k for row in rows for k in row}
    columns = [c for c in first if c in present]
    columns += sorted(present - set(columns))
    return columns, [[format_cell(row.get(c)) for c in columns] for row in rows]


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _summary_by_analysis(path: str | Path) -> tuple[list[str], dict[str, list[list[str]]]]:
    """The summary CSV's header and its records grouped by analysis (its first column)."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        grouped: dict[str, list[list[str]]] = defaultdict(list)
        for record in reader:
            grouped[record[0]].append(record)
    return header, grouped


def _figure_captions(figures_dir: Path, manifest: Mapping[str, Any]) -> dict[str, str]:
    """``{figure file: caption}`` for the shown figures of a manifest: each one's alt text."""
    out = {}
    for name in manifest["files"]:
        stem, suffix = os.path.splitext(name)
        if suffix in SHOWN:
            alt = figures_dir / f"{stem}.alt.txt"
            out[name] = alt.read_text(encoding="utf-8").strip() if alt.is_file() else stem
    return out


def _link(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (a copy across file systems)."""
    try:
        os.link(source, target)
    except OSError:
        write_bytes_atomic(target, source.read_bytes(), durable=False)


def gallery_stage(
    results_path: str | Path,
    summary_path: str | Path,
    manifest_path: str | Path,
    outdir: str | Path,
) -> dict[str, str]:
    """Write the gallery folder of one dataset (module docstring) into ``outdir`` (replaced
    whole); the captions, ``{"analysis/file": caption}``. Linear in the analyses and files."""
    results = parse_json(Path(results_path).read_text(encoding="utf-8"))
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    header, summary = _summary_by_analysis(summary_path)
    figures_dir = Path(manifest_path).parent
    figures: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name, caption in _figure_captions(figures_dir, manifest).items():
        figures[manifest["figures"][name]["analysis"]].append((name, caption))
    target = Path(outdir)
    shutil.rmtree(target, ignore_errors=True)
    captions: dict[str, str] = {}
    for analysis in results["analyses"]:
        aid, title = analysis["id"], analysis.get("title") or analysis["id"]
        folder = target / aid
        folder.mkdir(parents=True)
        _write(folder / "pooled.csv", _csv(header, summary.get(aid, [])))
        captions[f"{aid}/pooled.csv"] = (
            f"{title}: the pooled estimate overall and in each subgroup (studies, "
            "participants, estimate and confidence interval, p value, tau², I² and prediction "
            "interval)."
        )
        studies = plain_table(analysis.get("studies") or [], STUDY_COLUMNS)
        _write(folder / "studies.csv", _csv(*studies))
        captions[f"{aid}/studies.csv"] = (
            f"{title}: each study's numbers, effect and confidence interval, weight, risk of "
            "bias and source."
        )
        for name, caption in figures.get(aid, []):
            short = name.removeprefix(f"{aid}.")
            _link(figures_dir / name, folder / short)
            captions[f"{aid}/{short}"] = caption
    for markers in results.get("markers") or []:
        folder = target / markers["id"]
        folder.mkdir(parents=True)
        _write(folder / "markers.csv", _csv(*plain_table(markers["markers"], ("marker",))))
        captions[f"{markers['id']}/markers.csv"] = (
            f"{markers.get('title') or markers['id']}: each marker's reported values, "
            "whether it is shown, and its source."
        )
    text = json.dumps(captions, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    write_text_atomic(target / CAPTIONS, text, durable=False)
    return captions


def _write(path: Path, text: str) -> None:
    """A new file in the fresh gallery folder (the folder is the job's output: Snakemake
    marks it incomplete until the job ends, so a plain write is enough)."""
    path.write_text(text, encoding="utf-8", newline="")


class Captions:
    """The captions of a gallery folder, read when Snakemake renders its report.

    Given to the caption template as a rule parameter (an object, not a function, so
    Snakemake keeps it as it is): ``{{ snakemake.params.captions.of(analysis, file) }}``.
    Escaped for reStructuredText, the captions' markup."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:  # Snakemake records parameters by their text
        return f"Captions({str(self.folder)!r})"

    def of(self, analysis: str, file: str) -> str:
        """The caption of ``file`` of ``analysis``, escaped for reStructuredText."""
        try:
            captions = json.loads((self.folder / CAPTIONS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            captions = {}
        text = str(captions.get(f"{analysis}/{file}", file))
        return rst_escape(" ".join(text.split()))


def rst_escape(text: str) -> str:
    """``text`` as literal reStructuredText: every markup character escaped, and the first
    character too (``1.``, ``A.`` or ``(i)`` would start a list)."""
    return "".join(
        f"\\{c}" if c in "\\*`_|[]<>:#=-+~^" or (i == 0 and not c.isspace()) else c
        for i, c in enumerate(text)
    )
