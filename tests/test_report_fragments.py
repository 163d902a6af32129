"""The report's store of rendered analysis sections (evsynth.report.fragments): a report
that reuses sections is byte for byte the report rendered whole; a changed analysis, setting
or figure renders only what it touches; a damaged entry or an index that does not describe
the results is rendered again, never trusted."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from review_runs import REVIEWS, copy_review, inside

from evsynth.report.context import figures_by_analysis
from evsynth.report.fragments import results_digests
from evsynth.stages import report_stage, validate_stage, write_analyses, write_figures
from evsynth.validate.config import load_config

RESULTS = "results/analyses/trials.json"


def _analyse_and_draw(config: dict[str, Any]) -> None:
    write_analyses(
        config,
        "trials",
        "data/processed/trials.csv",
        RESULTS,
        "results/analyses/trials_summary.csv",
        cache="results/cache",
    )
    write_figures(
        config,
        RESULTS,
        "results/figures",
        "results/figures/trials.figures.json",
        cache="results/cache",
    )


def _report(config: dict[str, Any], cache: bool = True) -> tuple[bytes, list[str]]:
    """The report's bytes and the sections it rendered (every section without a cache)."""
    out = "results/report.html"
    report_stage(config, out, cache="results/cache" if cache else None)
    record = Path("results/cache/report.run.json")
    rendered = json.loads(record.read_text(encoding="utf-8"))["rendered"] if cache else []
    return Path(out).read_bytes(), rendered


@pytest.fixture()
def review(tmp_path: Path) -> Path:
    folder = copy_review(REVIEWS / "bcg", tmp_path / "bcg")
    with inside(folder):
        config = load_config("config/config.yaml", project_dir=".")
        validate_stage(config)
        _analyse_and_draw(config)
    return folder


def _ids(config: dict[str, Any]) -> list[str]:
    return list(config["analyses"])


def test_reused_sections_give_the_bytes_of_a_whole_render(review: Path) -> None:
    with inside(review):
        config = load_config("config/config.yaml", project_dir=".")
        whole, _ = _report(config, cache=False)
        first, rendered = _report(config)
        assert first == whole and sorted(rendered) == sorted(_ids(config))
        again, rendered = _report(config)
        assert again == whole and rendered == []
        record = json.loads(Path("results/cache/report.run.json").read_text("utf-8"))
        assert record["reused"] == len(_ids(config))


def test_a_changed_setting_renders_only_the_sections_it_touches(review: Path) -> None:
    with inside(review):
        config = load_config("config/config.yaml", project_dir=".")
        _report(config)
        edited = json.loads(json.dumps(config))
        edited["analyses"]["tb"]["level"] = 0.9
        _analyse_and_draw(edited)
        # the config is one input of every section (its words): a changed setting renders
        # every section; a changed analysis alone (below) renders only its own
        changed, rendered = _report(edited)
        assert sorted(rendered) == sorted(_ids(config))
        assert changed == _report(edited, cache=False)[0]
        Path("results/cache/report").joinpath("x").write_text("stray", encoding="utf-8")
        _, rendered = _report(edited)
        assert rendered == [] and not Path("results/cache/report/x").exists()


def test_a_changed_count_renders_only_the_sections_of_the_analyses_reading_it(
    review: Path,
) -> None:
    """Two analyses of disjoint rows (by allocation): a count of an alternately allocated
    trial changes the results of every analysis that reads it, and only their sections are
    rendered again; the others are reused."""
    with inside(review):
        config = load_config("config/config.yaml", project_dir=".")
        for alloc in ("random", "alternate"):
            config["analyses"][f"tb-{alloc}"] = {
                **config["analyses"]["tb-rd-fixed"],
                "id": f"tb-{alloc}",
                "where": {"alloc": alloc},
            }
        _analyse_and_draw(config)
        _report(config)
        table = Path("data/processed/trials.csv")
        frame = pd.read_csv(table, dtype=str, keep_default_na=False)
        row = frame.index[frame["alloc"] == "alternate"][0]
        frame.loc[row, "events_control"] = str(int(frame.loc[row, "events_control"]) + 1)
        frame.to_csv(table, index=False, lineterminator="\n")
        work = write_analyses(
            config,
            "trials",
            str(table),
            RESULTS,
            "results/analyses/trials_summary.csv",
            cache="results/cache",
        )
        assert "tb-alternate" in work.computed and "tb-random" not in work.computed
        _analyse_and_draw(config)
        changed, rendered = _report(config)
        assert sorted(rendered) == sorted(work.computed)
        assert changed == _report(config, cache=False)[0]


def test_a_damaged_entry_is_rendered_again(review: Path) -> None:
    with inside(review):
        config = load_config("config/config.yaml", project_dir=".")
        whole, _ = _report(config)
        for entry in sorted(Path("results/cache/report").iterdir()):
            entry.write_bytes(entry.read_bytes().replace(b"<h3", b"<h4", 1))
        again, rendered = _report(config)
        assert again == whole and sorted(rendered) == sorted(_ids(config))


def test_an_index_that_does_not_describe_the_results_is_not_trusted(review: Path) -> None:
    """The report refuses such results outright (check_figures); the store, on its own, keys
    no section by an index that does not describe the results text it is given."""
    folder = review / "results/analyses"
    data = (folder / "trials.json").read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    digests = results_digests(folder, {"trials.json": sha256})
    index = json.loads((folder / "trials.index.json").read_text(encoding="utf-8"))
    assert digests == {e["id"]: e["data"] for e in index["entries"]} and "tb" in digests
    other = hashlib.sha256(data + b" ").hexdigest()
    assert results_digests(folder, {"trials.json": other}) == {}
    assert results_digests(folder, {"absent.json": sha256}) == {}


def test_figures_are_grouped_by_the_analysis_their_name_starts_with() -> None:
    figures = {
        "tb.forest.svg": "a",
        "tb.forest.alt.txt": "b",
        "tb-or.forest.svg": "c",
        "tb-or.bubble.ablat.svg": "d",
        "loose.svg": "e",
    }
    assert figures_by_analysis(figures) == {
        "tb": {"tb.forest.svg": "a", "tb.forest.alt.txt": "b"},
        "tb-or": {"tb-or.forest.svg": "c", "tb-or.bubble.ablat.svg": "d"},
        "loose": {"loose.svg": "e"},
    }
