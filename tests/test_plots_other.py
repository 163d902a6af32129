"""Funnel and bubble plots, deterministic saving, alt text and the figures script.

Analysis dicts are the hand-made ones of test_plots_forest (invented numbers).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from evsynth.plots import alt_text, bubble_plot, forest_plot, funnel_plot, save_figure
from evsynth.plots.bubble import regression_band
from evsynth.plots.output import write_analysis_figures, write_dataset_figures

sys.path.insert(0, str(Path(__file__).parent))
from test_plots_forest import SVG, make_analysis, svg_root, svg_texts

ROOT = Path(__file__).resolve().parents[1]


def with_regression(analysis: dict, ci_method: str = "z") -> dict:
    """Add a made-up meta-regression on daily_equivalent_iu with its covariance."""
    k = len(analysis["studies"])
    analysis["meta_regression"] = {
        "daily_equivalent_iu": {
            "coef": [-0.2, 0.0002],
            "se": [0.1, 0.0001],
            "vcov": [[0.01, -1e-5], [-1e-5, 1e-8]],
            "names": ["intercept", "daily_equivalent_iu"],
            "p_value": [0.05, 0.046],
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


# ---- funnel ---------------------------------------------------------------------------------


def test_funnel_plot_axes_and_points():
    analysis = with_egger(make_analysis(6))
    fig = funnel_plot(analysis)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    low, high = ax.get_ylim()
    assert low > high == 0  # SE 0 at the top
    points = ax.collections[0].get_offsets()
    expected = [(math.exp(s["yi"]), math.sqrt(s["vi"])) for s in analysis["studies"]]
    np.testing.assert_allclose(np.asarray(points), expected)
    gids = {line.get_gid() for line in ax.lines}
    assert {"pseudo-ci-low", "pseudo-ci-high", "pooled-line"} <= gids
    assert "egger-line" not in gids  # k < 10
    # pseudo 95% limits: estimate ± 1.96 SE
    line = next(line for line in ax.lines if line.get_gid() == "pseudo-ci-high")
    x, y = line.get_data()
    np.testing.assert_allclose(np.log(x), -0.1 + 1.959963984540054 * np.asarray(y))


def test_egger_line_when_k_at_least_10_or_requested():
    big = with_egger(make_analysis(12))
    assert "egger-line" in {line.get_gid() for line in funnel_plot(big).axes[0].lines}
    small = with_egger(make_analysis(5))
    line = next(
        line
        for line in funnel_plot(small, egger=True).axes[0].lines
        if line.get_gid() == "egger-line"
    )
    x, y = line.get_data()
    np.testing.assert_allclose(np.log(x), -0.1 + 0.5 * np.asarray(y))


# ---- bubble ---------------------------------------------------------------------------------


def test_bubble_plot_sizes_band_and_label():
    analysis = with_regression(make_analysis(8))
    fig = bubble_plot(analysis)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Daily-equivalent vitamin D dose (IU/day)"
    assert ax.get_yscale() == "log"
    bubbles = next(c for c in ax.collections if c.get_gid() == "bubbles")
    weights = np.array([1 / (s["vi"] + 0.02) for s in analysis["studies"]])
    np.testing.assert_allclose(bubbles.get_sizes() / bubbles.get_sizes()[0], weights / weights[0])
    assert any(c.get_gid() == "ci-band" for c in ax.collections)
    assert "fitted-line" in {line.get_gid() for line in ax.lines}


def test_regression_band_from_coef_and_vcov():
    fit = with_regression(make_analysis(8))["meta_regression"]["daily_equivalent_iu"]
    x = np.array([0.0, 1000.0])
    pred, _low, high = regression_band(fit, x)
    np.testing.assert_allclose(pred, [-0.2, 0.0])
    se = np.sqrt([0.01, 0.01 - 2 * 1000 * 1e-5 + 1e6 * 1e-8])
    np.testing.assert_allclose(high - pred, 1.959963984540054 * se)
    fit["ci_method"] = "hksj"  # t with k - 2 = 6 df
    _, _, high_t = regression_band(fit, x)
    np.testing.assert_allclose(high_t - pred, 2.446911851144969 * se)


def test_bubble_plot_needs_the_moderator():
    with pytest.raises(KeyError, match="meta-regression"):
        bubble_plot(make_analysis(4))


# ---- output -------------------------------------------------------------------------------


def test_save_figure_is_byte_identical_and_deterministic(tmp_path):
    analysis = make_analysis(5, long_label=True)
    first = save_figure(forest_plot(analysis, "dose_band"), tmp_path / "a" / "fig")
    second = save_figure(forest_plot(analysis, "dose_band"), tmp_path / "b" / "fig")
    assert [p.name for p in first] == ["fig.svg", "fig.png"]
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes()
    svg = first[0].read_text()
    assert "<dc:date>" not in svg and "Matplotlib" not in svg
    assert b"Software" not in first[1].read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["fig.png", "fig.svg"]  # no temps
    root = ET.parse(first[0]).getroot()
    assert next(root.iter(f"{SVG}text")) is not None  # text kept as text
    assert "DejaVu Sans" in svg  # the bundled font, named for every viewer


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


def test_svg_keeps_text_as_text(tmp_path):
    fig = forest_plot(make_analysis(3))
    texts = svg_texts(svg_root(fig))
    assert "Total (95% CI)" in texts  # text elements, not glyph paths


def test_alt_text_from_the_numbers(tmp_path):
    analysis = make_analysis(8)
    text = alt_text(analysis, "forest")
    n = sum(s["n_treat"] + s["n_control"] for s in analysis["studies"])
    assert text == (
        f"Forest plot of hip fracture: 8 trials, {n:,} participants; pooled risk ratio "
        f"{math.exp(-0.1):.2f} (95% CI {math.exp(-0.198):.2f} to {math.exp(-0.002):.2f}), I² 43%."
    )
    assert "test for subgroup differences P = 0.07" in alt_text(analysis, "forest", "dose_band")
    assert "Egger test P = 0.23" in alt_text(with_egger(analysis), "funnel")
    assert "per 1,000 IU/day" in alt_text(with_regression(analysis), "bubble")
    assert alt_text(analysis, "loo").startswith("Leave-one-out forest plot of hip fracture: 8 ")
    written = save_figure(forest_plot(analysis), tmp_path / "x.forest", alt=text)
    assert written[-1].name == "x.forest.alt.txt"
    assert written[-1].read_text(encoding="utf-8") == text + "\n"


def test_write_analysis_figures_names(tmp_path):
    analysis = with_egger(with_regression(make_analysis(4)))
    names = {p.name for p in write_analysis_figures(analysis, tmp_path)}
    stems = {n.rsplit(".", 1)[0].removesuffix(".alt") for n in names}
    aid = analysis["id"]
    assert stems == {
        f"{aid}.forest",
        f"{aid}.forest.dose_band",
        f"{aid}.funnel",
        f"{aid}.loo",
        f"{aid}.cumulative",
        f"{aid}.bubble",
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


# ---- figure setting, parallel drawing, speed-ups that must not change a byte ----------------


def test_kind_switched_off_is_not_drawn_and_png_off_writes_no_png(tmp_path):
    analysis = with_egger(with_regression(make_analysis(4)))
    aid = analysis["id"]
    setting = {"kinds": ["forest", "subgroups", "bubble"], "formats": ["svg"]}
    names = write_dataset_figures([analysis], tmp_path, {aid: setting})
    assert names == sorted(
        f"{aid}.{stem}.{ext}"
        for stem in ("forest", "forest.dose_band", "bubble")
        for ext in ("svg", "alt.txt")
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # exactly what was written
    png_only = write_analysis_figures(analysis, tmp_path / "png", {"kinds": ["funnel"]})
    assert [p.name for p in png_only] == [f"{aid}.funnel.{e}" for e in ("svg", "png", "alt.txt")]
    with pytest.raises(ValueError, match="unknown figure kind"):
        write_analysis_figures(analysis, tmp_path, {"kinds": ["violin"]})


def test_figures_script_follows_the_config_and_lists_what_it_wrote(tmp_path):
    analysis = make_analysis(4)
    aid = analysis["id"]
    results = tmp_path / "made_up.json"
    results.write_text(json.dumps({"dataset": "made_up", "analyses": [analysis]}))
    shipped = (ROOT / "config/config.yaml").read_text(encoding="utf-8")
    config = shipped.replace(
        "    subgroups: [calcium_coadministered]\n",
        "    subgroups: [calcium_coadministered]\n"
        f"  {aid}:\n    title: Made up\n    dataset: fractures\n    outcome: hip\n"
        "    measure: RR\n    events_are: harmful\n"
        "    figures: {kinds: [forest, leave_one_out], formats: [svg]}\n",
        1,
    )
    assert config != shipped
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    outdir = tmp_path / "figures"
    cmd = [sys.executable, str(ROOT / "scripts" / "figures.py"), "--results", str(results)]
    cmd += ["--outdir", str(outdir), "--manifest", str(outdir / "made_up.figures.json")]
    cmd += ["--config", str(tmp_path / "config.yaml"), "--threads", "2"]
    subprocess.run(cmd, check=True, cwd=ROOT)
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


def test_svg_is_the_bytes_matplotlib_writes(tmp_path):
    """svg_bytes remembers text metrics across figures; the SVG must not change by a byte."""
    import io

    from evsynth.plots.layout import plot_style
    from evsynth.plots.output import SVG_METADATA, _add_titles, svg_bytes

    for fig in (
        forest_plot(make_analysis(5, long_label=True), "dose_band"),
        forest_plot(make_analysis(3)),
    ):
        with plot_style():
            buffer = io.StringIO()
            fig.savefig(buffer, format="svg", metadata=SVG_METADATA)
        plain = _add_titles(buffer.getvalue(), fig._evsynth_titles).encode("utf-8")
        assert svg_bytes(fig) == plain
        assert svg_bytes(fig) == plain  # second time from the remembered metrics


@pytest.mark.parametrize(
    "text",
    [
        "Total (95% CI)",
        "0.73 [0.55, 0.98]",
        "12,345",
        "Omitting Trial07 1997",
        "Tau² = 0.01",
        "Favours vitamin D",
        "1",
        "l",
        "a ",
        " a",
        "…",
        "Ægir–Øst “quoted” ≥800 IU/day",
    ],
)
@pytest.mark.parametrize(("size", "weight"), [(8.0, "normal"), (8.0, "bold"), (9.5, "bold")])
def test_text_width_is_the_width_matplotlib_measures(text, size, weight):
    """The layout measures text as matplotlib does to draw it, remembered or not."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    from evsynth.plots.layout import FONT_FAMILY, text_metrics, text_width_in

    prop = FontProperties(family=FONT_FAMILY, size=size, weight=weight)
    expected = TextToPath().get_text_width_height_descent(text, prop, False)
    assert text_metrics(text, prop) == expected
    assert text_metrics(text, prop.copy()) == expected  # from the cache
    assert text_width_in(text, size, weight) == expected[0] / 72 + 0.02
    assert text_width_in(text + "0", size, weight) > text_width_in(text, size, weight)
