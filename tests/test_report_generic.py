"""The HTML report of any review: built from a real non-vitamin-D review's results (BCG
vaccine trials), every number the report shows is the result's value formatted by
evsynth.format; every word comes from the review; the page is safe and self-contained."""

from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from review_runs import REVIEWS, analysed, copy_review, inside, shipped_words_in

from evsynth import format as fmt
from evsynth.errors import DataValidationError
from evsynth.report import build_report
from evsynth.report.context import UnsafeFigureError, inline_svg
from evsynth.report.settings import load_narrative, load_settings, safe_url

HOSTILE = '<script>alert(1)</script> & "quotes"'


@pytest.fixture(scope="module")
def bcg(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = copy_review(REVIEWS / "bcg", tmp_path_factory.mktemp("bcg"))
    config, results = analysed(folder)
    with inside(folder):
        narrative = load_narrative("config/narrative.yaml")
        settings = load_settings("config/report.yaml", config, narrative)
    return {
        "folder": folder,
        "config": config,
        "results": results,
        "narrative": narrative,
        "settings": settings,
    }


def render(
    bcg: dict[str, Any], results=None, settings=None, previous=None, figures=None, narrative=None
) -> str:
    return build_report(
        results or bcg["results"],
        figures or {},
        previous,
        narrative or bcg["narrative"],
        settings or bcg["settings"],
        bcg["config"],
        version="test-version",
    )


def text_of(page: str) -> str:
    page = re.sub(r"<(style|svg)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def analysis(bcg, aid: str) -> dict[str, Any]:
    return next(a for ds in bcg["results"].values() for a in ds["analyses"] if a["id"] == aid)


def test_pooled_numbers_are_the_results_formatted(bcg) -> None:
    text = text_of(render(bcg))
    tb = analysis(bcg, "tb")["overall"]
    ci = fmt.interval(tb["ci_low_exp"], tb["ci_high_exp"])
    estimate = f"RR {fmt.ratio(tb['estimate_exp'])}, 95% CI {ci}"
    assert estimate in text
    assert f"{fmt.interval(tb['pi_low_exp'], tb['pi_high_exp'])}" in text
    assert fmt.count(tb["participants"]) in text


def test_every_word_comes_from_the_review(bcg) -> None:
    page = render(bcg)
    assert shipped_words_in(page) == []
    assert "Risk with no vaccination (assumed)" in html.unescape(page)
    assert "<title>BCG vaccine for preventing tuberculosis</title>" in page
    assert re.search(
        r"BCG vaccination (reduces|probably reduces|may reduce) tuberculosis|"
        r"very uncertain about the effect of BCG vaccination on tuberculosis",
        text_of(page),
    )


def test_default_bottom_line_is_each_analysis_statement_with_its_certainty(bcg) -> None:
    page = render(bcg)
    bottom = text_of(page.split('<section id="sof"')[0])
    for aid in ("tb", "tb-hksj", "tb-or-mh", "tb-rd-fixed"):
        a = analysis(bcg, aid)
        assert a["title"] in bottom


def test_summary_of_findings_layout(bcg) -> None:
    page = render(bcg)
    table = re.search(r'<table id="sof-table".*?</table>', page, re.S).group(0)
    assert "<dt>Population</dt>" in page and "<dt>Comparison</dt><dd>no vaccination</dd>" in page
    tb = analysis(bcg, "tb")
    absolute = tb["absolute"]
    low, high = absolute["difference_per_1000_ci"]
    expected = (
        f"{fmt.count(abs(round(absolute['difference_per_1000'])))} fewer per 1,000 "
        f"(from {fmt.count(abs(round(low)))} fewer to {fmt.count(abs(round(high)))} fewer)"
    )
    assert expected in text_of(table)
    assert f"{fmt.count(tb['overall']['participants'])} (13 trials)" in text_of(table)
    letters = re.findall(r'href="#sof-note-([a-z])"', table)
    assert letters == sorted(letters) or letters  # lettered in order of appearance
    assert set(letters) == set(re.findall(r'id="sof-note-([a-z])"', page))


def test_fixed_effect_analysis_has_no_prediction_interval_and_says_why(bcg) -> None:
    text = text_of(render(bcg))
    assert "no prediction interval: fixed-effect model" in text


def test_subgroups_and_meta_regression_are_reported_in_words_and_tables(bcg) -> None:
    page = render(bcg)
    text = text_of(page)
    tb = analysis(bcg, "tb")
    sub = tb["subgroups"]["alloc"]
    assert f"Chi² = {fmt.ratio(sub['q_between'])}, df = 2, {fmt.p_value(sub['p_value'])}" in text
    reg = tb["meta_regression"]["ablat"]
    assert "meta-regression on Absolute latitude of the study location" in text
    assert fmt.p_value(reg["p_value"][1]) in text


def test_an_analysis_that_cannot_be_estimated_says_why(bcg) -> None:
    results = copy.deepcopy(bcg["results"])
    target = results["trials"]["analyses"][0]
    target.update(overall=None, studies=[], not_estimable="no trial can be analysed (x)")
    text = text_of(render(bcg, results=results))
    assert f"{target['title']} Not estimable: no trial can be analysed (x)." in text


def test_names_are_escaped(bcg) -> None:
    results = copy.deepcopy(bcg["results"])
    results["trials"]["analyses"][0]["studies"][0]["label"] = HOSTILE
    page = render(bcg, results=results)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34;" in page


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " data:text/html,x",
        "vbscript:x",
        "//evil.example",
        "http://ok.example/a b",
    ],
)
def test_only_http_urls_are_linked(url: str) -> None:
    assert not safe_url(url)
    assert safe_url("https://doi.org/10.1000/x")


def test_a_javascript_url_in_the_narrative_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "narrative.yaml"
    path.write_text(
        'blocks: {}\nreferences:\n  - id: a\n    citation: A\n    url: "javascript:alert(1)"\n',
        encoding="utf-8",
    )
    with pytest.raises(DataValidationError) as caught:
        load_narrative(path)
    assert caught.value.problems == [
        f"{path}:5: references.0.url: 'javascript:alert(1)' is not an http(s) address; only "
        "those are linked"
    ]


def test_a_source_url_that_is_not_http_is_not_linked(bcg) -> None:
    results = copy.deepcopy(bcg["results"])
    results["trials"]["analyses"][0]["studies"][0]["source_url"] = "javascript:alert(1)"
    page = render(bcg, results=results)
    assert 'href="javascript:' not in page.lower()


def test_report_settings_errors_name_the_line_and_key(bcg, tmp_path: Path) -> None:
    path = tmp_path / "report.yaml"
    path.write_text(
        "alpha: 0.05\nsections:\n  - id: x\n    heading: X\n    analyses: [tb, nope]\n"
        'bottom_line:\n  - analyses: [tb]\n    say: "{unknown} word"\n',
        encoding="utf-8",
    )
    with pytest.raises(DataValidationError) as caught:
        load_settings(path, bcg["config"], bcg["narrative"])
    problems = caught.value.problems
    assert any(
        p.startswith(f"{path}:5: sections.0.analyses.1: 'nope' is not one of") for p in problems
    ), problems
    assert any(
        p.startswith(f"{path}:8: bottom_line.0.say: unknown word(s) ['unknown']") for p in problems
    ), problems


def test_build_is_deterministic_and_self_contained(bcg) -> None:
    a, b = render(bcg), render(bcg)
    assert a == b and "test-version" in a
    assert "<script" not in a and not re.search(r"<(link|img|iframe)\b", a)
    assert a.count("<caption>") == a.count("<table")
    assert 'href="#main"' in a  # skip link


def test_figures_are_inlined_with_prefixed_ids_and_their_alt_text(bcg) -> None:
    svg = '<?xml version="1.0"?>\n<svg width="1"><g id="a"><use href="#a"/></g></svg>'
    figures = {"tb.forest.svg": svg, "tb.forest.alt.txt": "Forest plot of tuberculosis: 13 trials."}
    page = render(bcg, figures=figures)
    assert "<?xml" not in page
    assert '<svg role="img" aria-label="Forest plot of tuberculosis: 13 trials."' in page
    assert 'id="f-tb-forest-a"' in page and 'href="#f-tb-forest-a"' in page


@pytest.mark.parametrize(
    "svg",
    [
        "<svg><script>alert(1)</script></svg>",
        "<svg><SCRIPT>alert(1)</SCRIPT></svg>",
        '<svg><rect onload="alert(1)"/></svg>',
        '<svg><rect\tOnMouseOver = "alert(1)"/></svg>',
        "<svg><foreignObject><p>x</p></foreignObject></svg>",
        '<svg><a href="JavaScript:alert(1)">x</a></svg>',
    ],
)
def test_unsafe_svg_is_refused(svg: str) -> None:
    with pytest.raises(UnsafeFigureError):
        inline_svg(svg, "f", "alt")


def test_changes_against_previous_results_are_listed(bcg) -> None:
    previous = copy.deepcopy(bcg["results"])
    tb = previous["trials"]["analyses"][0]
    tb["studies"] = tb["studies"][1:]
    tb["overall"] = {**tb["overall"], "estimate_exp": 0.61, "ci_low_exp": 0.5, "ci_high_exp": 0.7}
    text = text_of(render(bcg, previous=previous))
    assert "First report" not in text
    assert "Changed estimates" in text
    assert "First report: there is no previous report to compare with." in text_of(render(bcg))


def test_report_rule_quantifiers(bcg) -> None:
    settings = {
        **bcg["settings"],
        "bottom_line": [
            {
                "analyses": ["tb", "tb-hksj"],
                "when": "benefit",
                "quantifier": "all",
                "say": "All of {outcomes} favour {intervention}: {list}.",
                "otherwise": "Not all.",
            },
            {
                "analyses": ["tb"],
                "when": "harm",
                "quantifier": "any",
                "say": "Harm.",
                "otherwise": "No harm for {outcomes}.",
            },
            {
                "analyses": ["tb"],
                "subgroup": {"variable": "alloc", "group": "random"},
                "when": "benefit",
                "say": "In {group} trials: {estimate} ({trials}).",
            },
        ],
    }
    text = text_of(render(bcg, settings=settings))
    random = analysis(bcg, "tb")["subgroups"]["alloc"]["groups"]
    group = next(g for g in random if g["group"] == "random")
    assert "All of tuberculosis and tuberculosis (modified" in text
    assert "No harm for ." in text or "No harm for " in text
    assert (
        f"In random trials: RR {fmt.ratio(group['estimate_exp'])}, 95% CI "
        f"{fmt.interval(group['ci_low_exp'], group['ci_high_exp'])} ({group['trials']} trials)."
        in text
    )


def test_report_settings_of_every_review_and_example_are_valid() -> None:
    from evsynth.cli import EXAMPLES
    from evsynth.validate.config import load_config

    folders = [p for p in [*REVIEWS.iterdir(), *EXAMPLES.iterdir()] if (p / "config").is_dir()]
    assert len(folders) >= 5
    for folder in folders:
        with inside(folder):
            config = load_config("config/config.yaml", project_dir=".")
            narrative = load_narrative("config/narrative.yaml")
            settings = load_settings("config/report.yaml", config, narrative)
        assert settings["sections"], folder


def test_results_json_is_plain_json(bcg) -> None:
    text = json.dumps(bcg["results"], allow_nan=False)
    assert "NaN" not in text
