"""Forest plots: content and structure of the SVG, layout without overlapping text.

The analysis dicts are made up by hand (numbers are invented, not trial data) in the format
of docs/results.md.
"""

from __future__ import annotations

import math
import re
import time
import xml.etree.ElementTree as ET
from itertools import combinations

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from evsynth.plots import forest_plot
from evsynth.plots.layout import fmt_p, heterogeneity_text, overall_test_text
from evsynth.plots.output import svg_bytes

SVG = "{http://www.w3.org/2000/svg}"
LONG_LABEL = "Extraordinarily Long Trial Acronym Collaborative Group Investigators 2019"


def pooled(estimate: float, se: float, k: int, **extra) -> dict:
    """PoolResult-like dict on the log scale (made-up numbers)."""
    result = {
        "estimate": estimate,
        "se": se,
        "ci_low": estimate - 1.96 * se,
        "ci_high": estimate + 1.96 * se,
        "statistic": estimate / se,
        "p_value": 0.04,
        "df": None,
        "tau2": 0.0123,
        "tau": 0.111,
        "i2": 43.3,
        "h2": 1.76,
        "q": 12.344,
        "q_df": k - 1,
        "q_pvalue": 0.09,
        "pi_low": estimate - 0.5,
        "pi_high": estimate + 0.4,
        "k": k,
        "method": "REML",
        "ci_method": "z",
        "level": 0.95,
        "converged": True,
        "tau2_on_boundary": False,
    }
    result.update(extra)
    for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        result[f"{key}_exp"] = math.exp(result[key])
    return result


def make_analysis(
    k: int, *, long_label: bool = False, measure: str = "RR", ci_method: str = "z"
) -> dict:
    """A hand-made analysis with k studies, two subgroups, one generic study."""
    studies = []
    for i in range(k):
        yi = -0.3 + 0.6 * ((i * 7) % 11) / 10
        vi = 0.01 + 0.05 * ((i * 3) % 5)
        generic = i == 1
        label = LONG_LABEL if long_label and i == 0 else f"Trial{i:02d} {1990 + i}"
        studies.append(
            {
                "row_id": f"made_up.csv:{i + 2}",
                "study_id": f"T{i}",
                "label": label,
                "year": 1990 + i,
                "input": "generic" if generic else "2x2",
                "events_treat": None if generic else 20 + i,
                "n_treat": 500 + 10 * i,
                "events_control": None if generic else 25 + i,
                "n_control": 510 + 10 * i,
                "effect_measure": "HR" if generic else None,
                "effect": 0.95 if generic else None,
                "effect_ci_low": 0.79 if generic else None,
                "effect_ci_high": 1.15 if generic else None,
                "yi": yi,
                "vi": vi,
                "ci_low": yi - 1.96 * math.sqrt(vi),
                "ci_high": yi + 1.96 * math.sqrt(vi),
                "weight_pct": 100.0 / k * (0.5 + (i % 3) / 2),
                "daily_equivalent_iu": 400.0 + 100 * (i % 8),
                "dose_band": "<800 IU/day" if i % 2 else "≥800 IU/day",
            }
        )
    ratio = measure in {"RR", "OR", "HR"}
    half = [s["row_id"] for s in studies if s["dose_band"] == "<800 IU/day"]
    rest = [s["row_id"] for s in studies if s["dose_band"] != "<800 IU/day"]
    extra = {"ci_method": ci_method}
    if ci_method == "hksj":
        extra["df"] = float(k - 1)
    analysis = {
        "id": f"made-up-{k}",
        "title": "Hip fracture",
        "dataset": "made_up",
        "measure": measure,
        "scale": "log" if ratio else "identity",
        "method": "REML",
        "ci_method": ci_method,
        "level": 0.95,
        "events_are": "harmful",
        "labels": {"left": "Favours vitamin D", "right": "Favours control"},
        "studies": studies,
        "overall": pooled(-0.1, 0.05, k, statistic=-2.1, **extra),
        "subgroups": {
            "dose_band": {
                "title": "Daily dose",
                "groups": [
                    {"group": "<800 IU/day", "row_ids": half, **pooled(-0.2, 0.1, len(half))},
                    {"group": "≥800 IU/day", "row_ids": rest, **pooled(0.05, 0.08, len(rest))},
                ],
                "q_between": 3.21,
                "df": 1,
                "p_value": 0.073,
                "tau2": "separate",
            }
        },
        "leave_one_out": [
            {"label": s["label"], **pooled(-0.1 + 0.01 * i, 0.06, k - 1)}
            for i, s in enumerate(studies)
        ],
        "cumulative": [
            {"label": s["label"], **pooled(-0.1 - 0.01 * i, 0.3 / (i + 1), i + 1)}
            for i, s in enumerate(studies)
        ],
    }
    return analysis


def svg_root(fig) -> ET.Element:
    return ET.fromstring(svg_bytes(fig))


def svg_texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def groups_with_id(root: ET.Element, prefix: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("id", "").startswith(prefix)]


def path_vertices(group: ET.Element) -> int:
    path = next(group.iter(f"{SVG}path"))
    points = re.findall(r"[ML]\s*([-\d.e]+)\s+([-\d.e]+)", path.get("d", ""))
    return len(set(points))


def text_boxes(fig):
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    artists = list(fig.texts)
    for ax in fig.axes:
        artists += ax.texts + ax.get_xticklabels() + ax.get_yticklabels()
    boxes = []
    for artist in artists:
        if artist.get_visible() and artist.get_text().strip():
            boxes.append((artist.get_text(), artist.get_window_extent(renderer)))
    return boxes


def overlapping(boxes) -> list[tuple[str, str]]:
    pairs = []
    for (ta, a), (tb, b) in combinations(boxes, 2):
        if min(a.x1, b.x1) - max(a.x0, b.x0) > 0.5 and min(a.y1, b.y1) - max(a.y0, b.y0) > 0.5:
            pairs.append((ta, tb))
    return pairs


# ---- formatting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.000001, "P < 0.00001"),
        (0.00042, "P = 0.0004"),
        (0.0034, "P = 0.003"),
        (0.0449, "P = 0.04"),
        (0.09, "P = 0.09"),
        (0.51, "P = 0.51"),
        (1.0, "P = 1.00"),
    ],
)
def test_p_values_are_formatted_like_revman(p, text):
    assert fmt_p(p) == text


def test_heterogeneity_and_overall_lines():
    result = pooled(-0.1, 0.05, 8, statistic=-2.1)
    assert heterogeneity_text(result) == (
        "Heterogeneity: Tau² = 0.01; Chi² = 12.34, df = 7 (P = 0.09); I² = 43%"
    )
    assert overall_test_text(result) == "Test for overall effect: Z = 2.10 (P = 0.04)"
    hksj = pooled(-0.1, 0.05, 8, statistic=-2.1, ci_method="hksj", df=7.0)
    assert overall_test_text(hksj) == "Test for overall effect: t = 2.10, df = 7 (P = 0.04)"


# ---- standard forest plot ----------------------------------------------------------------


def test_standard_forest_plot_content():
    analysis = make_analysis(8)
    fig = forest_plot(analysis)
    root = svg_root(fig)
    texts = svg_texts(root)
    for study in analysis["studies"]:
        assert study["label"] in texts
    assert "Total (95% CI)" in texts
    assert "Subtotal (95% CI)" not in texts
    assert "Heterogeneity: Tau² = 0.01; Chi² = 12.34, df = 7 (P = 0.09); I² = 43%" in texts
    assert "Test for overall effect: Z = 2.10 (P = 0.04)" in texts
    assert "Favours vitamin D" in texts and "Favours control" in texts
    assert "Prediction interval" in texts
    assert "Random effects (REML), 95% CI by Wald (normal)" in texts
    assert "HR 0.95 [0.79, 1.15] (published)" in texts  # the generic row
    assert {"Risk Ratio", "IV, Random, 95% CI", "Vitamin D", "Control", "Weight"} <= set(texts)
    diamonds = groups_with_id(root, "diamond-")
    assert len(diamonds) == 1 and path_vertices(diamonds[0]) == 4
    assert fig.axes[0].get_xscale() == "log"
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert "1" in ticks
    # totals of participants over all studies, events over the 2x2 rows only
    n1 = sum(s["n_treat"] for s in analysis["studies"])
    e1 = sum(s["events_treat"] for s in analysis["studies"] if s["events_treat"] is not None)
    assert f"{n1:,}" in texts and f"{e1:,}" in texts


def test_hksj_footer_and_method_line():
    texts = svg_texts(svg_root(forest_plot(make_analysis(8, ci_method="hksj"))))
    assert "Test for overall effect: t = 2.10, df = 7 (P = 0.04)" in texts
    assert "Random effects (REML), 95% CI by Hartung-Knapp-Sidik-Jonkman" in texts


def test_effect_text_and_square_area_proportional_to_weight():
    analysis = make_analysis(6)
    fig = forest_plot(analysis)
    texts = svg_texts(svg_root(fig))
    s = analysis["studies"][0]
    expected = "{:.2f} [{:.2f}, {:.2f}]".format(
        math.exp(s["yi"]), math.exp(s["ci_low"]), math.exp(s["ci_high"])
    )
    assert expected in texts
    squares = next(c for c in fig.axes[0].collections if c.get_gid() == "squares")
    areas = squares.get_sizes()  # marker areas, pt²
    assert len(areas) == 6
    weights = [st["weight_pct"] for st in analysis["studies"]]
    for w, a in zip(weights, areas, strict=True):
        assert a / areas[0] == pytest.approx(w / weights[0])
    # each square sits on its study's estimate, in its row
    offsets = squares.get_offsets()
    assert list(offsets[:, 0]) == pytest.approx([math.exp(st["yi"]) for st in analysis["studies"]])
    assert list(offsets[:, 1]) == pytest.approx([i + 0.5 for i in range(6)])


def test_identity_axis_for_difference_measures():
    fig = forest_plot(make_analysis(4, measure="MD"))
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear"
    null = next(line for line in ax.lines if line.get_gid() == "null-line")
    assert null.get_xdata()[0] == 0.0


def test_arrows_when_ci_leaves_the_axis():
    analysis = make_analysis(3)
    analysis["studies"][2].update(ci_low=math.log(0.001), ci_high=math.log(400.0), yi=0.2)
    fig = forest_plot(analysis)
    arrows = {line.get_gid(): line for line in fig.axes[0].lines}
    xmin, xmax = fig.axes[0].get_xlim()
    row_2 = 2 + 0.5  # centre of the third study's row
    for gid, edge in (("arrows-left", xmin), ("arrows-right", xmax)):
        assert row_2 in list(arrows[gid].get_ydata())
        assert set(arrows[gid].get_xdata()) == {edge}
    ci = next(c for c in fig.axes[0].collections if c.get_gid() == "ci-lines")
    low, high = ci.get_segments()[2][:, 0]
    assert (low, high) == (xmin, xmax)  # cut at the axis


# ---- subgroups ------------------------------------------------------------------------------


def test_subgroup_forest_plot():
    analysis = make_analysis(10)
    fig = forest_plot(analysis, "dose_band")
    root = svg_root(fig)
    texts = svg_texts(root)
    assert texts.count("Subtotal (95% CI)") == 2
    assert "Total (95% CI)" in texts
    assert "1 <800 IU/day" in texts and "2 ≥800 IU/day" in texts
    assert "Test for subgroup differences: Chi² = 3.21, df = 1 (P = 0.07), I² = 68.8%" in texts
    group = analysis["subgroups"]["dose_band"]["groups"][0]
    assert heterogeneity_text(group) in texts
    assert texts.count("Test for overall effect: Z = 2.00 (P = 0.04)") == 1  # first group
    diamonds = groups_with_id(root, "diamond-")
    assert len(diamonds) == 3
    assert all(path_vertices(d) == 4 for d in diamonds)
    assert not overlapping(text_boxes(fig))


def test_unknown_subgroup_says_which_exist():
    with pytest.raises(KeyError, match="dose_band"):
        forest_plot(make_analysis(3), "vitamin_d_form")


# ---- sizing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 40])
def test_no_overlapping_text_and_height_grows_with_rows(k):
    fig = forest_plot(make_analysis(k, long_label=True))
    assert not overlapping(text_boxes(fig))
    _width, height = fig.get_size_inches()
    rows = k + 4 + 3 + 4  # studies, blank/total/events/PI, header, footer
    assert 0.2 * rows < height < 0.27 * rows + 0.5


def test_figure_height_scales_with_studies():
    small = forest_plot(make_analysis(2)).get_size_inches()[1]
    large = forest_plot(make_analysis(40)).get_size_inches()[1]
    assert large - small == pytest.approx(38 * 0.23, rel=0.05)


def test_long_label_shortened_but_full_name_kept_in_svg():
    fig = forest_plot(make_analysis(3, long_label=True))
    svg = svg_bytes(fig).decode()
    root = ET.fromstring(svg)
    texts = svg_texts(root)
    assert LONG_LABEL not in texts
    shortened = [t for t in texts if t.endswith("…") and LONG_LABEL.startswith(t[:-1].rstrip())]
    assert len(shortened) == 1
    titles = ["".join(t.itertext()) for t in root.iter(f"{SVG}title")]
    assert LONG_LABEL in titles


def test_forty_studies_draw_quickly():
    analysis = make_analysis(40)
    start = time.perf_counter()
    fig = forest_plot(analysis)
    svg_bytes(fig)
    assert time.perf_counter() - start < 5.0


# ---- leave-one-out and cumulative -----------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "prefix"), [("leave_one_out", "Omitting "), ("cumulative", "+ ")]
)
def test_sensitivity_variants(variant, prefix):
    analysis = make_analysis(5)
    fig = forest_plot(analysis, variant=variant)
    texts = svg_texts(svg_root(fig))
    for study in analysis["studies"]:
        assert prefix + study["label"] in texts
    dots = next(line for line in fig.axes[0].lines if line.get_gid() == "dots")
    assert len(dots.get_xdata()) == 5  # one equal dot per row, no weights
    assert not any(c.get_gid() == "squares" for c in fig.axes[0].collections)
    assert "All studies (95% CI)" in texts
    assert not overlapping(text_boxes(fig))


def test_bad_variant_is_rejected():
    with pytest.raises(ValueError, match="variant"):
        forest_plot(make_analysis(3), variant="funnel")  # type: ignore[arg-type]
