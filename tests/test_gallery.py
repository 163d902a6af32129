"""The gallery folders Snakemake's report shows (evsynth.stages.gallery)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import docutils.core

from evsynth.stages.gallery import Captions, gallery_stage, plain_table, rst_escape


def _review(tmp: Path) -> tuple[Path, Path, Path]:
    results = {
        "dataset": "d",
        "analyses": [
            {
                "id": "a1",
                "title": "Death",
                "studies": [
                    {"label": "=HYPERLINK(1)", "yi": 0.1, "flags": ["x"], "n_treat": 10},
                    {"label": "Two", "yi": -0.2, "n_treat": 20, "extra": "e"},
                ],
            },
            {"id": "a2", "title": "Stroke", "studies": []},
        ],
        "markers": [{"id": "m", "title": "Markers", "markers": [{"marker": "CRP", "n": 3}]}],
    }
    (tmp / "analyses").mkdir()
    (tmp / "figures").mkdir()
    (tmp / "analyses/d.json").write_text(json.dumps(results), encoding="utf-8")
    (tmp / "analyses/d_summary.csv").write_text(
        "analysis,subgroup,group,k\na1,overall,all,2\na2,overall,all,0\n", encoding="utf-8"
    )
    figures = {}
    for name, text in [
        ("a1.forest.svg", "<svg/>"),
        ("a1.forest.png", "png"),
        ("a2.funnel.svg", "s"),
    ]:
        (tmp / "figures" / name).write_text(text, encoding="utf-8")
        figures[name] = {"analysis": name.split(".")[0], "data": "x", "sha256": "y"}
    (tmp / "figures/a1.forest.alt.txt").write_text("Forest plot *of* death: RR 0.9\n", "utf-8")
    figures["a1.forest.alt.txt"] = {"analysis": "a1", "data": "x", "sha256": "y"}
    manifest = {"dataset": "d", "files": sorted(figures), "figures": figures}
    (tmp / "figures/d.figures.json").write_text(json.dumps(manifest), encoding="utf-8")
    return tmp / "analyses/d.json", tmp / "analyses/d_summary.csv", tmp / "figures/d.figures.json"


def test_each_analysis_has_its_figures_tables_and_captions(tmp_path: Path) -> None:
    results, summary, manifest = _review(tmp_path)
    out = tmp_path / "gallery/d"
    (out / "old").mkdir(parents=True)  # replaced whole
    captions = gallery_stage(results, summary, manifest, out)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [
        "a1/forest.png",
        "a1/forest.svg",
        "a1/pooled.csv",
        "a1/studies.csv",
        "a2/funnel.svg",
        "a2/pooled.csv",
        "a2/studies.csv",
        "captions.json",
        "m/markers.csv",
    ]
    assert (out / "a1/forest.svg").samefile(tmp_path / "figures/a1.forest.svg")  # a hard link
    assert captions["a1/forest.svg"] == "Forest plot *of* death: RR 0.9"
    assert captions["a2/funnel.svg"] == "a2.funnel"  # no alt text: its name
    assert captions["a1/studies.csv"].startswith("Death: each study's numbers")
    assert json.loads((out / "captions.json").read_text("utf-8")) == captions
    pooled = list(csv.reader(io.StringIO((out / "a1/pooled.csv").read_text("utf-8"))))
    assert pooled == [["analysis", "subgroup", "group", "k"], ["a1", "overall", "all", "2"]]
    studies = list(csv.reader(io.StringIO((out / "a1/studies.csv").read_text("utf-8"))))
    assert studies[0] == ["label", "n_treat", "yi", "extra"]  # known columns first; no lists
    assert studies[1][0] == "'=HYPERLINK(1)"  # a spreadsheet formula is neutralised


def test_captions_are_read_when_the_report_renders_and_escaped_for_rst(tmp_path: Path) -> None:
    results, summary, manifest = _review(tmp_path)
    out = tmp_path / "gallery/d"
    book = Captions(out)
    assert book.of("a1", "forest.svg") == rst_escape("forest.svg")  # nothing written yet
    gallery_stage(results, summary, manifest, out)
    text = book.of("a1", "forest.svg")
    html = docutils.core.publish_parts(text, writer="html")["body"]
    assert "Forest plot *of* death: RR 0.9" in html and "<em>" not in html
    assert repr(book) == f"Captions({str(out)!r})"


def test_rst_escape_makes_markup_literal() -> None:
    for text in [
        "*a* `b` _c_ |d|",
        "- item",
        "a\\b",
        "x <http://e> [1]_",
        "1. one",
        "A. first",
        "(i) x",
    ]:
        html = docutils.core.publish_parts(rst_escape(text), writer="html")["body"]
        assert html.startswith("<p>") and "<em>" not in html and "<a " not in html
        assert "<ul" not in html and "<ol" not in html


def test_plain_table_orders_known_columns_first() -> None:
    header, rows = plain_table([{"b": 1, "z": 2.5, "a": "+x", "l": [1]}, {"b": True}], ("a", "b"))
    assert header == ["a", "b", "z"]
    assert rows == [["'+x", "1", "2.5"], ["", "true", ""]]
