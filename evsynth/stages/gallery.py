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

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from evsynth.io.safe_io import read_processed, write_bytes_atomic, write_csv, write_text_atomic

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


def plain_table(records: list[Mapping[str, Any]], first: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per record: the columns of ``first`` it has, then its other plain (not list
    or mapping) values in name order."""
    rows = [{k: v for k, v in r.items() if not isinstance(v, (list, dict))} for r in records]
    present = {k for row in rows for k in row}
    columns = [c for c in first if c in present]
    columns += sorted(present - set(columns))
    return pd.DataFrame(rows, columns=columns)


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
    whole); the captions, ``{"analysis/file": caption}``."""
    results = json.loads(Path(results_path).read_text(encoding="utf-8"))
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    summary = read_processed(summary_path)
    figures_dir = Path(manifest_path).parent
    figure_captions = _figure_captions(figures_dir, manifest)
    target = Path(outdir)
    shutil.rmtree(target, ignore_errors=True)
    captions: dict[str, str] = {}
    for analysis in results["analyses"]:
        aid, title = analysis["id"], analysis.get("title") or analysis["id"]
        folder = target / aid
        folder.mkdir(parents=True)
        write_csv(summary[summary["analysis"] == aid], folder / "pooled.csv", durable=False)
        captions[f"{aid}/pooled.csv"] = (
            f"{title}: the pooled estimate overall and in each subgroup (studies, "
            "participants, estimate and confidence interval, p value, tau², I² and prediction "
            "interval)."
        )
        write_csv(
            plain_table(analysis.get("studies") or [], STUDY_COLUMNS),
            folder / "studies.csv",
            durable=False,
        )
        captions[f"{aid}/studies.csv"] = (
            f"{title}: each study's numbers, effect and confidence interval, weight, risk of "
            "bias and source."
        )
        prefix = f"{aid}."
        for name, caption in figure_captions.items():
            if manifest["figures"][name]["analysis"] == aid and name.startswith(prefix):
                _link(figures_dir / name, folder / name.removeprefix(prefix))
                captions[f"{aid}/{name.removeprefix(prefix)}"] = caption
    for markers in results.get("markers") or []:
        folder = target / markers["id"]
        folder.mkdir(parents=True)
        write_csv(plain_table(markers["markers"], ("marker",)), folder / "markers.csv")
        captions[f"{markers['id']}/markers.csv"] = (
            f"{markers.get('title') or markers['id']}: each marker's reported values, "
            "whether it is shown, and its source."
        )
    text = json.dumps(captions, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    write_text_atomic(target / CAPTIONS, text, durable=False)
    return captions


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
