"""What changed since the report compared with, as a reader follows it: analyses and trials
by their titles and names, each added or removed trial with its reason, changed numbers as
previous → now with only the number marked, certainty changes flagged, and the version and
date of the report compared with. Built on a real non-vitamin-D review (BCG vaccine trials)
whose raw data are changed the way a living review changes: a count corrected, a trial
excluded, a trial removed."""

from __future__ import annotations

import copy
import csv
import html
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from review_runs import REVIEWS, analysed, copy_review, inside

from evsynth import format as fmt
from evsynth.report import build_report
from evsynth.report.changes import Segment, against_text, compare, word_diff
from evsynth.report.settings import load_narrative, load_settings

VERSION_3 = {"number": 3, "date": "2026-11-30", "data_hash": "a1b2c3d4e5f60718293a"}


def _edit(folder: Path) -> None:
    """Aronson 1948's vaccinated cases corrected (4 → 6 of the same 123), Ferguson & Simes 1949
    excluded with a reason (the review gains the optional ``include`` and ``exclusion_reason``
    columns), Rosenthal et al 1960 deleted."""
    schema = folder / "schemas/trials.schema.yaml"
    schema.write_text(
        schema.read_text(encoding="utf-8").replace(
            "unique: [study_id]",
            "  include: {type: boolean, nullable: true}\n"
            "  exclusion_reason: {type: string, nullable: true}\n"
            "unique: [study_id]",
        ),
        encoding="utf-8",
    )
    table = folder / "data/raw/trials.csv"
    with table.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"Aronson 1948", "Ferguson & Simes 1949", "Rosenthal et al 1960"} <= {
        r["label"] for r in rows
    }
    out = []
    for row in rows:
        row |= {"include": "true", "exclusion_reason": ""}
        if row["label"] == "Rosenthal et al 1960":
            continue
        if row["label"] == "Aronson 1948":
            assert (row["events_treat"], row["nonevents_treat"]) == ("4", "119")
            row |= {"events_treat": "6", "nonevents_treat": "117"}
        if row["label"] == "Ferguson & Simes 1949":
            row |= {"include": "false", "exclusion_reason": "allocation not random (test)"}
        out.append(row)
    with table.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(out[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(out)


@pytest.fixture(scope="module")
def bcg(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The BCG review before and after the edits of :func:`_edit`."""
    before_dir = copy_review(REVIEWS / "bcg", tmp_path_factory.mktemp("before"))
    config, before = analysed(before_dir)
    after_dir = tmp_path_factory.mktemp("after")
    shutil.rmtree(after_dir)
    shutil.copytree(before_dir, after_dir)
    _edit(after_dir)
    config, after = analysed(after_dir)
    with inside(after_dir):
        narrative = load_narrative("config/narrative.yaml")
        settings = load_settings("config/report.yaml", config, narrative)
    return {
        "config": config,
        "before": before,
        "after": after,
        "narrative": narrative,
        "settings": settings,
    }


def render(bcg: dict[str, Any], previous: Any, **versions: Any) -> str:
    return build_report(
        bcg["after"],
        {},
        previous,
        bcg["narrative"],
        bcg["settings"],
        bcg["config"],
        version="test-version",
        **versions,
    )


def section(page: str, ident: str) -> str:
    part = page.split(f'<section id="{ident}"', 1)[1].split("</section>", 1)[0]
    return part


def text_of(page: str) -> str:
    page = re.sub(r'<span class="vh">[^<]*</span>', "", page)
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))
    return re.sub(r" ([;,.:)])", r"\1", text)


def test_the_raw_edits_took_effect(bcg) -> None:
    tb = {a["id"]: a for a in bcg["after"]["trials"]["analyses"]}["tb"]
    labels = [s["label"] for s in tb["studies"]]
    assert "Rosenthal et al 1960" not in labels and "Ferguson & Simes 1949" not in labels
    assert [e["reason"] for e in tb["excluded"]] == ["allocation not random (test)"]


def test_trials_are_named_with_their_reason(bcg) -> None:
    changes = section(render(bcg, bcg["before"]), "changes")
    text = text_of(changes)
    assert "trials.csv" in text  # the row is named, and linked where it still exists
    assert "Tuberculosis: Rosenthal et al 1960 removed (no longer in the data)" in text
    assert (
        "Tuberculosis: Ferguson & Simes 1949 removed (now excluded: allocation not random (test))"
        in text
    )
    # the excluded row is linked to its provenance entry; the deleted one cannot be
    ferguson = re.search(r"Ferguson &amp; Simes 1949 <span.*?</li>", changes).group(0)
    assert re.search(r'<a href="#row-trials-csv-\d+">trials\.csv:\d+</a>', ferguson)
    rosenthal = re.search(r"Rosenthal et al 1960 <span.*?</li>", changes).group(0)
    assert "row-trials-csv" not in rosenthal
    assert "tb-rd-fixed" not in text and "row_id" not in text  # no internal ids


def test_a_changed_count_shows_the_old_and_new_numbers_marked(bcg) -> None:
    changes = section(render(bcg, bcg["before"]), "changes")
    aronson = re.search(r"<li>.*?Aronson 1948 <span class=\"kind\">changed</span>.*?</li>", changes)
    assert aronson is not None
    item = aronson.group(0)
    # BCG vaccination arm: 4/123 → 6/123; only the changed numbers are marked
    assert re.search(
        r"<del>(<span[^>]*>[^<]*</span>)?4/123</del> → <ins>.*?<mark>6/123</mark>", item
    )
    assert "<del>" not in item.split("No vaccination", 1)[1].split(";", 1)[0]


def test_changed_estimates_name_the_analysis_and_mark_each_number(bcg) -> None:
    changes = section(render(bcg, bcg["before"]), "changes")
    now = {a["id"]: a for a in bcg["after"]["trials"]["analyses"]}["tb"]["overall"]
    was = {a["id"]: a for a in bcg["before"]["trials"]["analyses"]}["tb"]["overall"]
    line = re.search(r'<li><a href="#analysis-tb">Tuberculosis</a>, All trials:.*?</li>', changes)
    assert line is not None
    shown = text_of(line.group(0))
    assert f"RR {fmt.ratio(was['estimate_exp'])} → {fmt.ratio(now['estimate_exp'])}" in shown
    assert "Trials 13 trials → 11 trials" in shown
    assert "Method of treatment allocation: " in text_of(changes)  # subgroup lines by title


def test_conclusions_mark_the_changed_numbers_not_whole_sentences(bcg) -> None:
    changes = section(render(bcg, bcg["before"]), "changes")
    items = re.findall(r"<li><strong>Tuberculosis: effect</strong>:.*?</li>", changes)
    assert len(items) == 1
    marked = re.findall(r"<del>(.*?)</del>", items[0])
    assert marked and all(len(text_of(m)) < 20 for m in marked)


def test_certainty_changes_are_flagged() -> None:
    from evsynth.report.grade import Certainty

    analysis = {"id": "a", "title": "Outcome A", "studies": [], "overall": None}
    results = {"d": {"analyses": [analysis]}}
    fell = compare(
        results,
        copy.deepcopy(results),
        {},
        {},
        current_certainty={"a": Certainty(1, "very low", "⊕⊝⊝⊝")},
        previous_certainty={"a": Certainty(3, "moderate", "⊕⊕⊕⊝")},
    )
    assert [(c.analysis, c.old, c.new, c.fell) for c in fell.certainty] == [
        ("Outcome A", "moderate", "very low", True)
    ]
    rose = compare(
        results,
        results,
        {},
        {},
        current_certainty={"a": Certainty(3, "moderate", "⊕⊕⊕⊝")},
        previous_certainty={"a": Certainty(1, "very low", "⊕⊝⊝⊝")},
    )
    assert rose.certainty[0].fell is False and not rose.empty


def test_the_report_compared_with_is_named_with_its_version_and_date(bcg) -> None:
    page = render(bcg, bcg["before"], previous_version=VERSION_3)
    assert "Compared with version 3 of 2026-11-30 (data a1b2c3d4e5f6)." in text_of(
        section(page, "changes")
    )
    header = page.split("</header>", 1)[0]
    assert "compared with version 3 of 2026-11-30" in text_of(header)
    run = render(bcg, bcg["before"])
    assert "Compared with the previous run." in text_of(section(run, "changes"))
    assert against_text(None) == "the previous run"


def test_the_report_shows_its_own_version_and_date_when_released(bcg) -> None:
    mine = {"number": 4, "date": "2026-12-02", "data_hash": "ffee"}
    header = render(bcg, bcg["before"], version_info=mine).split("</header>", 1)[0]
    assert "Version 4 of 2026-12-02; data version test-version" in text_of(header)
    plain = render(bcg, None).split("</header>", 1)[0]
    assert "Data version test-version." in text_of(plain)


def test_first_screen_lists_every_change_with_its_direction(bcg) -> None:
    first = section(render(bcg, bcg["before"], previous_version=VERSION_3), "bottom-line")
    text = text_of(first)
    assert "Since version 3 of 2026-11-30 (data a1b2c3d4e5f6):" in text
    assert re.search(r"Tuberculosis: RR \d\.\d\d → \d\.\d\d", text)
    assert "Trials: " in text and "removed" in text
    assert '<a href="#changes">' in first


def test_first_report_and_no_change() -> None:
    results = {"d": {"analyses": []}}
    assert compare(results, None, {}, None).first_report
    same = compare(results, copy.deepcopy(results), {"x": "A."}, {"x": "A."})
    assert not same.first_report and same.empty


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("RR 0.96, 95% CI 0.79 to 1.18; 11 trials.", "RR 0.91, 95% CI 0.68 to 1.23; 10 trials."),
        ("Vitamin X makes little difference.", "Vitamin X probably makes little difference."),
        ("", "A new sentence."),
        ("An old sentence.", ""),
    ],
)
def test_word_diff_rebuilds_both_sentences(old: str, new: str) -> None:
    segments = word_diff(old, new)
    assert "".join(s.old for s in segments) == old
    assert "".join(s.new for s in segments) == new


def test_word_diff_marks_numbers_one_by_one() -> None:
    segments = word_diff("RR 0.96, 95% CI 0.79 to 1.18.", "RR 0.91, 95% CI 0.79 to 1.23.")
    assert [s for s in segments if s.changed] == [Segment("0.96", "0.91"), Segment("1.18", "1.23")]
