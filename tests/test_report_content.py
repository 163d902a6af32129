# Expected sentences are kept whole, on one line each, so they read as the report prints them.
# ruff: noqa: E501
"""Content of the HTML evidence summary, built from a small hand-made results dict.

The numbers in the fixture are made up; each test checks that what the report shows is the
fixture's value formatted by evsynth.report.format, never a number typed into the template.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from evsynth import format as fmt
from evsynth.report import build_report
from evsynth.report.build import UnsafeFigureError, inline_svg

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = yaml.safe_load((ROOT / "config" / "report.yaml").read_text(encoding="utf-8"))
NARRATIVE = yaml.safe_load((ROOT / "config" / "narrative.yaml").read_text(encoding="utf-8"))
HOSTILE = '<script>alert(1)</script> & "quotes"'


def pooled(est, low, high, p, k, i2=20.0, tau2=0.01, pi=(0.5, 1.3), **extra):
    """A PoolResult-like dict on the log scale with its *_exp fields."""
    out = {
        "estimate": math.log(est),
        "ci_low": math.log(low),
        "ci_high": math.log(high),
        "estimate_exp": est,
        "ci_low_exp": low,
        "ci_high_exp": high,
        "p_value": p,
        "k": k,
        "i2": i2,
        "tau2": tau2,
        "se": 0.1,
        "q": 1.0,
        "q_df": k - 1,
        "q_pvalue": 0.3,
        "method": "REML",
        "ci_method": "hksj",
        "level": 0.95,
        "pi_low_exp": pi[0] if pi else None,
        "pi_high_exp": pi[1] if pi else None,
        "pi_low": math.log(pi[0]) if pi else None,
        "pi_high": math.log(pi[1]) if pi else None,
    }
    out.update(extra)
    return out


def study(
    row, sid, label, year, et, nt, ec, nc, rr, lo, hi, weight, blinding, dose, calcium, fu=2.0
):
    return {
        "row_id": row,
        "study_id": sid,
        "label": label,
        "comparison": "D3 vs placebo",
        "year": year,
        "input": "2x2",
        "events_treat": et,
        "n_treat": nt,
        "events_control": ec,
        "n_control": nc,
        "yi": math.log(rr),
        "vi": 0.05,
        "ci_low": math.log(lo),
        "ci_high": math.log(hi),
        "yi_exp": rr,
        "ci_low_exp": lo,
        "ci_high_exp": hi,
        "weight_pct": weight,
        "daily_equivalent_iu": dose,
        "dose_band": "≥800 IU/day" if dose >= 800 else "<800 IU/day",
        "vitamin_d_form": "D3",
        "calcium_coadministered": calcium,
        "blinding": blinding,
        "design": "parallel",
        "follow_up_years": fu,
        "source_url": f"https://example.org/{sid}",
        "doi_or_pmid": f"doi:10.1000/{sid.lower()}; PMID:1234{year}",
        "quote": f"{sid}: {et}/{nt} vs {ec}/{nc}",
    }


def make_results() -> dict:
    alpha = study(
        "fractures.csv:2",
        "Alpha2001",
        "Alpha 2001",
        2001,
        40,
        1000,
        60,
        1000,
        0.67,
        0.45,
        0.99,
        62.5,
        "double-blind",
        800.0,
        True,
    )
    beta = study(
        "fractures.csv:5",
        "Beta2005",
        "Beta 2005",
        2005,
        30,
        500,
        28,
        500,
        1.07,
        0.65,
        1.76,
        37.5,
        "open",
        400.0,
        False,
    )
    hip = {
        "id": "fractures-hip",
        "title": "Hip fracture",
        "dataset": "fractures",
        "outcome": "hip",
        "measure": "RR",
        "scale": "log",
        "method": "REML",
        "ci_method": "hksj",
        "level": 0.95,
        "events_are": "harmful",
        "labels": {"left": "Favours vitamin D", "right": "Favours control"},
        "studies": [alpha, beta],
        "excluded": [
            {"row_id": "fractures.csv:9", "study_id": "Gamma2010", "reason": "arm sizes not found"}
        ],
        "overall": pooled(0.81, 0.62, 1.04, 0.094, 2, i2=23.4, tau2=0.0123, pi=(0.51, 1.29)),
        "tau2_ci": {"low": 0.0, "high": 0.456},
        "subgroups": {
            "dose_band": {
                "title": "Daily-equivalent dose",
                "q_between": 2.87,
                "df": 1,
                "p_value": 0.0903,
                "tau2": "separate",
                "groups": [
                    {
                        **pooled(1.07, 0.65, 1.76, 0.79, 1, i2=0.0, tau2=0.0, pi=None),
                        "group": "<800 IU/day",
                        "row_ids": ["fractures.csv:5"],
                    },
                    {
                        **pooled(0.67, 0.45, 0.99, 0.044, 1, i2=0.0, tau2=0.0, pi=None),
                        "group": "≥800 IU/day",
                        "row_ids": ["fractures.csv:2"],
                    },
                ],
            }
        },
        "meta_regression": {
            "daily_equivalent_iu": {
                "names": ["intercept", "daily_equivalent_iu"],
                "coef": [0.3, -0.0005],
                "ci_low": [-1.0, -0.0015],
                "ci_high": [1.6, 0.0005],
                "p_value": [0.6, 0.33],
                "k": 2,
            }
        },
        "egger": None,
        "trim_and_fill": None,
        "leave_one_out": [],
        "cumulative": [],
        "absolute": {
            "control_risk": 0.047,
            "control_risk_source": "median control risk of 2 included trials",
            "per_1000_control": 47.0,
            "per_1000_treat": 38.07,
            "per_1000_treat_ci": [29.14, 48.88],
        },
        "single_trial_nnt": None,
    }
    whi = study(
        "kidney_stones.csv:2",
        "Wallace2011",
        "Wallace 2011",
        2011,
        449,
        18176,
        381,
        18106,
        1.17,
        1.03,
        1.34,
        100.0,
        "double-blind",
        400.0,
        True,
        fu=7.0,
    )
    stones = {
        "id": "kidney-stones",
        "title": "Kidney stones",
        "dataset": "kidney_stones",
        "outcome": "kidney_stones",
        "measure": "RR",
        "scale": "log",
        "method": "REML",
        "ci_method": "hksj",
        "level": 0.95,
        "events_are": "harmful",
        "labels": {},
        "studies": [whi],
        "excluded": [],
        "overall": pooled(1.17, 1.03, 1.34, 0.017, 1, i2=0.0, tau2=0.0, pi=None),
        "tau2_ci": {"low": None, "high": None},
        "subgroups": {},
        "meta_regression": {},
        "egger": None,
        "absolute": {
            "control_risk": 0.021,
            "control_risk_source": "control risk of 1 trial",
            "per_1000_control": 21.04,
            "per_1000_treat": 24.62,
            "per_1000_treat_ci": [21.67, 28.2],
        },
        "single_trial_nnt": {
            "study_id": "Wallace2011",
            "row_id": "kidney_stones.csv:2",
            "direction": "harm",
            "rounded": 273,
            "nnt": -273.2,
            "label": "NNTH 273",
            "ci_label": "NNTH 148 to NNTH 1,712",
            "follow_up_years": 7.0,
            "rd_ci_low": 0.000584,
            "rd_ci_high": 0.006736,
            "risk_difference": 0.00366,
            "treat_risk": 0.0247,
            "control_risk": 0.02104,
            "level": 0.95,
        },
    }
    markers = [
        {
            "row_id": "avadec_markers.csv:2",
            "study_id": "Diederichsen2022",
            "marker": "aortic valve calcification score",
            "marker_group": "valve",
            "include": True,
            "publication": "Circulation (primary)",
            "timepoint_months": 24.0,
            "mean_difference": 17.0,
            "md_ci_low": -86.0,
            "md_ci_high": 53.0,
            "p_value": "0.64",
            "unit": "AU",
            "difference_of_changes": None,
            "published_ci_excludes_estimate": False,
            "change_treat": None,
            "change_control": None,
            "quote": "valve quote",
            "source_url": "https://example.org/avadec",
            "doi_or_pmid": "doi:10.1161/x",
        },
        {
            "row_id": "avadec_markers.csv:3",
            "study_id": "Diederichsen2022",
            "marker": "dp-ucMGP",
            "marker_group": "matrix Gla-protein",
            "include": True,
            "publication": "Circulation (primary)",
            "timepoint_months": 24.0,
            "mean_difference": None,
            "md_ci_low": None,
            "md_ci_high": None,
            "p_value": "<0.001",
            "unit": "pmol/L",
            "change_treat": -212.0,
            "change_control": 45.0,
            "difference_of_changes": -257.0,
            "published_ci_excludes_estimate": None,
            "quote": "MGP quote",
            "source_url": "https://example.org/avadec",
            "doi_or_pmid": "doi:10.1161/x",
        },
        {
            "row_id": "avadec_markers.csv:5",
            "study_id": "Diederichsen2022",
            "marker": "peak aortic jet velocity",
            "marker_group": "valve",
            "include": True,
            "publication": "Circulation (primary)",
            "timepoint_months": 24.0,
            "mean_difference": 0.04,
            "md_ci_low": -0.11,
            "md_ci_high": 0.02,
            "p_value": "0.21",
            "unit": "m/s",
            "difference_of_changes": None,
            "published_ci_excludes_estimate": True,
            "change_treat": None,
            "change_control": None,
            "quote": "velocity quote",
            "source_url": "https://example.org/avadec",
            "doi_or_pmid": "doi:10.1161/x",
        },
        {
            "row_id": "avadec_markers.csv:10",
            "study_id": "Hasific2025",
            "marker": "EAT attenuation",
            "marker_group": "adipose tissue",
            "include": False,
            "exclusion_reason": "results not found",
            "publication": "Atherosclerosis",
            "timepoint_months": 24.0,
            "mean_difference": None,
            "md_ci_low": None,
            "md_ci_high": None,
            "p_value": None,
            "unit": None,
            "difference_of_changes": None,
            "published_ci_excludes_estimate": None,
            "change_treat": None,
            "change_control": None,
            "quote": "EAT quote",
            "source_url": "https://example.org/eat",
            "doi_or_pmid": "PMID:41100911",
        },
    ]
    return {
        "fractures": {"dataset": "fractures", "analyses": [hip], "markers": []},
        "kidney_stones": {"dataset": "kidney_stones", "analyses": [stones], "markers": []},
        "avadec_markers": {
            "dataset": "avadec_markers",
            "analyses": [],
            "markers": [
                {
                    "id": "avadec",
                    "kind": "markers",
                    "title": "AVADEC trial: vitamin K2 + D3 versus placebo",
                    "markers": markers,
                }
            ],
        },
    }


FIGURES = {
    "fractures-hip.forest.svg": '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x">\n'
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><g id="patch_1"><rect width="10" height="10" clip-path="url(#c1)"/></g>'
    '<clipPath id="c1"><rect width="5" height="5"/></clipPath><text>Alpha 2001</text></svg>\n',
    "fractures-hip.forest.alt.txt": "Forest plot of hip fracture: 2 trials.\n",
}


def render(results=None, previous=None, figures=FIGURES, version="test-version"):
    return build_report(
        results or make_results(), figures, previous, NARRATIVE, SETTINGS, version=version
    )


class _Tables(HTMLParser):
    """Rows of every <table id=…> as lists of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables, self._id, self._row, self._cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._id = dict(attrs).get("id")
            self.tables[self._id] = []
        elif tag == "tr" and self._id:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._id].append(self._row)
            self._row = None
        elif tag == "table":
            self._id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(html):
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def text_of(html):
    import html as h

    text = re.sub(r"\s+", " ", h.unescape(re.sub(r"<[^>]+>", " ", html)))
    return re.sub(r" ([;:,.)])", r"\1", text)


@pytest.fixture(scope="module")
def report():
    return render()


def test_every_section_heading_in_order(report):
    headings = re.findall(r"<h2[^>]*>(.*?)</h2>", report)
    assert headings == [
        "Bottom line",
        "Theoretical mechanism of action",
        "Clinical evidence: bone health by dose",
        "Cardiovascular outcomes and the AVADEC markers",
        "Target levels and dosing",
        "Critical pitfalls: kidney stones",
        "Summary of findings",
        "Clinical recommendation",
        "What changed since the last report",
        "References",
        "Provenance appendix",
    ]
    levels = [int(n) for n in re.findall(r"<h([1-6])", report)]
    assert levels[0] == 1 and all(b - a <= 1 for a, b in itertools.pairwise(levels))


def test_pooled_numbers_are_the_fixture_values_formatted(report):
    hip = make_results()["fractures"]["analyses"][0]
    o = hip["overall"]
    rows = tables(report)["analysis-fractures-hip-pooled"]
    assert rows[1] == [
        "All trials",
        "2",
        fmt.count(1000 + 1000 + 500 + 500),
        fmt.ratio(o["estimate_exp"]),
        fmt.interval(o["ci_low_exp"], o["ci_high_exp"]),
        fmt.p_value(o["p_value"]),
        fmt.percent(o["i2"]),
        fmt.tau2(o["tau2"]),
        fmt.interval(o["pi_low_exp"], o["pi_high_exp"]),
        "fractures.csv:2, fractures.csv:5",
    ]
    assert rows[1][3:9] == ["0.81", "0.62 to 1.04", "P = 0.09", "23%", "0.012", "0.51 to 1.29"]
    sub = hip["subgroups"]["dose_band"]
    assert "Chi² = 2.87, df = 1, P = 0.09" in rows[2][0]
    high = rows[4]
    assert high[0] == "≥800 IU/day" and high[3:5] == ["0.67", "0.45 to 0.99"]
    assert sub["groups"][1]["row_ids"] == ["fractures.csv:2"] and high[-1] == "fractures.csv:2"
    # the pooled line links to the provenance rows behind it
    assert 'href="#row-fractures-csv-2"' in report and 'id="row-fractures-csv-2"' in report


def test_every_included_study_named_with_its_counts(report):
    rows = tables(report)["analysis-fractures-hip-studies"]
    assert [r[0] for r in rows[1:]] == ["Alpha 2001 D3 vs placebo", "Beta 2005 D3 vs placebo"]
    assert rows[1][1:6] == ["40/1,000", "60/1,000", "0.67", "0.45 to 0.99", "62.5%"]
    stones = tables(report)["analysis-kidney-stones-studies"]
    assert (
        stones[1][0] == "Wallace 2011 D3 vs placebo"
        and stones[1][1] == "449/18,176"
        and stones[1][7] == "yes"
    )


def test_sof_one_row_per_outcome_with_certainty_and_reasons(report):
    rows = tables(report)["sof-table"][1:]
    assert [r[0].split(" Control risk: ")[0] for r in rows] == ["Hip fracture", "Kidney stones"]
    assert rows[0][0].endswith("Control risk: median control risk of 2 included trials")
    hip = rows[0]
    assert (
        hip[1].startswith("47") and hip[2] == "38 (29 to 49)" and hip[3] == "RR 0.81 (0.62 to 1.04)"
    )
    assert hip[4] == "3,000 (2)"
    # 37.5% open-label weight < 50%: no RoB downgrade; CI crosses 1: imprecision -1; 98 events < 300: same level
    assert "⊕⊕⊕⊝" in hip[5] and "Moderate" in hip[5]
    assert (
        "Imprecision (−1): serious: the 95% CI (0.62 to 1.04) includes no effect; 158 events"
        in hip[6]
    )
    assert "38% of the weight from open-label trials (1 of 2)" in hip[6]
    assert hip[7] == "Vitamin D probably makes little or no difference to hip fracture."
    stones = rows[1]
    assert "High" in stones[5] and stones[7] == "Vitamin D increases kidney stones."


def test_whi_nnh_sentence_with_altman_convention_and_time_frame(report):
    assert (
        "In Wallace 2011 (vitamin D given with calcium), over 7.0 years, one additional person had "
        "kidney stones for every 273 treated (NNTH 273, 95% CI NNTH 148 to NNTH 1,712; 25 vs 21 per 1,000)."
    ) in text_of(report)


def test_markers_show_numbers_or_say_they_are_missing(report):
    text = text_of(report)
    assert (
        "aortic valve calcification score: no evidence of a difference (mean difference 17; 95% CI -86 to 53; published P 0.64; AU)"
        in text
    )
    assert "EAT attenuation: numbers not available in the extracted sources." in text
    assert (
        "Published inconsistency: the printed estimate (0.04) lies outside its printed 95% CI (-0.11 to 0.02)."
        in text
    )
    assert "dp-ucMGP: changed with vitamin K2 + D3 versus placebo" in text


def test_narrative_blocks_are_marked_and_cited(report):
    blocks = re.findall(r'<aside class="narrative".*?</aside>', report, flags=re.S)
    assert len(blocks) == 5
    assert all("Narrative (not computed from data)" in b and 'href="#ref-' in b for b in blocks)
    assert 'href="https://doi.org/10.1210/jc.2011-0385"' in report


def test_provenance_lists_included_and_excluded_rows_with_links(report):
    rows = tables(report)["provenance-table"][1:]
    ids = [r[0] for r in rows]
    assert {
        "fractures.csv:2",
        "fractures.csv:5",
        "fractures.csv:9",
        "kidney_stones.csv:2",
        "avadec_markers.csv:10",
    } <= set(ids)
    gamma = rows[ids.index("fractures.csv:9")]
    assert gamma[2] == "excluded: arm sizes not found"
    assert (
        'href="https://doi.org/10.1000/alpha2001"' in report
        and 'href="https://pubmed.ncbi.nlm.nih.gov/12342001/"' in report
    )


def test_figures_inlined_without_prolog_with_alt_text_and_unique_ids(report):
    assert "<?xml" not in report and "<!DOCTYPE svg" not in report
    assert '<svg role="img" aria-label="Forest plot of hip fracture: 2 trials."' in report
    assert "<figcaption>Forest plot of hip fracture: 2 trials.</figcaption>" in report
    assert (
        'id="f-fractures-hip-forest-c1"' in report and "url(#f-fractures-hip-forest-c1)" in report
    )


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


def test_ids_and_their_references_get_the_figure_prefix() -> None:
    svg = '<svg><g id="a"><use href="#a"/></g><path clip-path="url(#a)" grid="b"/><use href="#b"/></svg>'
    out = str(inline_svg(svg, "f1", "alt"))
    assert 'id="f1-a"' in out and 'href="#f1-a"' in out and "url(#f1-a)" in out
    assert 'href="#b"' in out  # b is not an id of the figure: left alone


def test_first_report_then_changes_listed():
    assert "First report: there is no previous report to compare with." in text_of(render())
    previous = make_results()
    hip = previous["fractures"]["analyses"][0]
    hip["studies"] = hip["studies"][:1]  # Beta 2005 is new in the current results
    hip["overall"] = pooled(0.70, 0.52, 0.94, 0.02, 1, pi=None)
    text = text_of(render(previous=previous))
    rows = tables(render(previous=previous))["changes-estimates"]
    assert [
        "fractures-hip",
        "overall",
        "all",
        "RR 0.70 (0.52 to 0.94); k = 1",
        "RR 0.81 (0.62 to 1.04); k = 2",
    ] in rows
    assert "fractures-hip: added fractures.csv:5; removed none" in text
    assert "fractures-hip: effect" in text  # the conclusion's wording changed too


def test_conclusion_flips_when_the_ci_excludes_one():
    before = text_of(render())
    assert (
        "Vitamin D probably makes little or no difference to hip fracture (RR 0.81, 95% CI 0.62 to 0.95"
        not in before
    )
    results = make_results()
    results["fractures"]["analyses"][0]["overall"] = pooled(
        0.81, 0.62, 0.95, 0.01, 2, i2=23.4, tau2=0.0123, pi=(0.7, 0.94)
    )
    after = text_of(render(results))
    # CI now excludes 1: benefit; imprecision no longer for the CI but 158 events < 300 keeps one level
    assert (
        "Vitamin D probably reduces hip fracture (RR 0.81, 95% CI 0.62 to 0.95; 2 trials; moderate certainty)."
        in after
    )
    assert "Routine vitamin D supplementation to prevent fractures is not supported" in before
    assert "Routine vitamin D supplementation to prevent fractures is not supported" not in after
    assert "Vitamin D may be considered to prevent hip fracture" in after


def test_study_names_are_escaped():
    results = make_results()
    results["fractures"]["analyses"][0]["studies"][0]["label"] = HOSTILE
    html = render(results)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34;" in html


def test_matplotlib_escapes_hostile_names_in_svg_figures():
    from test_plots_forest import make_analysis

    from evsynth.plots import forest_plot
    from evsynth.plots.output import svg_bytes

    analysis = make_analysis(4)
    analysis["studies"][0]["label"] = HOSTILE
    svg = svg_bytes(forest_plot(analysis)).decode("utf-8")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    inline_svg(svg, "f", "alt")  # passes the report's own check


def test_build_is_deterministic_and_has_no_clock():
    a, b = render(), render()
    assert a == b
    assert "test-version" in a
    assert not re.search(r"20\d\d-\d\d-\d\d[ T]\d\d:\d\d", a)


def test_self_contained_without_scripts_or_external_resources(report):
    assert "<script" not in report
    assert not re.search(r"<(link|img|iframe)\b", report)
    assert not re.search(r'src="', report)
    assert "@media print" in report
    assert report.count("<caption>") == report.count("<table")
    assert 'scope="col"' in report


def test_script_writes_atomically_and_keeps_the_last_good_report(tmp_path):
    import json

    results = make_results()
    (tmp_path / "analyses").mkdir()
    (tmp_path / "figures").mkdir()
    for name, data in results.items():
        (tmp_path / "analyses" / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")
    for name, text in FIGURES.items():
        (tmp_path / "figures" / name).write_text(text, encoding="utf-8")
    out = tmp_path / "report.html"
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "report.py"),
        "--results",
        str(tmp_path),
        "--output",
        str(out),
        "--narrative",
        str(ROOT / "config" / "narrative.yaml"),
        "--settings",
        str(ROOT / "config" / "report.yaml"),
    ]
    subprocess.run(cmd, check=True, cwd=ROOT)
    first = out.read_bytes()
    subprocess.run(cmd, check=True, cwd=ROOT)
    assert out.read_bytes() == first  # byte-identical rerun
    (tmp_path / "figures" / "fractures-hip.forest.svg").write_text(
        "<svg><script>x</script></svg>", encoding="utf-8"
    )
    failed = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert failed.returncode != 0 and "active content" in failed.stderr
    assert out.read_bytes() == first
    assert not list(tmp_path.glob(".report.html.*"))


def test_a_figure_the_config_switched_off_is_simply_not_shown():
    """config/report.yaml lists the figures to inline for every analysis; one that was not
    drawn (switched off in the config's figures setting, or not possible for the data, such
    as a bubble plot without a meta-regression) is left out, without an error or a gap."""
    assert "forest" in SETTINGS["figures"]
    shown = render()
    assert 'id="fig-fractures-hip-forest"' in shown
    without = render(figures={})
    assert "<figure" not in without
    assert without.count("<h2") == shown.count("<h2")


def test_report_reads_only_the_figures_the_manifests_list(tmp_path):
    from evsynth.report.build import load_inputs

    figures = tmp_path / "figures"
    figures.mkdir()
    (tmp_path / "analyses").mkdir()
    for name, text in FIGURES.items():
        (figures / name).write_text(text, encoding="utf-8")
    stale = "fractures-hip.funnel.svg"  # drawn by an earlier run, switched off since
    (figures / stale).write_text(FIGURES["fractures-hip.forest.svg"], encoding="utf-8")
    narrative, settings = ROOT / "config/narrative.yaml", ROOT / "config/report.yaml"
    assert stale in load_inputs(tmp_path, narrative, settings)["figures"]  # no manifest
    listed = {"dataset": "fractures", "files": sorted(FIGURES)}
    (figures / "fractures.figures.json").write_text(json.dumps(listed), encoding="utf-8")
    assert sorted(load_inputs(tmp_path, narrative, settings)["figures"]) == sorted(FIGURES)


def test_inline_svg_prefixes_every_id_reference_as_one_replace_per_id_would():
    """inline_svg rewrites id references in one pass; the result is what replacing each id
    (longest first) in turn gives, on a real funnel plot (matplotlib: clip paths, <use>)."""
    from evsynth.plots import funnel_plot
    from evsynth.plots.output import svg_bytes
    from evsynth.report.build import _ID, _PROLOG

    sys.path.insert(0, str(Path(__file__).parent))
    from test_plots_forest import make_analysis

    svg = svg_bytes(funnel_plot(make_analysis(6, long_label=True))).decode()
    body = _PROLOG.sub("", svg).strip()
    ids = set(_ID.findall(body))
    assert len(ids) > 20 and "url(#" in body and 'href="#' in body
    for old in sorted(ids, key=len, reverse=True):
        body = body.replace(f'id="{old}"', f'id="f-x-{old}"')
        body = body.replace(f'href="#{old}"', f'href="#f-x-{old}"')
        body = body.replace(f"url(#{old})", f"url(#f-x-{old})")
    expected = body.replace("<svg ", '<svg role="img" aria-label="Alt &amp; text" ', 1)
    assert str(inline_svg(svg, "f-x", "Alt & text")) == expected


def test_report_version_is_a_digest_of_every_input(tmp_path):
    """The same inputs give the same version; a changed result, figure, previous result,
    narrative or setting gives another."""
    from evsynth.report.build import load_inputs

    (tmp_path / "analyses").mkdir()
    (tmp_path / "figures").mkdir()
    (tmp_path / "previous").mkdir()
    results = {"dataset": "fractures", "analyses": []}
    (tmp_path / "analyses/fractures.json").write_text(json.dumps(results), encoding="utf-8")
    (tmp_path / "figures/a.svg").write_text("<svg/>", encoding="utf-8")
    narrative, settings = tmp_path / "narrative.yaml", tmp_path / "report.yaml"
    narrative.write_text("title: T\n", encoding="utf-8")
    settings.write_text("a: 1\n", encoding="utf-8")

    def version(previous=None):
        return load_inputs(tmp_path, narrative, settings, previous)["version"]

    seen = [version()]
    assert version() == seen[0]
    seen.append(version(tmp_path / "previous"))
    (tmp_path / "previous/fractures.json").write_text(json.dumps(results), encoding="utf-8")
    seen.append(version(tmp_path / "previous"))
    changed = {**results, "analyses": [{"id": "x"}]}
    (tmp_path / "analyses/fractures.json").write_text(json.dumps(changed), encoding="utf-8")
    seen.append(version())
    (tmp_path / "figures/a.svg").write_text("<svg />", encoding="utf-8")
    seen.append(version())
    narrative.write_text("title: U\n", encoding="utf-8")
    seen.append(version())
    settings.write_text("a: 2\n", encoding="utf-8")
    seen.append(version())
    assert len(set(seen)) == len(seen), seen
    assert all(len(v) == 12 for v in seen)
