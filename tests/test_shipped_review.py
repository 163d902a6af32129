"""The shipped review (the project root is its folder): its content, kept apart from the
review-agnostic tests. Expectations are computed from the raw data and the engine here, not
copied from the pipeline's output."""

from __future__ import annotations

import html
import math
import re
from typing import Any

import pandas as pd
import pytest
import yaml
from review_runs import ROOT, analysed, copy_review, inside

import evsynth
from evsynth.stages import report_stage

SETTINGS = yaml.safe_load((ROOT / "config/report.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = copy_review(ROOT, tmp_path_factory.mktemp("shipped"))
    config, results = analysed(folder)
    with inside(folder):
        report_stage(config, "results/report.html")
    text = (folder / "results/report.html").read_text(encoding="utf-8")
    analyses = {a["id"]: a for ds in results.values() for a in ds["analyses"]}
    return {
        "folder": folder,
        "config": config,
        "results": results,
        "analyses": analyses,
        "html": text,
        "text": _text(text),
    }


def _text(page: str) -> str:
    page = re.sub(r"<(style|svg)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _included_rows(table: str, outcome: str) -> pd.DataFrame:
    raw = pd.read_csv(ROOT / "data/raw" / f"{table}.csv")
    return raw[(raw["outcome"] == outcome) & (raw["include"])]


def test_trials_are_counted_once_whatever_their_comparisons(shipped) -> None:
    """Allocation strata of one trial (same study_id) are one trial; k counts trials."""
    for aid, outcome in (("fractures-hip", "hip"), ("fractures-total", "total")):
        pooled = shipped["analyses"][aid]["overall"]
        rows = _included_rows("fractures", outcome)
        used = [
            r
            for r in rows["study_id"]
            if r in {s["study_id"] for s in shipped["analyses"][aid]["studies"]}
        ]
        assert pooled["trials"] == len(set(used)) == pooled["k"]
        assert pooled["comparisons"] == len(used)
    hip = shipped["analyses"]["fractures-hip"]["overall"]
    if hip["comparisons"] > hip["trials"]:
        assert f"{hip['trials']} trials ({hip['comparisons']} comparisons)" in shipped["text"]


def test_strata_of_one_trial_are_combined_by_mantel_haenszel(shipped) -> None:
    hip = shipped["analyses"]["fractures-hip"]
    combined = [s for s in hip["studies"] if len(s["row_ids"]) > 1]
    assert combined, "a trial entered per stratum is combined"
    raw = pd.read_csv(ROOT / "data/raw/fractures.csv")
    for study in combined:
        lines = [int(r.split(":")[1]) - 2 for r in study["row_ids"]]
        strata = raw.iloc[lines]
        mh = evsynth.mantel_haenszel(
            *(
                strata[c].to_numpy(float)
                for c in ("events_treat", "n_treat", "events_control", "n_control")
            ),
            measure="RR",
        )
        assert study["yi"] == pytest.approx(mh.estimate, rel=1e-12)
        assert study["vi"] == pytest.approx(mh.se**2, rel=1e-12)


def _pooled_lines(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    lines = [analysis["overall"]]
    lines += [g for sub in analysis["subgroups"].values() for g in sub["groups"]]
    lines += [s["pooled"] for s in analysis["sensitivity"] if s["pooled"]]
    return lines


def test_no_interval_is_narrower_than_its_wald_interval(shipped) -> None:
    """The modified HKSJ (the shipped default) never claims more than the Wald interval."""
    checked = 0
    for analysis in shipped["analyses"].values():
        by_row = {r: s for s in analysis["studies"] for r in s["row_ids"]}
        for line in _pooled_lines(analysis):
            if line["ci_method"] not in ("hksj", "hksj_modified"):
                continue  # a Wald or fixed-effect line (a sensitivity analysis's own model)
            studies = {id(by_row[r]): by_row[r] for r in line["row_ids"]}.values()
            wald = evsynth.pool(
                [s["yi"] for s in studies],
                [s["vi"] for s in studies],
                method=line["method"],
                ci_method="z",
            )
            assert line["ci_high"] - line["ci_low"] >= wald.ci_high - wald.ci_low - 1e-12
            checked += 1
    assert checked > 20


def test_event_counts_never_enter_a_persons_analysis(shipped) -> None:
    stones = shipped["analyses"]["kidney-stones"]
    raw = pd.read_csv(ROOT / "data/raw/kidney_stones.csv")
    events = raw[(raw["count_unit"] == "events") & raw["include"]]
    assert len(events) > 0
    left_out = {e["row_id"]: e["reason"] for e in stones["excluded"]}
    for line in events.index:
        assert "events, not persons" in left_out[f"kidney_stones.csv:{line + 2}"]
    assert all(s["input"] != "2x2" or s.get("count_unit") != "events" for s in stones["studies"])


def test_single_trial_nnh_is_labelled_as_one_trials_figure(shipped) -> None:
    nnt = shipped["analyses"]["kidney-stones"]["single_trial_nnt"]
    raw = pd.read_csv(ROOT / "data/raw/kidney_stones.csv").set_index("study_id")
    trial = raw.loc[nnt["study_id"]]
    rd = trial["events_treat"] / trial["n_treat"] - trial["events_control"] / trial["n_control"]
    assert nnt["rounded"] == math.floor(1 / rd)  # NNTH rounded down (Altman)
    assert (
        f"one additional person had kidney stones for every {nnt['rounded']} treated"
        in shipped["text"]
    )
    assert "one trial's figure" in shipped["text"]


def test_sections_follow_the_review_settings(shipped) -> None:
    headings = re.findall(r"<h2 id=\"[^\"]+\">([^<]+)</h2>", shipped["html"])
    wanted = [html.escape(s["heading"], quote=False) for s in SETTINGS["sections"]]
    assert headings[:2] == ["Bottom line", "Summary of findings"]
    assert headings[2 : 2 + len(wanted)] == wanted


def test_summary_of_findings_has_gradepro_columns_and_lettered_footnotes(shipped) -> None:
    table = re.search(r'<table id="sof-table".*?</table>', shipped["html"], re.S).group(0)
    for column in (
        "Risk with control (assumed)",
        "Risk difference (95% CI)",
        "Relative effect (95% CI)",
        "Participants (trials)",
        "Follow-up",
        "Certainty of the evidence",
        "Comments",
    ):
        assert column in html.unescape(table)
    assert re.search(
        r"\d+ (fewer|more) per 1,000 \(from \d+ (fewer|more) to \d+ (fewer|more)\)", _text(table)
    )
    letters = re.findall(r'href="#sof-note-([a-z])"', table)
    notes = re.findall(r'id="sof-note-([a-z])"', shipped["html"])
    assert letters and set(letters) == set(notes)


def test_bottom_line_and_recommendation_follow_the_rules(shipped) -> None:
    analyses = shipped["analyses"]
    fractures = [
        analyses[a] for a in ("fractures-hip", "fractures-nonvertebral", "fractures-total")
    ]

    def excludes_null(p: dict[str, Any]) -> bool:
        return p["ci_high_exp"] < 1 or p["ci_low_exp"] > 1

    no_benefit = not any(
        excludes_null(a["overall"]) and a["overall"]["estimate"] < 0 for a in fractures
    )
    text = shipped["text"]
    assert (
        "Pooled randomised trials show no clear benefit of vitamin D on fractures" in text
    ) == all(not excludes_null(a["overall"]) for a in fractures)
    assert (
        "Routine vitamin D supplementation to prevent fractures is not supported" in text
    ) == no_benefit
    assert "excludes no effect" not in text  # no double negative
    assert "In the AVADEC trial, vitamin K2 + D3 versus placebo" in text


def test_each_outcome_shows_its_certainty_on_the_first_screen(shipped) -> None:
    first = shipped["html"].split('<section id="sof"')[0]
    for aid in SETTINGS["sof"]:
        title = shipped["analyses"][aid]["title"]
        assert re.search(
            rf">{re.escape(title)}</a> <span class=\"cert\">(High|Moderate|Low|Very low) "
            r"certainty <span aria-hidden=\"true\">[⊕⊝]+</span></span><br>[A-Z][^<]+\. ",
            first,
        ), title


def test_mixed_measures_are_labelled_as_such(shipped) -> None:
    hip = shipped["analyses"]["fractures-hip"]
    measures = {s["measure"] for s in hip["studies"]}
    if len(measures) > 1:
        assert hip["measure_label"] == f"Ratio ({' or '.join(['RR', *sorted(measures - {'RR'})])})"
        assert "Risk Ratio" not in _text(
            re.search(
                r'<table id="analysis-fractures-hip-pooled".*?</table>', shipped["html"], re.S
            ).group(0)
        )
