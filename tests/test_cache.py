"""The per-analysis caches (evsynth.cache) and the stages that use them (evsynth.stages):
reused results are the bytes a full computation gives, a changed row or setting recomputes
only its analysis, a damaged entry is a miss, and the report refuses figures of other data."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from review_runs import REVIEWS, ROOT, copy_review, inside

from evsynth.analysis.run import run_dataset, summary_table
from evsynth.analysis.select import matches, records
from evsynth.cache import RowIndex, Store, analysis_text, assemble, table_lines
from evsynth.io.safe_io import csv_text, read_processed, write_csv
from evsynth.runner import incomplete_outputs, stray_temporaries
from evsynth.stages import (
    FiguresError,
    check_figures,
    datasets,
    validate_stage,
    write_analyses,
    write_figures,
)
from evsynth.validate.config import load_config
from evsynth.workflow import load_config_cached

# --- the dataset's results JSON from the analyses' texts ---------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    analyses=st.lists(st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=4), max_size=4),
    markers=st.lists(JSON_VALUES, max_size=3),
    dataset=st.text(max_size=6),
)
def test_assembled_json_is_the_bytes_of_json_dumps(
    analyses: list[dict[str, Any]], markers: list[Any], dataset: str
) -> None:
    built = assemble(dataset, [analysis_text(a) for a in analyses], markers)
    whole = {"analyses": analyses, "dataset": dataset, "markers": markers}
    expected = json.dumps(whole, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
    assert built.data == (expected + "\n").encode("utf-8")
    for analysis, (offset, length) in zip(analyses, built.spans, strict=True):
        assert json.loads(built.data[offset : offset + length]) == analysis


# --- which rows an analysis reads --------------------------------------------------------------

CELLS = st.sampled_from(["a", "b", "1", "800", "800.0", "true", "false", "", "x y"])


@settings(max_examples=100, deadline=None)
@given(
    columns=st.lists(st.lists(CELLS, min_size=6, max_size=6), min_size=2, max_size=2),
    wanted=st.lists(
        st.one_of(
            st.sampled_from(["a", "b", 1, 800, 800.0, True, False, "x y", None]),
            st.lists(st.sampled_from(["a", 1, 800, True, "b"]), max_size=2),
        ),
        min_size=1,
        max_size=2,
    ),
)
def test_row_index_passes_the_rows_the_where_filter_passes(
    columns: list[list[str]], wanted: list[Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Typed as the processed table is (booleans, integers, floats, text, blanks)."""
    path = tmp_path_factory.mktemp("rows") / "t.csv"
    frame = pd.DataFrame(
        {"c0": columns[0], "c1": columns[1], "row_id": [f"r{i}" for i in range(6)]}
    )
    write_csv(frame.astype(object).where(frame != "", None), path)
    typed = read_processed(path)
    index = RowIndex(typed, table_lines(path))
    where = {f"c{i}": w for i, w in enumerate(wanted)}
    expected = [i for i, r in enumerate(records(typed)) if matches(r, where)]
    assert index.positions(where) == expected
    assert index.positions({"absent": None}) == list(range(6))


# --- analyses reused byte for byte --------------------------------------------------------------


def _review(name: str, tmp_path: Path) -> Path:
    source = ROOT if name == "shipped" else REVIEWS / name
    return copy_review(source, tmp_path / name)


@pytest.mark.parametrize("name", ["shipped", "bcg", "normand1999", "hackshaw1998"])
def test_cached_analyses_are_the_bytes_of_a_full_computation(name: str, tmp_path: Path) -> None:
    folder = _review(name, tmp_path)
    with inside(folder):
        config = load_config("config/config.yaml", project_dir=".")
        validate_stage(config)
        for dataset in datasets(config):
            table = f"data/processed/{dataset}.csv"
            rows = read_processed(table)
            whole = run_dataset(dataset, rows, config)  # every analysis on the whole table
            text = json.dumps(whole, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
            expected = (text + "\n").encode("utf-8"), csv_text(summary_table(whole)).encode()
            for attempt in ("computed", "reused"):
                work = write_analyses(config, dataset, table, "out.json", "out.csv", cache="cache")
                got = Path("out.json").read_bytes(), Path("out.csv").read_bytes()
                assert got == expected, (dataset, attempt)
                computed = [a["id"] for a in whole["analyses"]] if attempt == "computed" else []
                assert list(work.computed) == computed


def test_a_changed_row_or_setting_recomputes_only_its_analysis(tmp_path: Path) -> None:
    folder = _review("shipped", tmp_path)
    with inside(folder):
        config = load_config("config/config.yaml", project_dir=".")
        validate_stage(config)
        table = "data/processed/fractures.csv"
        args = ("fractures", table, "out.json", "out.csv")
        write_analyses(config, *args, cache="cache")
        frame = pd.read_csv(table, dtype=str, keep_default_na=False)
        hip = frame.index[(frame["outcome"] == "hip") & (frame["events_control"] != "")][0]
        frame.loc[hip, "events_control"] = str(int(frame.loc[hip, "events_control"]) + 1)
        frame.to_csv(table, index=False, lineterminator="\n")
        assert write_analyses(config, *args, cache="cache").computed == ("fractures-hip",)
        edited = json.loads(json.dumps(config))
        edited["analyses"]["fractures-total"]["level"] = 0.9
        assert write_analyses(edited, *args, cache="cache").computed == ("fractures-total",)
        edited["review"]["intervention"] = "the intervention"  # words every analysis uses
        assert len(write_analyses(edited, *args, cache="cache").computed) == len(
            [a for a in config["analyses"].values() if a["dataset"] == "fractures"]
        )


# --- the stores --------------------------------------------------------------------------------


def test_a_damaged_blob_entry_is_a_miss(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.put("k1", b'{"a": 1}\n')
    assert store.get("k1") == b'{"a": 1}\n'
    path = store.path("k1")
    path.write_bytes(path.read_bytes()[:-3])  # truncated
    assert store.get("k1") is None
    store.put("k2", b"x")
    shutil.copy(store.path("k2"), store.path("k3"))  # an entry under another name
    assert store.get("k3") is None
    assert store.get("absent") is None
    assert store.keep_only(["k2"]) == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["k2"]


def test_a_folder_entry_edited_in_place_is_a_miss(tmp_path: Path) -> None:
    store = Store(tmp_path)
    staged = store.staging()
    (staged / "a.svg").write_text("<svg/>", encoding="utf-8")
    files = store.put_folder("key", staged)
    assert files == {"a.svg": hashlib.sha256(b"<svg/>").hexdigest()}
    assert store.get_folder("key") == files
    (store.path("key") / "a.svg").write_text("<svg id='x'/>", encoding="utf-8")
    assert store.get_folder("key") is None
    assert store.get_folder("absent") is None


# --- figures: drawn once, checked by the report ------------------------------------------------


@pytest.fixture()
def drawn(tmp_path: Path) -> Path:
    folder = _review("bcg", tmp_path)
    with inside(folder):
        config = load_config("config/config.yaml", project_dir=".")
        validate_stage(config)
        write_analyses(
            config,
            "trials",
            "data/processed/trials.csv",
            "results/analyses/trials.json",
            "results/analyses/trials_summary.csv",
            cache="results/cache",
        )
        work = write_figures(
            config,
            "results/analyses/trials.json",
            "results/figures",
            "results/figures/trials.figures.json",
            cache="results/cache",
        )
        ids = tuple(
            sorted(a for a, spec in config["analyses"].items() if spec["dataset"] == "trials")
        )
        assert "tb" in ids and work.computed == ids
        again = write_figures(
            config,
            "results/analyses/trials.json",
            "results/figures",
            "results/figures/trials.figures.json",
            cache="results/cache",
        )
        assert again.computed == () and again.reused == ids
    return folder


def test_the_manifest_records_each_figures_bytes_and_data_version(drawn: Path) -> None:
    results = drawn / "results"
    manifest = json.loads((results / "figures/trials.figures.json").read_text("utf-8"))
    index = json.loads((results / "analyses/trials.index.json").read_text("utf-8"))
    data = (results / "analyses/trials.json").read_bytes()
    assert manifest["results_sha256"] == index["results_sha256"] == hashlib.sha256(data).hexdigest()
    entry = next(e for e in index["entries"] if e["id"] == "tb")
    piece = data[entry["offset"] : entry["offset"] + entry["length"]]
    assert json.loads(piece)["id"] == "tb" and hashlib.sha256(piece).hexdigest() == entry["data"]
    assert manifest["files"] == sorted(manifest["figures"])
    tb = {n: f for n, f in manifest["figures"].items() if f["analysis"] == "tb"}
    assert "tb.forest.svg" in tb
    for name, figure in tb.items():
        content = (results / "figures" / name).read_bytes()
        assert figure == {
            "analysis": "tb",
            "data": entry["data"],
            "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content),
        }
    assert set(check_figures(results)) == set(manifest["files"])


def test_the_report_refuses_a_figure_of_other_bytes_or_other_results(drawn: Path) -> None:
    results = drawn / "results"
    manifest = json.loads((results / "figures/trials.figures.json").read_text("utf-8"))
    figure = results / "figures" / manifest["files"][0]
    original = figure.read_bytes()
    figure.write_bytes(original + b" ")
    with pytest.raises(FiguresError, match="not the file its manifest lists"):
        check_figures(results)
    figure.write_bytes(original)
    check_figures(results)
    json_path = results / "analyses/trials.json"
    json_path.write_bytes(json_path.read_bytes().replace(b'"tb"', b'"tb" ', 1))
    with pytest.raises(FiguresError, match="does not describe"):
        check_figures(results)


def test_figures_of_an_analysis_no_longer_drawn_are_removed(drawn: Path) -> None:
    with inside(drawn):
        config = load_config("config/config.yaml", project_dir=".")
        config["analyses"]["tb"]["figures"] = {"kinds": ["forest"], "formats": ["svg"]}
        before = set(p.name for p in Path("results/figures").iterdir())
        write_figures(
            config,
            "results/analyses/trials.json",
            "results/figures",
            "results/figures/trials.figures.json",
            cache="results/cache",
        )
        after = set(p.name for p in Path("results/figures").iterdir())
    tb_before = {n for n in before if n.startswith("tb.")}
    assert {n for n in after if n.startswith("tb.")} == {"tb.forest.svg", "tb.forest.alt.txt"}
    assert len(tb_before) > 2 and after == before - tb_before | {
        "tb.forest.svg",
        "tb.forest.alt.txt",
    }


# --- the validated config, remembered ----------------------------------------------------------


def test_the_remembered_config_is_validated_again_when_an_input_changes(tmp_path: Path) -> None:
    folder = _review("bcg", tmp_path)
    with inside(folder):
        first = load_config_cached()
        assert first == load_config("config/config.yaml", project_dir=".")
        kept = list(Path(".snakemake/evsynth/config").glob("*.json"))
        assert len(kept) == 1
        assert load_config_cached() == first
        schema = Path("schemas/trials.schema.yaml")
        schema.write_text(schema.read_text(encoding="utf-8").replace("  ablat:", "  latitude:"))
        with pytest.raises(Exception, match="ablat"):
            load_config_cached()  # the moderator's column is gone: validated again


# --- recovery's view of an interrupted run ------------------------------------------------------


def test_incomplete_markers_and_partial_files_are_found(tmp_path: Path) -> None:
    markers = tmp_path / ".snakemake/incomplete"
    long_name = "results/" + "/".join(["d" * 60] * 4) + "/f.json"  # split by Snakemake
    for name in ("results/analyses/a.json", long_name):
        encoded = base64.urlsafe_b64encode(name.encode()).decode()
        parts = [encoded[i : i + 254] for i in range(0, len(encoded), 254)]
        path = markers.joinpath(*["@" + p for p in parts[:-1]], parts[-1])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert incomplete_outputs(tmp_path) == sorted(["results/analyses/a.json", long_name])
    (tmp_path / "results/figures").mkdir()
    (tmp_path / "results/figures/.f.svg.abc123.tmp").touch()
    (tmp_path / "results/keep.svg").touch()
    assert [p.name for p in stray_temporaries(tmp_path, ("results",))] == [".f.svg.abc123.tmp"]
