"""Funnel, bubble and dose-response plots; ticks and text widths; deterministic saving; alt
text; the figures script; and the rule that evsynth.plots uses matplotlib's public API only.

Analysis dicts are the ones of test_plots_forest (invented numbers, and the BCG trials).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from evsynth.plots import (
    alt_text,
    bubble_plot,
    dose_response_plot,
    forest_plot,
    funnel_plot,
    save_figure,
)
from evsynth.plots.axis import ratio_ticks
from evsynth.plots.bubble import regression_band
from evsynth.plots.output import svg_bytes, write_analysis_figures, write_dataset_figures

sys.path.insert(0, str(Path(__file__).parent))
from test_plots_forest import SVG, bcg_analysis, make_analysis, svg_root, svg_texts

ROOT = Path(__file__).resolve().parents[1]
PLOTS = ROOT / "evsynth" / "plots"


def with_regression(analysis: dict, ci_method: str = "z") -> dict:
    """Add a made-up meta-regression on latitude with its covariance."""
    k = len(analysis["studies"])
    analysis["meta_regression"] = {
        "latitude": {
            "coef": [-0.2, 0.002],
            "se": [0.1, 0.001],
            "ci_low": [-0.396, 0.00004],
            "ci_high": [-0.004, 0.00396],
            "vcov": [[0.01, -1e-5], [-1e-5, 1e-6]],
            "names": ["intercept", "latitude"],
            "p_value": [0.05, 0.0046],
            "tau2": 0.02,
            "k": k,
            "qm_df_residual": k - 2,
            "ci_method": ci_method,
            "level": 0.95,
            "row_ids": [s["row_id"] for s in analysis["studies"]],
        }
    }
    return analysis


def with_egger(analysis: dict) -> dict:
    analysis["egger"] = {"intercept": -0.1, "slope": 0.5, "statistic": 1.2, "p_value": 0.23}
    return analysis


def with_dose_response(analysis: dict) -> dict:
    doses = [0.0, 250.0, 500.0, 750.0, 1000.0]
    analysis["variables"]["dose"] = {"title": "Daily dose", "unit": "mg/day"}
    analysis["dose_response"] = {
        "variable": "dose",
        "model": "quadratic",
        "curve": [
            {
                "dose": d,
                "rr": math.exp(-0.0003 * d),
                "ci_low": math.exp(-0.0005 * d),
                "ci_high": math.exp(-0.0001 * d),
            }
            for d in doses
        ],
        "points": [
            {
                "label": s["label"],
                "dose": 100.0 * i,
                "rr": math.exp(s["yi"]),
                "ci_low": math.exp(s["ci_low"]),
                "ci_high": math.exp(s["ci_high"]),
                "weight_pct": s["weight_pct"],
            }
            for i, s in enumerate(analysis["studies"])
        ],
        "sentence": "Each 100 mg/day more lowers the risk by 3%.",
    }
    return analysis


def key_text(root: ET.Element) -> str:
    """The key under a bubble plot whose points are numbered (groups point-key-…)."""
    lines = [g for g in root.iter(f"{SVG}g") if g.get("id", "").startswith("point-key-")]
    return "   ".join(" ".join(svg_texts(g)) for g in lines)


def tick_texts(ax, which: str = "y") -> list[str]:
    axis = ax.yaxis if which == "y" else ax.xaxis
    low, high = ax.get_ylim() if which == "y" else ax.get_xlim()
    low, high = min(low, high), max(low, high)
    return [
        axis.get_major_formatter()(t, i)
        for i, t in enumerate(axis.get_major_locator()())
        if low <= t <= high
    ]


# ---- funnel ---------------------------------------------------------------------------------


def test_funnel_plot_axes_and_points():
    analysis = with_egger(make_analysis(6))
    fig = funnel_plot(analysis)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    low, high = ax.get_ylim()
    assert low > high == 0  # SE 0 at the top
    points = next(c for c in ax.collections if c.get_gid() == "studies").get_offsets()
    expected = [(math.exp(s["yi"]), math.sqrt(s["vi"])) for s in analysis["studies"]]
    np.testing.assert_allclose(np.asarray(points), expected)
    gids = {line.get_gid() for line in ax.lines}
    assert {"pseudo-ci-low", "pseudo-ci-high", "pooled-line"} <= gids
    assert "egger-line" not in gids  # k < min_k_egger
    line = next(line for line in ax.lines if line.get_gid() == "pseudo-ci-high")
    x, y = line.get_data()
    np.testing.assert_allclose(np.log(x), -0.1 + 1.959963984540054 * np.asarray(y))
    assert len(tick_texts(ax, "x")) >= 3


def test_egger_line_from_min_k_egger_or_when_requested():
    big = with_egger(make_analysis(12))
    assert "egger-line" in {line.get_gid() for line in funnel_plot(big).axes[0].lines}
    big["min_k_egger"] = 15
    assert "egger-line" not in {line.get_gid() for line in funnel_plot(big).axes[0].lines}
    small = with_egger(make_analysis(5))
    line = next(
        line
        for line in funnel_plot(small, egger=True).axes[0].lines
        if line.get_gid() == "egger-line"
    )
    x, y = line.get_data()
    np.testing.assert_allclose(np.log(x), -0.1 + 0.5 * np.asarray(y))


# ---- bubble ---------------------------------------------------------------------------------


def test_bubble_plot_sizes_band_axis_titles_and_ticks():
    analysis = with_regression(make_analysis(8))
    fig = bubble_plot(analysis, "latitude")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Latitude (degrees)"
    assert ax.get_ylabel() == "Ratio (RR or HR) (log scale)"
    assert ax.get_yscale() == "log"
    assert len(tick_texts(ax)) >= 3  # never a single tick "1"
    bubbles = next(c for c in ax.collections if c.get_gid() == "bubbles")
    weights = np.array([1 / (s["vi"] + 0.02) for s in analysis["studies"]])
    np.testing.assert_allclose(bubbles.get_sizes() / bubbles.get_sizes()[0], weights / weights[0])
    assert any(c.get_gid() == "ci-band" for c in ax.collections)
    assert "fitted-line" in {line.get_gid() for line in ax.lines}
    assert "(slope P = 0.005)" in fig.get_suptitle()


def test_bubble_plot_names_every_study():
    analysis = bcg_analysis()
    analysis["meta_regression"] = {
        "ablat": {
            **with_regression(make_analysis(3))["meta_regression"]["latitude"],
            "row_ids": [s["row_id"] for s in analysis["studies"]],
            "k": 13,
        }
    }
    root = svg_root(bubble_plot(analysis, "ablat"))
    texts = svg_texts(root)
    labels = {s["label"] for s in analysis["studies"]}
    named = labels <= set(texts)
    numbered = {str(i) for i in range(1, 14)} <= set(texts)
    assert named or numbered
    if numbered:  # the key under the plot lists every number with its study
        key = key_text(root)
        for i, s in enumerate(analysis["studies"], start=1):
            assert f"{i} {s['label']}" in key


def test_crowded_bubble_plot_numbers_the_points_and_lists_them():
    analysis = with_regression(make_analysis(30))
    for s in analysis["studies"]:
        s["latitude"] = 20.0  # every bubble on one vertical: names cannot all fit beside them
    key = key_text(svg_root(bubble_plot(analysis, "latitude")))
    for i, s in enumerate(analysis["studies"], start=1):
        assert f"{i} {s['label']}" in key


def test_regression_band_from_coef_and_vcov():
    fit = with_regression(make_analysis(8))["meta_regression"]["latitude"]
    x = np.array([0.0, 100.0])
    pred, _low, high = regression_band(fit, x)
    np.testing.assert_allclose(pred, [-0.2, 0.0])
    se = np.sqrt([0.01, 0.01 - 2 * 100 * 1e-5 + 1e4 * 1e-6])
    np.testing.assert_allclose(high - pred, 1.959963984540054 * se)
    fit["ci_method"] = "hksj"  # t with k - 2 = 6 df
    _, _, high_t = regression_band(fit, x)
    np.testing.assert_allclose(high_t - pred, 2.446911851144969 * se)


def test_bubble_plot_needs_the_moderator():
    with pytest.raises(KeyError, match="meta-regression"):
        bubble_plot(make_analysis(4), "latitude")


# ---- dose-response ----------------------------------------------------------------------------


def test_dose_response_plot():
    analysis = with_dose_response(make_analysis(6))
    fig = dose_response_plot(analysis)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(tick_texts(ax)) >= 3
    assert ax.get_xlabel() == "Daily dose (mg/day)"
    curve = next(line for line in ax.lines if line.get_gid() == "curve")
    np.testing.assert_allclose(curve.get_xdata(), [0, 250, 500, 750, 1000])
    np.testing.assert_allclose(np.log(curve.get_ydata()), -0.0003 * curve.get_xdata())
    null = next(line for line in ax.lines if line.get_gid() == "null-line")
    assert list(null.get_ydata()) == [1.0, 1.0]
    points = next(c for c in ax.collections if c.get_gid() == "points")
    weights = np.array([s["weight_pct"] for s in analysis["studies"]])
    np.testing.assert_allclose(points.get_sizes() / points.get_sizes()[0], weights / weights[0])
    texts = svg_texts(svg_root(fig))
    assert {s["label"] for s in analysis["studies"]} <= set(texts)
    text = alt_text(analysis, "dose_response")
    assert text.startswith("Dose-response plot, Made-up outcome: quadratic model")
    assert text.endswith("Each 100 mg/day more lowers the risk by 3%.")


def test_dose_response_needs_results():
    with pytest.raises(KeyError, match="dose_response"):
        dose_response_plot(make_analysis(3))


# ---- ticks and text widths ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (0.2, 3.0, [0.2, 0.5, 1, 2]),
        (0.55, 1.3, [0.6, 0.8, 1.0, 1.2]),
        (0.97, 1.02, [0.98, 1.0, 1.02]),
        (0.01, 100, [0.01, 0.1, 1, 10, 100]),
    ],
)
def test_ratio_ticks_never_a_single_tick(low, high, ticks):
    assert ratio_ticks(low, high) == pytest.approx(ticks)


@pytest.mark.parametrize(
    "text", ["Total (95% CI)", "0.73 [0.55, 0.98]", "12,345", "AVAWAY Te", "Ægir–Øst “quoted” ≥80"]
)
@pytest.mark.parametrize(("size", "weight"), [(8.0, "normal"), (8.0, "bold"), (9.5, "bold")])
def test_measured_width_is_never_narrower_than_matplotlib_draws(text, size, weight):
    """Advance widths without kerning: at least the kerned width matplotlib lays out (up to a
    glyph's ink overhanging its advance by a hundredth of a point), and at most 10% wider
    (kerning-heavy text), so columns never overlap and are not needlessly wide."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    from evsynth.plots.fonts import FONT_FAMILY, text_width

    prop = FontProperties(family=FONT_FAMILY, size=size, weight=weight)
    drawn = TextToPath().get_text_width_height_descent(text, prop, False)[0]
    measured = text_width(text, size, weight)
    assert drawn - 0.01 <= measured <= drawn * 1.1


def test_wrap_breaks_at_spaces_and_keeps_every_word():
    from evsynth.plots.fonts import text_width, wrap

    label = "Porthouse 2005 (unequal-allocation stratum)"
    lines = wrap(label, 120, 8.0)
    assert len(lines) == 2 and " ".join(lines) == label
    assert all(text_width(line, 8.0) <= 120 for line in lines)
    long_word = "x" * 80
    pieces = wrap(long_word, 50, 8.0)
    assert "".join(pieces) == long_word and all(text_width(p, 8.0) <= 50 for p in pieces)


# ---- output -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "draw",
    [
        lambda a: forest_plot(a, "dose_band"),
        lambda a: forest_plot(a, variant="cumulative"),
        lambda a: funnel_plot(with_egger(a)),
        lambda a: bubble_plot(with_regression(a), "latitude"),
        lambda a: dose_response_plot(with_dose_response(a)),
    ],
)
def test_drawn_twice_the_files_are_byte_identical(tmp_path, draw):
    first = save_figure(draw(make_analysis(5, long_label=True)), tmp_path / "a" / "fig")
    second = save_figure(draw(make_analysis(5, long_label=True)), tmp_path / "b" / "fig")
    assert [p.name for p in first] == ["fig.svg", "fig.png"]
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes()
    svg = first[0].read_text()
    assert "<dc:date>" not in svg and "Matplotlib" not in svg
    assert b"Software" not in first[1].read_bytes() and first[1].read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["fig.png", "fig.svg"]
    root = ET.parse(first[0]).getroot()
    assert next(root.iter(f"{SVG}text")) is not None  # text kept as text
    assert "DejaVu Sans" in svg


def test_save_figure_rewrites_only_files_that_change(tmp_path, monkeypatch):
    """An unchanged figure is left in place (no replace); a changed one is replaced."""
    from evsynth.io import safe_io

    analysis = make_analysis(4)
    first = save_figure(forest_plot(analysis), tmp_path / "fig", formats=["svg"])
    replaced: list[str] = []
    real_replace = safe_io.os.replace

    def replace(src, dst):
        replaced.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(safe_io.os, "replace", replace)
    again = save_figure(forest_plot(analysis), tmp_path / "fig", formats=["svg"])
    assert again == first and replaced == []
    before = first[0].read_bytes()
    analysis["title"] = "Another title"
    save_figure(forest_plot(analysis), tmp_path / "fig", formats=["svg"])
    assert replaced == ["fig.svg"] and first[0].read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.svg"]  # no temporary file left


def test_svg_text_is_escaped():
    analysis = make_analysis(3)
    analysis["studies"][0]["label"] = "<b>A & B</b>"
    svg = svg_bytes(forest_plot(analysis)).decode()
    assert "&lt;b&gt;A &amp; B&lt;/b&gt;" in svg and "<b>" not in svg
    assert "<b>A & B</b>" in svg_texts(ET.fromstring(svg))


def test_png_has_the_drawings_size():
    import struct

    drawing = forest_plot(make_analysis(3))
    png = drawing.png(100)
    width, height = struct.unpack(">II", png[16:24])
    assert abs(width - drawing.width / 72 * 100) < 1 and abs(height - drawing.height / 72 * 100) < 1


# ---- alt text --------------------------------------------------------------------------------


def test_alt_text_states_the_result_with_the_shared_formatter(tmp_path):
    analysis = make_analysis(8)
    text = alt_text(analysis, "forest")
    n = sum(s["n_treat"] + s["n_control"] for s in analysis["studies"])
    assert text == (
        f"Forest plot, Made-up outcome: 8 trials, {n:,} participants; pooled Ratio (RR or HR) "
        f"{math.exp(-0.1):.2f} (95% CI {math.exp(-0.198):.2f} to {math.exp(-0.002):.2f}), "
        "I² 43%."
    )
    sub = alt_text(analysis, "forest", "dose_band")
    assert sub.startswith("Forest plot, Made-up outcome, by Dose given: low dose: ")
    assert sub.endswith("; test for subgroup differences P = 0.07.")
    assert alt_text(analysis, "loo").startswith("Leave-one-out plot, Made-up outcome: omitting")
    written = save_figure(forest_plot(analysis), tmp_path / "x.forest", alt=text)
    assert written[-1].name == "x.forest.alt.txt"
    assert written[-1].read_text(encoding="utf-8") == text + "\n"


def test_funnel_alt_text_reports_egger_only_from_min_k_egger():
    small = with_egger(make_analysis(8))
    assert alt_text(small, "funnel").endswith("; Egger's test not reported (fewer than 10 trials).")
    big = with_egger(make_analysis(12))
    assert alt_text(big, "funnel").endswith("; Egger's test P = 0.23.")


def test_bubble_alt_text_states_the_slope_per_round_step_of_the_moderator():
    analysis = with_regression(make_analysis(8))  # latitude 10 to 45 degrees: per 10 degrees
    text = alt_text(analysis, "bubble", moderator="latitude")
    factor = math.exp(0.002 * 10)
    low, high = math.exp(0.00004 * 10), math.exp(0.00396 * 10)
    assert text == (
        "Bubble plot, Made-up outcome: effects of 8 trials against Latitude; in the "
        f"meta-regression the Ratio (RR or HR) changes by a factor of {factor:.2f} "
        f"(95% CI {low:.2f} to {high:.2f}) per 10 degrees (P = 0.005)."
    )


def test_write_analysis_figures_names(tmp_path):
    analysis = with_dose_response(with_egger(with_regression(make_analysis(4))))
    names = {p.name for p in write_analysis_figures(analysis, tmp_path)}
    stems = {n.rsplit(".", 1)[0].removesuffix(".alt") for n in names}
    aid = analysis["id"]
    assert stems == {
        f"{aid}.forest",
        f"{aid}.forest.dose_band",
        f"{aid}.funnel",
        f"{aid}.loo",
        f"{aid}.cumulative",
        f"{aid}.bubble.latitude",
        f"{aid}.dose_response",
    }
    assert len(names) == 3 * len(stems)


def test_write_analysis_figures_small_k(tmp_path):
    analysis = make_analysis(2)
    del analysis["subgroups"]
    names = {p.name for p in write_analysis_figures(analysis, tmp_path)}
    assert names == {f"{analysis['id']}.forest.{ext}" for ext in ("svg", "png", "alt.txt")}


def test_figures_script_from_the_command_line(tmp_path):
    analysis = make_analysis(2)
    del analysis["subgroups"]
    results = tmp_path / "made_up.json"
    results.write_text(json.dumps({"dataset": "made_up", "analyses": [analysis]}))
    manifest = tmp_path / "figures" / "made_up.figures.json"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "figures.py"),
            "--results",
            str(results),
            "--outdir",
            str(tmp_path / "figures"),
            "--manifest",
            str(manifest),
        ],
        check=True,
        cwd=ROOT,
    )
    files = json.loads(manifest.read_text())["files"]
    assert f"{analysis['id']}.forest.svg" in files
    assert all((tmp_path / "figures" / name).exists() for name in files)


# ---- figure setting, parallel drawing ----------------------------------------------------------


def test_kind_switched_off_is_not_drawn_and_png_off_writes_no_png(tmp_path):
    analysis = with_egger(with_regression(make_analysis(4)))
    aid = analysis["id"]
    setting = {"kinds": ["forest", "subgroups", "bubble"], "formats": ["svg"]}
    names = write_dataset_figures([analysis], tmp_path, {aid: setting})
    assert names == sorted(
        f"{aid}.{stem}.{ext}"
        for stem in ("forest", "forest.dose_band", "bubble.latitude")
        for ext in ("svg", "alt.txt")
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # exactly what was written
    png_only = write_analysis_figures(analysis, tmp_path / "png", {"kinds": ["funnel"]})
    assert [p.name for p in png_only] == [f"{aid}.funnel.{e}" for e in ("svg", "png", "alt.txt")]
    with pytest.raises(ValueError, match="unknown figure kind"):
        write_analysis_figures(analysis, tmp_path, {"kinds": ["violin"]})


def test_figures_script_follows_the_config_and_lists_what_it_wrote(tmp_path):
    """The figures entry point draws what the review's config asks of each analysis (here
    forest and leave-one-out as SVG) and lists exactly the files it wrote."""
    analysis = make_analysis(4)
    aid = analysis["id"]
    results = tmp_path / "made_up.json"
    results.write_text(json.dumps({"dataset": "made_up", "analyses": [analysis]}))
    review = tmp_path / "review"
    shutil.copytree(ROOT / "tests/reviews/bcg/config", review / "config")
    shutil.copytree(ROOT / "tests/reviews/bcg/schemas", review / "schemas")
    path = review / "config" / "config.yaml"
    shipped = path.read_text(encoding="utf-8")
    config = re.sub(
        r"\nanalyses:\n",
        f"\nanalyses:\n  {aid}:\n    title: Made up\n    dataset: trials\n"
        "    measure: RR\n    figures: {kinds: [forest, leave_one_out], formats: [svg]}\n",
        shipped,
        count=1,
    )
    assert config != shipped
    path.write_text(config, encoding="utf-8")
    outdir = tmp_path / "figures"
    cmd = [sys.executable, str(ROOT / "scripts" / "figures.py"), "--results", str(results)]
    cmd += ["--outdir", str(outdir), "--manifest", str(outdir / "made_up.figures.json")]
    cmd += ["--config", str(path), "--threads", "2"]
    subprocess.run(cmd, check=True, cwd=review)
    files = json.loads((outdir / "made_up.figures.json").read_text())["files"]
    expected = [f"{aid}.{s}.{e}" for s in ("forest", "loo") for e in ("alt.txt", "svg")]
    assert files == sorted(expected)
    assert sorted(p.name for p in outdir.iterdir()) == sorted([*files, "made_up.figures.json"])


def test_two_workers_write_the_same_files_and_bytes_as_one(tmp_path):
    analyses = [with_regression(make_analysis(4)), make_analysis(6, long_label=True)]
    analyses[1]["id"] = "made-up-second"
    serial = write_dataset_figures(analyses, tmp_path / "one", workers=1)
    pooled = write_dataset_figures(analyses, tmp_path / "two", workers=2)
    assert pooled == serial == sorted(serial)
    for name in serial:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


# ---- the code itself ------------------------------------------------------------------------

PRIVATE_ACCESS = re.compile(r"\._[A-Za-z]")  # obj._name (our own modules have none either)
PRIVATE_IMPORT = re.compile(
    r"^\s*(from\s+\S*\._|from\s+\S+\s+import\s+.*\b_[a-z]|import\s+\S*\._)", re.M
)


def test_plots_use_no_private_matplotlib_name():
    """No ``obj._name`` attribute access and no import of an underscored module or name in
    evsynth/plots: matplotlib's private internals change in minor releases."""
    for path in sorted(PLOTS.glob("*.py")):
        code = path.read_text(encoding="utf-8")
        assert not PRIVATE_ACCESS.findall(code), f"{path.name}: {PRIVATE_ACCESS.findall(code)}"
        assert not PRIVATE_IMPORT.findall(code), f"{path.name}: {PRIVATE_IMPORT.findall(code)}"
        assert "backend_svg" not in code and "RendererSVG" not in code, path.name


def test_the_private_name_check_catches_what_it_should():
    bad = [
        "font = fontManager._find_fonts_by_props(prop)",
        "from matplotlib.backends._backend_agg import x",
        "from matplotlib.text import _get_layout",
        "import matplotlib._api",
    ]
    for line in bad:
        assert PRIVATE_ACCESS.search(line) or PRIVATE_IMPORT.search(line), line


@pytest.mark.parametrize(
    "word", ["vitamin", "calcium", "IU", "fracture", "kidney", "AVADEC", "K2", "MGP"]
)
def test_plots_and_formatter_hold_no_word_of_the_shipped_review(word):
    pattern = re.compile(
        rf"\b{word}\b" if word in ("IU", "K2", "MGP") else word,
        re.IGNORECASE if word not in ("IU", "K2", "MGP") else 0,
    )
    for path in [*sorted(PLOTS.glob("*.py")), ROOT / "evsynth" / "format.py"]:
        assert not pattern.search(path.read_text(encoding="utf-8")), path.name
