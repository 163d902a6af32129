"""Forest plots: what each row says, the axis, the layout, and the SVG's structure.

Two kinds of analysis dicts in the layout of docs/results.md: ``make_analysis`` (invented
numbers, any k, used by other test files too) and ``bcg_analysis`` (the BCG vaccine trials,
metafor's dat.bcg, pooled by evsynth's engine). Plots are checked by their data and structure
(texts per row, marks per group), not by pixels.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict
from itertools import combinations

import numpy as np
import pytest

import evsynth
from evsynth.plots import forest_axis, forest_plot, forest_table
from evsynth.plots.axis import Axis, axis_data, difference_axis, ratio_axis
from evsynth.plots.drawing import Drawing, Text
from evsynth.plots.fonts import face, text_width
from evsynth.plots.output import svg_bytes
from evsynth.plots.texts import heterogeneity_text, overall_test_text

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


def _made_up_study(i: int, k: int, long_label: bool) -> dict:
    yi = -0.3 + 0.6 * ((i * 7) % 11) / 10
    vi = 0.01 + 0.05 * ((i * 3) % 5)
    generic = i == 1
    return {
        "row_id": f"made_up.csv:{i + 2}",
        "study_id": f"T{i}",
        "trial": f"T{i}",
        "label": LONG_LABEL if long_label and i == 0 else f"Trial{i:02d} {1990 + i}",
        "comparison": "active vs placebo",
        "year": 1990 + i,
        "input": "generic" if generic else "2x2",
        "measure": "HR" if generic else "RR",
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
        "latitude": 10.0 + 5 * (i % 8),
        "dose_band": "low dose" if i % 2 else "high dose",
    }


def make_analysis(
    k: int, *, long_label: bool = False, measure: str = "RR", ci_method: str = "z"
) -> dict:
    """A hand-made analysis with k studies (study 1 entered as a published HR), a subgroup
    ``dose_band`` (groups "low dose", "high dose") and a moderator ``latitude``."""
    studies = [_made_up_study(i, k, long_label) for i in range(k)]
    ratio = measure in {"RR", "OR", "HR"}
    low = [s["row_id"] for s in studies if s["dose_band"] == "low dose"]
    high = [s["row_id"] for s in studies if s["dose_band"] != "low dose"]
    extra: dict = {"ci_method": ci_method}
    if ci_method == "hksj":
        extra["df"] = float(k - 1)
    return {
        "id": f"made-up-{k}",
        "title": "Made-up outcome",
        "dataset": "made_up",
        "measure": measure,
        "measure_label": "Ratio (RR or HR)" if ratio else "Mean Difference",
        "scale": "log" if ratio else "identity",
        "method": "REML",
        "ci_method": ci_method,
        "level": 0.95,
        "min_k_egger": 10,
        "events_are": "harmful",
        "arm_labels": ["Active drug", "Placebo"],
        "labels": {"left": "Favours active drug", "right": "Favours placebo"},
        "variables": {
            "dose_band": {"title": "Dose given", "unit": None},
            "latitude": {"title": "Latitude", "unit": "degrees"},
        },
        "studies": studies,
        "overall": pooled(-0.1, 0.05, k, statistic=-2.1, **extra),
        "subgroups": {
            "dose_band": {
                "title": "Dose given",
                "groups": [
                    {"group": "low dose", "row_ids": low, **pooled(-0.2, 0.1, len(low))},
                    {"group": "high dose", "row_ids": high, **pooled(0.05, 0.08, len(high))},
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


# BCG vaccine trials, metafor's dat.bcg: author, year, tpos, tneg, cpos, cneg, ablat, alloc
BCG = [
    ("Aronson", 1948, 4, 119, 11, 128, 44, "random"),
    ("Ferguson & Simes", 1949, 6, 300, 29, 274, 55, "random"),
    ("Rosenthal et al", 1960, 3, 228, 11, 209, 42, "random"),
    ("Hart & Sutherland", 1977, 62, 13536, 248, 12619, 52, "random"),
    ("Frimodt-Moller et al", 1973, 33, 5036, 47, 5761, 13, "alternate"),
    ("Stein & Aronson", 1953, 180, 1361, 372, 1079, 44, "alternate"),
    ("Vandiviere et al", 1973, 8, 2537, 10, 619, 19, "random"),
    ("TPT Madras", 1980, 505, 87886, 499, 87892, 13, "random"),
    ("Coetzee & Berjak", 1968, 29, 7470, 45, 7232, 27, "random"),
    ("Rosenthal et al", 1961, 17, 1699, 65, 1600, 42, "systematic"),
    ("Comstock et al", 1974, 186, 50448, 141, 27197, 18, "systematic"),
    ("Comstock & Webster", 1969, 5, 2493, 3, 2338, 33, "systematic"),
    ("Comstock et al", 1976, 27, 16886, 29, 17825, 33, "systematic"),
]


def _pool_dict(result) -> dict:
    out = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in asdict(result).items()}
    for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        out[f"{key}_exp"] = math.exp(out[key])
    return out


def bcg_analysis() -> dict:
    """The 13 BCG trials as the analysis stage would write them: RR by REML, subgroups by
    allocation, meta-regression on absolute latitude (numbers from evsynth's engine)."""
    a = np.array([r[2] for r in BCG], float)
    n1 = a + [r[3] for r in BCG]
    c = np.array([r[4] for r in BCG], float)
    n2 = c + [r[5] for r in BCG]
    es = evsynth.binary_effects(a, n1, c, n2, "RR")
    yi, vi = np.asarray(es.yi), np.asarray(es.vi)
    overall = evsynth.pool(yi, vi)
    w = 1 / (vi + overall.tau2)
    studies = []
    for i, (author, year, tpos, tneg, cpos, cneg, ablat, alloc) in enumerate(BCG):
        half = 1.959963984540054 * math.sqrt(vi[i])
        studies.append(
            {
                "row_id": f"bcg.csv:{i + 2}",
                "study_id": f"{author} {year}",
                "trial": f"{author} {year}",
                "label": f"{author} {year}",
                "input": "2x2",
                "measure": "RR",
                "events_treat": tpos,
                "n_treat": tpos + tneg,
                "events_control": cpos,
                "n_control": cpos + cneg,
                "yi": float(yi[i]),
                "vi": float(vi[i]),
                "ci_low": float(yi[i] - half),
                "ci_high": float(yi[i] + half),
                "weight_pct": float(100 * w[i] / w.sum()),
                "ablat": float(ablat),
                "alloc": alloc,
            }
        )
    groups = []
    for alloc in ("random", "alternate", "systematic"):
        idx = [i for i, s in enumerate(studies) if s["alloc"] == alloc]
        group = _pool_dict(evsynth.pool(yi[idx], vi[idx]))
        groups.append({"group": alloc, "row_ids": [studies[i]["row_id"] for i in idx], **group})
    return {
        "id": "bcg-tb",
        "title": "Tuberculosis (BCG trials)",
        "measure": "RR",
        "measure_label": "Risk Ratio",
        "scale": "log",
        "method": "REML",
        "ci_method": "z",
        "level": 0.95,
        "min_k_egger": 10,
        "arm_labels": ["BCG vaccine", "Not vaccinated"],
        "labels": {"left": "Favours BCG vaccine", "right": "Favours not vaccinated"},
        "variables": {
            "alloc": {"title": "Method of allocation", "unit": None},
            "ablat": {"title": "Absolute latitude", "unit": "degrees"},
        },
        "studies": studies,
        "overall": _pool_dict(overall),
        "subgroups": {
            "alloc": {
                "title": "Method of allocation",
                "groups": groups,
                "q_between": 1.0,
                "df": 2,
                "p_value": 0.61,
            }
        },
    }


# ---- SVG helpers ------------------------------------------------------------------------


def svg_root(fig) -> ET.Element:
    return ET.fromstring(svg_bytes(fig))


def svg_texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def group(root: ET.Element, gid: str) -> ET.Element:
    return next(g for g in root.iter(f"{SVG}g") if g.get("id") == gid)


def group_texts(root: ET.Element, gid: str) -> list[str]:
    return svg_texts(group(root, gid))


def row_texts(root: ET.Element) -> list[list[str]]:
    """Texts of each table row, in order (groups row-0, row-1, …)."""
    rows = [g for g in root.iter(f"{SVG}g") if re.fullmatch(r"row-\d+", g.get("id", ""))]
    rows.sort(key=lambda g: int(g.get("id").split("-")[1]))
    return [svg_texts(g) for g in rows]


def row_of(root: ET.Element, first: str) -> list[str]:
    return next(r for r in row_texts(root) if r and r[0] == first)


def text_boxes(drawing: Drawing) -> list[tuple[str, tuple[float, float, float, float]]]:
    """(text, box) of every text item, measured as the layout measures (advance widths)."""
    boxes = []
    cap, descent = face().cap_height, face().descent
    for g in drawing.groups:
        for item in g.items:
            if isinstance(item, Text):
                w = text_width(item.text, item.size, item.weight, item.style)
                x0 = {"start": item.x, "middle": item.x - w / 2, "end": item.x - w}[item.anchor]
                box = (x0, item.y - cap * item.size, x0 + w, item.y + descent * item.size)
                boxes.append((item.text, box))
    return boxes


def overlapping(drawing: Drawing) -> list[tuple[str, str]]:
    pairs = []
    for (ta, a), (tb, b) in combinations(text_boxes(drawing), 2):
        if min(a[2], b[2]) - max(a[0], b[0]) > 0.1 and min(a[3], b[3]) - max(a[1], b[1]) > 0.1:
            pairs.append((ta, tb))
    return pairs


# ---- lines of text -------------------------------------------------------------------------


def test_heterogeneity_and_overall_lines_use_the_shared_formatter():
    result = pooled(-0.1, 0.05, 8, statistic=-2.1, q_pvalue=0.0046, tau2=0.0071)
    assert heterogeneity_text(result) == (
        "Heterogeneity: Tau² = 0.007; Chi² = 12.34, df = 7 (P = 0.005); I² = 43%"
    )
    assert overall_test_text(result) == "Test for overall effect: Z = 2.10 (P = 0.04)"
    tiny = pooled(-0.1, 0.05, 8, tau2=0.0002)
    assert heterogeneity_text(tiny).startswith("Heterogeneity: Tau² < 0.001; Chi² = ")
    hksj = pooled(-0.1, 0.05, 8, statistic=-2.1, ci_method="hksj", df=7.0, p_value=0.00002)
    assert overall_test_text(hksj) == "Test for overall effect: t = 2.10, df = 7 (P < 0.001)"


# ---- standard forest plot -------------------------------------------------------------------


def test_standard_forest_plot_words_come_from_the_results():
    analysis = make_analysis(8)
    root = svg_root(forest_plot(analysis))
    texts = svg_texts(root)
    for study in analysis["studies"]:
        assert study["label"] in texts
    assert group_texts(root, "title") == ["Made-up outcome"]
    headers = group_texts(root, "headers")
    assert {"Active drug", "Placebo", "Ratio (RR or HR)", "IV, Random, 95% CI"} <= set(headers)
    assert headers.count("Ratio (RR or HR)") == 2  # over the column and over the plot
    assert group_texts(root, "favours") == ["Favours active drug", "Favours placebo"]
    footer = group_texts(root, "footer")
    assert footer[:3] == [
        "Heterogeneity: Tau² = 0.012; Chi² = 12.34, df = 7 (P = 0.09); I² = 43%",
        "Test for overall effect: Z = 2.10 (P = 0.04)",
        "Random effects (REML), 95% CI by Wald (normal)",
    ]
    assert "Total (95% CI)" in texts and "Prediction interval" in texts
    assert "Subtotal (95% CI)" not in texts


def test_generic_row_shows_one_estimate_and_a_footnote():
    """The published HR is not printed beside the computed one: the row shows the estimate
    computed from yi/vi, and a footer line names the rows entered as published."""
    analysis = make_analysis(4)
    root = svg_root(forest_plot(analysis))
    s = analysis["studies"][1]
    row = row_of(root, s["label"])
    computed = "HR {:.2f} [{:.2f}, {:.2f}]".format(
        math.exp(s["yi"]), math.exp(s["ci_low"]), math.exp(s["ci_high"])
    )
    assert computed in row
    assert not [t for t in svg_texts(root) if "published)" in t or "0.95 [0.79, 1.15]" in t]
    footer = " ".join(group_texts(root, "footer"))
    assert "Published estimate and 95% CI used as reported (generic inverse variance): " in footer
    assert s["label"] in footer


def test_each_row_shows_its_measure_only_where_measures_mix():
    mixed = make_analysis(4)
    root = svg_root(forest_plot(mixed))
    for s in mixed["studies"]:
        effect = row_of(root, s["label"])[-1]
        assert effect.startswith(s["measure"] + " ")
    single = make_analysis(4)
    single["studies"][1].update(measure="RR", input="2x2", effect_measure=None)
    root = svg_root(forest_plot(single))
    for s in single["studies"]:
        assert re.fullmatch(r"[\d.]+ \[[\d.]+, [\d.]+\]", row_of(root, s["label"])[-1])


def test_totals_count_only_rows_with_both_arms():
    analysis = make_analysis(5)
    analysis["studies"][3]["n_control"] = None  # one arm's number missing: row left out
    root = svg_root(forest_plot(analysis))
    kept = [s for i, s in enumerate(analysis["studies"]) if i != 3]
    total = row_of(root, "Total (95% CI)")
    n1 = sum(s["n_treat"] for s in kept)
    n2 = sum(s["n_control"] for s in kept)
    assert total[1:3] == [f"{n1:,}", f"{n2:,}"]
    counted = [s for s in kept if s["events_treat"] is not None]
    events = row_of(root, "Total events")
    assert events[1:] == [
        f"{sum(s['events_treat'] for s in counted):,}",
        f"{sum(s['events_control'] for s in counted):,}",
    ]
    footer = " ".join(group_texts(root, "footer"))
    assert "Totals of participants and events count the 4 of 5 rows" in footer


def test_continuous_rows_show_means_sds_and_totals_as_entered():
    analysis = make_analysis(3, measure="MD")
    for i, s in enumerate(analysis["studies"]):
        s.update(input="continuous", measure="MD", events_treat=None, events_control=None)
        s.update(mean_treat=12.345 + i, sd_treat=3.1, mean_control=-0.5, sd_control=2.75)
    root = svg_root(forest_plot(analysis))
    headers = group_texts(root, "headers")
    assert headers.count("Mean") == 2 and headers.count("SD") == 2 and headers.count("Total") == 2
    row = row_of(root, analysis["studies"][0]["label"])
    assert row[1:7] == ["12.345", "3.1", "500", "-0.5", "2.75", "510"]
    assert "Mean Difference" in headers


def test_squares_area_proportional_to_weight_and_placed_on_the_estimate():
    analysis = make_analysis(6)
    drawing = forest_plot(analysis)
    axis = forest_axis(analysis)
    squares = drawing.find("squares").items
    assert len(squares) == 6
    weights = [s["weight_pct"] for s in analysis["studies"]]
    areas = [sq.width * sq.height for sq in squares]
    for w, area in zip(weights, areas, strict=True):
        assert area / areas[0] == pytest.approx(w / weights[0])
    # each square is centred on its study's estimate: at its place between the end ticks
    tick_marks = drawing.find("axis").items[-1].segments[1:]  # [0] is the axis line
    low_x, high_x = tick_marks[0][0][0], tick_marks[-1][0][0]
    for sq, s in zip(squares, analysis["studies"], strict=True):
        expected = low_x + axis.fraction(math.exp(s["yi"])) * (high_x - low_x)
        assert sq.x + sq.width / 2 == pytest.approx(expected)


def test_difference_measures_get_a_linear_symmetric_axis():
    analysis = make_analysis(4, measure="MD")
    axis = forest_axis(analysis)
    assert not axis.log and axis.low == -axis.high and axis.null == 0.0
    assert axis.ticks == (axis.low, axis.low / 2, 0.0, axis.high / 2, axis.high)
    root = svg_root(forest_plot(analysis))
    assert "0" in group_texts(root, "axis")


def test_arrows_where_an_interval_leaves_the_axis():
    analysis = make_analysis(6)
    analysis["studies"][2].update(ci_low=math.log(0.001), ci_high=math.log(400.0), yi=0.2)
    drawing = forest_plot(analysis)
    axis = forest_axis(analysis)
    assert axis.low > 0.001 and axis.high < 400  # one wide interval does not widen the axis
    ci = drawing.find("ci-lines").items[2].segments[0]
    (left, y), (right, _) = ci
    arrows = [a for a in drawing.find("arrows").items if a.points[0][1] == y]  # tip first
    assert len(arrows) == 2
    tips = sorted(a.points[0][0] for a in arrows)
    assert tips[0] < left and tips[1] > right  # pointing out beyond the ends of the cut line
    assert {p[0] for a in arrows for p in a.points[1:]} == {left, right}


# ---- the axis ------------------------------------------------------------------------------


def test_bcg_axis_is_the_narrowest_standard_range_holding_most_intervals():
    analysis = bcg_analysis()
    axis = forest_axis(analysis)
    assert (axis.low, axis.high) == (0.1, 10.0)
    assert axis.ticks == (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
    data = axis_data(analysis)
    narrower = Axis(0.2, 5.0, (), True)
    outside = [v for v in data.ends if not narrower.holds(v)]
    assert len(outside) > 0.15 * len(data.ends)  # 0.2-5 leaves too many ends out
    inside = [v for v in data.ends if axis.holds(v)]
    assert len(inside) >= 0.85 * len(data.ends)


def test_axis_rule_cases():
    def data(points=(), pooled=(), ends=()):
        from evsynth.plots.axis import AxisData

        return AxisData(tuple(pooled), tuple(points), tuple(ends))

    assert ratio_axis(data([0.8, 1.2], [0.7, 1.4], [0.6, 1.9])).low == 0.5
    assert ratio_axis(data([0.8], [0.4, 1.4], [])).low == 0.2  # the pooled CI must fit
    # one huge interval among ten studies: arrows, not a wider axis
    ends = [0.7, 1.4] * 9 + [0.001, 900.0]
    assert ratio_axis(data([1.0], [0.8, 1.2], ends)).low == 0.5
    # nothing but wide intervals: 0.01-100 with arrows before 0.001-1000
    assert ratio_axis(data([1.0], [0.5, 2.0], [0.0001, 9000.0] * 3)).low == 0.01
    assert ratio_axis(data([300.0], [], [])).low == 0.001  # a point beyond 100
    diff = difference_axis(data([-3.0, 1.0], [-3.5, -1.0], [-5.0, 2.0]))
    assert (diff.low, diff.high) == (-10.0, 10.0) and diff.ticks[1] == -5.0
    assert difference_axis(data([0.1], [0.05, 0.3], [])).high == 0.4
    assert difference_axis(data()).high == 1.0  # nothing to show
    inf = math.inf  # intervals without finite ends: the points decide, no endless widening
    assert difference_axis(data([0.3, -0.2], [], [-inf, inf] * 4)).high == 0.4
    assert ratio_axis(data([0.8, 1.2], [], [0.0, inf] * 4)).low == 0.01  # widest standard


def test_one_axis_for_every_forest_type_plot_of_an_analysis():
    analysis = make_analysis(8)
    analysis["cumulative"][0].update(ci_low=math.log(0.02), ci_high=math.log(50.0))
    ticks = {
        tuple(group_texts(svg_root(fig), "axis"))
        for fig in (
            forest_plot(analysis),
            forest_plot(analysis, "dose_band"),
            forest_plot(analysis, variant="leave_one_out"),
            forest_plot(analysis, variant="cumulative"),
        )
    }
    assert len(ticks) == 1
    assert ticks.pop() == tuple(f"{t:g}" for t in forest_axis(analysis).ticks)


def test_tick_labels_are_inside_the_figure():
    for analysis in (make_analysis(3), bcg_analysis(), make_analysis(3, measure="MD")):
        drawing = forest_plot(analysis)
        for text, (x0, _y0, x1, _y1) in text_boxes(drawing):
            assert x0 >= 0 and x1 <= drawing.width, text


# ---- subgroups, titles, labels ----------------------------------------------------------------


def test_subgroup_forest_plot():
    analysis = make_analysis(10)
    drawing = forest_plot(analysis, "dose_band")
    root = svg_root(drawing)
    texts = svg_texts(root)
    assert texts.count("Subtotal (95% CI)") == 2
    assert "low dose" in texts and "high dose" in texts  # the group labels themselves
    assert not [t for t in texts if re.match(r"\d+ (low|high) dose", t)]
    assert "Test for subgroup differences: Chi² = 3.21, df = 1 (P = 0.07), I² = 69%" in texts
    group_ = analysis["subgroups"]["dose_band"]["groups"][0]
    assert heterogeneity_text(group_) in texts
    assert len(drawing.find("diamonds").items) == 3
    assert group_texts(root, "title") == ["Made-up outcome: by Dose given"]
    assert not overlapping(drawing)


def test_titles_keep_the_reviews_case():
    analysis = bcg_analysis()
    root = svg_root(forest_plot(analysis, "alloc"))
    assert group_texts(root, "title") == ["Tuberculosis (BCG trials): by Method of allocation"]


def test_unknown_subgroup_says_which_exist():
    with pytest.raises(KeyError, match="dose_band"):
        forest_plot(make_analysis(3), "no_such_column")


def test_long_label_wraps_whole_and_nothing_is_cut():
    analysis = make_analysis(3, long_label=True)
    drawing = forest_plot(analysis)
    root = svg_root(drawing)
    first = row_texts(root)[0]
    label_lines = first[: next(i for i, t in enumerate(first) if t[:1].isdigit())]
    assert len(label_lines) >= 2 and " ".join(label_lines) == LONG_LABEL
    assert not [t for t in svg_texts(root) if "…" in t]
    assert not overlapping(drawing)


def test_comparison_shown_under_the_label_of_a_trial_with_several_rows():
    analysis = make_analysis(4)
    for s, comparison in zip(
        analysis["studies"][2:], ("high dose vs placebo", "low dose vs placebo"), strict=True
    ):
        s.update(trial="T2", label="Trial02 1992", comparison=comparison)
    root = svg_root(forest_plot(analysis))
    rows = [r for r in row_texts(root) if r and r[0] == "Trial02 1992"]
    assert [r[1] for r in rows] == ["high dose vs placebo", "low dose vs placebo"]
    assert "active vs placebo" not in svg_texts(root)  # single-row trials: no comparison line


# ---- sizing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 40])
def test_no_overlapping_text(k):
    assert not overlapping(forest_plot(make_analysis(k, long_label=True)))


def test_figure_height_grows_by_one_row_per_study():
    small = forest_plot(make_analysis(2)).height
    large = forest_plot(make_analysis(40)).height
    assert large - small == pytest.approx(38 * 16.56)


# ---- leave-one-out and cumulative -----------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "header"), [("leave_one_out", "Study omitted"), ("cumulative", "Study added")]
)
def test_sensitivity_variants(variant, header):
    analysis = make_analysis(5)
    drawing = forest_plot(analysis, variant=variant)
    root = svg_root(drawing)
    assert header in group_texts(root, "headers")
    for entry, row in zip(analysis[variant], row_texts(root), strict=False):
        assert row[0] == entry["label"]
    assert len(drawing.find("dots").items) == 5  # one equal dot per row, no weights
    assert not drawing.find("squares").items
    assert "All studies (95% CI)" in svg_texts(root)
    assert not overlapping(drawing)


def test_bad_variant_is_rejected():
    with pytest.raises(ValueError, match="variant"):
        forest_plot(make_analysis(3), variant="funnel")  # type: ignore[arg-type]


def test_table_rows_are_data_without_drawing():
    table = forest_table(make_analysis(4))
    kinds = [r.kind for r in table.rows]
    assert kinds == ["study"] * 4 + ["blank", "total", "events", "pi"]
    assert table.effect_group == "Ratio (RR or HR)" and table.favours[0] == "Favours active drug"
