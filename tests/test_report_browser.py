"""The report as its readers use it, in real Chromium (Playwright driving the system's
/usr/bin/chromium; axe-core from tests/vendor/axe-core):

- zero axe-core violations (WCAG 2.0/2.1/2.2 A and AA, and best practice) at 1366 and 390 px,
  on the shipped review and on a continuous test review;
- nothing scrolls the page sideways at 390 px; wide tables and figures scroll in their own box;
- every figure's smallest text renders at 7 px or more at both widths;
- the print layout (A4 and Letter): no table wider than the page, figures and table rows kept
  whole, table headers repeated, the provenance appendix printed open;
- the skip link is the first stop of the keyboard and lands on the main content;
- a screenshot at each width and an A4 PDF (kept in REPORT_SCREENSHOTS when set).

Without Playwright or Chromium the tests skip locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from review_runs import REVIEWS, analysed, copy_review, inside

from evsynth.stages import figures_stage, report_stage

ROOT = Path(__file__).resolve().parents[1]
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
WIDTHS = (1366, 390)
#: axe-core's rule tags: WCAG 2.0, 2.1 and 2.2 at levels A and AA, and best practice.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]
LEGIBLE_PX = 7.0
pytestmark = pytest.mark.browser


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        _unavailable(f"Chromium not found at {CHROMIUM} (set CHROMIUM or install chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


def _report(folder: Path) -> Path:
    """A review folder analysed in-process, its figures drawn, its report rendered."""
    config, results = analysed(folder)
    with inside(folder):
        out = Path(config["paths"]["results"])
        for dataset in results:
            figures_stage(
                config,
                out / "analyses" / f"{dataset}.json",
                out / "figures",
                out / "figures" / f"{dataset}.figures.json",
            )
        return folder / report_stage(config, out / "report.html")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _report(copy_review(ROOT, tmp_path_factory.mktemp("shipped")))


@pytest.fixture(scope="module")
def continuous(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _report(copy_review(REVIEWS / "normand1999", tmp_path_factory.mktemp("normand")))


@pytest.fixture(params=["shipped", "continuous"])
def report(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue(request.param)


def _open(browser: Any, page: Path, width: int) -> Any:
    tab = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type in ("error", "assert") else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(page.as_uri())
    tab.errors = errors
    return tab


@pytest.mark.parametrize("width", WIDTHS)
def test_no_axe_violations(browser, report, width) -> None:
    tab = _open(browser, report, width)
    try:
        tab.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        found = tab.evaluate(
            """async (tags) => {
              const r = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                                 resultTypes: ['violations']});
              return {version: axe.version,
                      violations: r.violations.map(v => ({id: v.id, impact: v.impact,
                        nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))};
            }""",
            AXE_TAGS,
        )
    finally:
        tab.close()
    assert found["version"].startswith("4.")
    assert found["violations"] == []
    assert tab.errors == []


OVERFLOW = """(width) => {
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > width + 0.5 && !el.closest('.wide, .figure-box'))
      out.push(el.tagName + (el.id ? '#' + el.id : '') + ' ' + Math.round(r.right));
  }
  const root = document.documentElement;
  return {scroll: root.scrollWidth, client: root.clientWidth, outside: out.slice(0, 10),
          boxes: [...document.querySelectorAll('.wide, .figure-box')]
            .filter(b => b.getBoundingClientRect().right > width + 0.5).length};
}"""


def test_nothing_scrolls_the_page_sideways_on_a_phone(browser, report) -> None:
    tab = _open(browser, report, 390)
    try:
        found = tab.evaluate(OVERFLOW, 390)
        # the Summary of Findings reflows into one card per outcome: no sideways scroll
        sof = tab.evaluate(
            "() => { const b = document.querySelector('#sof-table').parentElement;"
            " return [b.scrollWidth, b.clientWidth]; }"
        )
    finally:
        tab.close()
    assert found["scroll"] == found["client"] == 390
    assert found["outside"] == [] and found["boxes"] == 0
    assert sof[0] <= sof[1]


TEXT_SIZES = """() => [...document.querySelectorAll('figure svg')].map(svg => {
  const sizes = [...svg.querySelectorAll('text')].map(t => {
    const m = t.getScreenCTM();
    return parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b);
  });
  return {id: svg.closest('figure').id, n: sizes.length, min: Math.min(...sizes)};
})"""


@pytest.mark.parametrize("width", WIDTHS)
def test_figure_text_is_legible(browser, shipped, width) -> None:
    tab = _open(browser, shipped, width)
    try:
        figures = tab.evaluate(TEXT_SIZES)
    finally:
        tab.close()
    drawn = json.loads((shipped.parent / "figures" / "fractures.figures.json").read_text())
    assert len(figures) >= len([f for f in drawn["files"] if f.endswith(".svg")]) > 5
    small = [f for f in figures if f["n"] and f["min"] < LEGIBLE_PX]
    assert small == []


PRINT_LAYOUT = """() => {
  const page = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('table')]
    .filter(t => t.getBoundingClientRect().right > page + 0.5)
    .map(t => t.id || t.caption?.textContent);
  const style = (sel) => { const el = document.querySelector(sel);
                           return el ? getComputedStyle(el) : null; };
  const prov = document.querySelector('#provenance-table');
  return {wide: wide, scroll: document.documentElement.scrollWidth, page: page,
          figureBreak: style('figure').breakInside, rowBreak: style('tbody tr').breakInside,
          header: style('thead').display, nav: style('nav').display,
          provenance: prov ? prov.getBoundingClientRect().height : 0};
}"""


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_print_layout(browser, shipped, paper, tmp_path) -> None:
    # the printable width of the paper at the stylesheet's margins (11 mm each side), in CSS px
    width = {"A4": round((210 - 22) / 25.4 * 96), "Letter": round((215.9 - 22) / 25.4 * 96)}
    tab = _open(browser, shipped, width[paper])
    try:
        tab.emulate_media(media="print")
        layout = tab.evaluate(PRINT_LAYOUT)
        pdf = tab.pdf(format=paper, print_background=False)
    finally:
        tab.close()
    assert layout["wide"] == [] and layout["scroll"] <= layout["page"]
    assert layout["figureBreak"] == "avoid" and layout["rowBreak"] == "avoid"
    assert layout["header"] == "table-header-group" and layout["nav"] == "none"
    assert layout["provenance"] > 100  # the <details> appendix prints open
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages > 5
    keep = os.environ.get("REPORT_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / f"report-{paper}.pdf").write_bytes(pdf)


def test_skip_link_is_the_first_keyboard_stop(browser, shipped) -> None:
    tab = _open(browser, shipped, 1366)
    try:
        tab.keyboard.press("Tab")
        first = tab.evaluate(
            "() => [document.activeElement.className, document.activeElement"
            ".getAttribute('href'), document.activeElement.getBoundingClientRect()"
            ".left >= 0]"
        )
        tab.keyboard.press("Enter")
        landed = tab.evaluate("() => location.hash")
        main = tab.evaluate("() => document.querySelector('main').id")
    finally:
        tab.close()
    assert first == ["skip", "#" + main, True]
    assert landed == "#" + main


@pytest.mark.parametrize("width", WIDTHS)
def test_screenshot_of_the_first_screen(browser, shipped, width, tmp_path) -> None:
    tab = _open(browser, shipped, width)
    try:
        shot = tab.screenshot(full_page=False)
        first = tab.evaluate(
            "() => { const h = innerHeight; const seen = (s) => [...document.querySelectorAll(s)]"
            ".filter(e => e.getBoundingClientRect().top < h).length;"
            " return {title: seen('h1'), version: seen('.edition'), outcomes: seen('.outcome-list"
            " li'), scripts: document.scripts.length}; }"
        )
    finally:
        tab.close()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000
    assert first["title"] == 1 and first["version"] == 1 and first["scripts"] == 0
    if width == 1366:  # a desktop's first screen names every outcome with its certainty
        assert first["outcomes"] == 4
    keep = os.environ.get("REPORT_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / f"report-{width}.png").write_bytes(shot)
