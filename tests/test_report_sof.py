"""The Summary of Findings, the first screen and the figures of the report, on two real
non-vitamin-D reviews: a continuous one (stroke units and length of stay: MD and SMD) and a
binary one (BCG vaccine: RR, OR and a risk difference).

- A difference of means shows its absolute effect on its own scale ("MD 15.11 lower (32.64
  lower to 2.43 higher)"), a risk difference per 1,000; neither shows "—" in that column.
- Participants read "1,158 (9 trials)": never "— (9)" nor "1 included trials".
- The first screen gives each outcome's GRADE statement, numbers and certainty.
- Every figure the config draws is in its analysis's section, its links relative to
  results/report.html; an analysis no section names still appears, under "Other analyses".
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from review_runs import REVIEWS, analysed, copy_review, inside

from evsynth import format as fmt
from evsynth.report import build_report, load_inputs
from evsynth.stages import figures_stage


def _review(folder: Path, figures: bool = False) -> dict[str, Any]:
    config, results = analysed(folder)
    with inside(folder):
        out = Path(config["paths"]["results"])
        if figures:
            for dataset in results:
                figures_stage(
                    config,
                    out / "analyses" / f"{dataset}.json",
                    out / "figures",
                    out / "figures" / f"{dataset}.figures.json",
                )
        paths = config["paths"]
        inputs = load_inputs(out, config, paths["narrative"], paths["report_settings"])
    analyses = {a["id"]: a for ds in results.values() for a in ds["analyses"]}
    return {"folder": folder, "config": config, "inputs": inputs, "analyses": analyses}


@pytest.fixture(scope="module")
def stroke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _review(copy_review(REVIEWS / "normand1999", tmp_path_factory.mktemp("normand")))


@pytest.fixture(scope="module")
def bcg(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _review(copy_review(REVIEWS / "bcg", tmp_path_factory.mktemp("bcg")), figures=True)


def render(review: dict[str, Any], **changes: Any) -> str:
    i = review["inputs"]
    return build_report(
        i["results"],
        i["figures"],
        None,
        i["narrative"],
        {**i["settings"], **changes},
        review["config"],
        version=i["version"],
    )


def sof_rows(page: str) -> dict[str, list[str]]:
    table = re.search(r'<table id="sof-table".*?</table>', page, re.S).group(0)
    rows = {}
    for rid, body in re.findall(r'<tr id="sof-([^"]+)">(.*?)</tr>', table, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", body, re.S)
        rows[rid] = [text(c) for c in cells]
    return rows


def text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def _lower_higher(x: float) -> str:
    return f"{fmt.ratio(abs(x))} {'lower' if x < 0 else 'higher'}"


def test_difference_of_means_is_shown_on_its_own_scale(stroke) -> None:
    rows = sof_rows(render(stroke))
    md = stroke["analyses"]["los-md"]["overall"]
    assert rows["los-md"][3] == (
        f"MD {_lower_higher(md['estimate'])} "
        f"({_lower_higher(md['ci_low'])} to {_lower_higher(md['ci_high'])})"
    )
    smd = stroke["analyses"]["los-smd"]["overall"]
    assert rows["los-smd"][3].startswith(f"SMD {fmt.ratio(abs(smd['estimate']))} SD lower (")
    # the control groups' means, as the trials report them; none for a standardised difference
    means = [s["mean_control"] for s in stroke["analyses"]["los-md"]["studies"]]
    assert rows["los-md"][1] == (
        f"mean ranged from {fmt.value(min(means))} to {fmt.value(max(means))} "
        f"(control groups of {len(means)} trials)"
    )
    assert rows["los-smd"][1] == fmt.MISSING


def test_participants_read_as_count_and_trials(stroke, bcg) -> None:
    for review in (stroke, bcg):
        page = render(review)
        for aid, cells in sof_rows(page).items():
            pooled = review["analyses"][aid]["overall"]
            assert cells[5] == f"{fmt.count(pooled['participants'])} ({pooled['trials']} trials)"
        shown = text(page)
        assert "— (" not in shown and not re.search(r"\b1 included trials\b", shown)


def test_risk_difference_is_per_1000_and_has_no_relative_effect(bcg) -> None:
    rows = sof_rows(render(bcg))
    rd = bcg["analyses"]["tb-rd-fixed"]["overall"]

    def words(x: float) -> str:
        return f"{fmt.count(abs(round(x)))} {'more' if round(x) > 0 else 'fewer'}"

    assert rows["tb-rd-fixed"][3] == (
        f"{words(1000 * rd['estimate'])} per 1,000 (from {words(1000 * rd['ci_low'])} "
        f"to {words(1000 * rd['ci_high'])})"
    )
    assert rows["tb-rd-fixed"][4] == fmt.MISSING
    assert rows["tb"][4].startswith("RR ")


def test_caption_says_where_certainty_starts(bcg, stroke) -> None:
    assert "Risks per 1,000 people; certainty starts at high" in text(render(bcg))
    assert "Risks per 1,000" not in text(render(stroke)).split("Outcome")[0]


def test_first_screen_gives_each_outcome_with_its_statement_and_certainty(stroke) -> None:
    page = render(stroke)
    first = page.split('<nav aria-label="Contents">', 1)[0]
    for aid, analysis in stroke["analyses"].items():
        item = re.search(rf'<li><a href="#analysis-{aid}">.*?</li>', first, re.S)
        assert item is not None, aid
        shown = text(item.group(0))
        assert re.search(r"(High|Moderate|Low|Very low) certainty", shown)
        assert analysis["title"] in shown and "95% CI" in shown


def test_every_drawn_figure_is_in_its_analysis_section(bcg) -> None:
    page = render(bcg)
    results = bcg["folder"] / "results"
    drawn = json.loads((results / "figures" / "trials.figures.json").read_text())["files"]
    svgs = [f[:-4] for f in drawn if f.endswith(".svg")]
    kinds = {s.split(".")[1] for s in svgs}
    assert {"forest", "funnel", "loo", "cumulative", "bubble"} <= kinds
    for stem in svgs:
        aid = stem.split(".")[0]
        block = page.split(f'<section id="analysis-{aid}"', 1)[1].split("\n</section>", 1)[0]
        fid = "fig-" + re.sub(r"[^A-Za-z0-9]+", "-", stem)
        assert f'<figure id="{fid}">' in block, stem
    for link in re.findall(r'<a href="(figures/[^"]+)">', page):
        assert (results / link).is_file(), link  # relative to results/report.html


def test_alt_text_states_the_result(bcg) -> None:
    page = render(bcg)
    labels = re.findall(r'<svg role="img" aria-label="([^"]+)"', page)
    assert labels and all(re.search(r"\d", html.unescape(a)) for a in labels)


def test_an_analysis_no_section_names_is_still_reported(bcg) -> None:
    sections = [{"id": "results", "heading": "Results", "analyses": ["tb"]}]
    page = render(bcg, sections=sections)
    other = page.split('<section id="other-analyses"', 1)[1]
    for aid in ("tb-hksj", "tb-or-mh", "tb-rd-fixed"):
        assert f'<section id="analysis-{aid}"' in other
        assert f'<figure id="fig-{aid}-forest">' in other
