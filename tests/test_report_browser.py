"""The report in a real browser: headless Chromium renders it, without console errors, with the
Summary of Findings table and a forest-plot SVG visible, and takes a non-empty screenshot.

Two runs: Chromium's own ``--screenshot`` (the PNG a reviewer can look at) and a DevTools
session over ``--remote-debugging-pipe`` that loads the page, collects console messages and
exceptions, and measures the elements. Without Chromium the tests skip locally and fail in CI
(``CI=true``).
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from review_runs import analysed, copy_review, inside

from evsynth.plots import forest_plot
from evsynth.plots.output import alt_text, svg_bytes
from evsynth.stages import report_stage

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (set CHROMIUM or install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The shipped review's report, analysed in-process, with its hip forest plot drawn."""
    folder = copy_review(ROOT, tmp_path_factory.mktemp("browser"))
    config, results = analysed(folder)
    hip = next(a for a in results["fractures"]["analyses"] if a["id"] == "fractures-hip")
    figures = folder / "results" / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    (figures / "fractures-hip.forest.svg").write_bytes(svg_bytes(forest_plot(hip)))
    (figures / "fractures-hip.forest.alt.txt").write_text(alt_text(hip), encoding="utf-8")
    with inside(folder):
        return folder / report_stage(config, "results/report.html")


def test_screenshot_is_a_non_empty_png(chromium, page, tmp_path):
    png = tmp_path / "report.png"
    run = subprocess.run(
        [
            chromium,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={png}",
            "--window-size=1280,2000",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    keep = os.environ.get("REPORT_SCREENSHOT")
    if keep:
        shutil.copyfile(png, keep)


def _as_fds_3_and_4(read_end: int, write_end: int) -> None:
    """In the child: Chromium reads commands on fd 3 and writes replies on fd 4."""
    high_r, high_w = os.dup(read_end), os.dup(write_end)  # avoid clobbering when an end is 3 or 4
    high_r, high_w = os.dup2(high_r, 200), os.dup2(high_w, 201)
    os.dup2(high_r, 3)
    os.dup2(high_w, 4)


class DevTools:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fds 3 and 4)."""

    def __init__(self, chromium: str, profile: Path):
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        self.proc = subprocess.Popen(
            [
                chromium,
                *FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "--window-size=1280,2000",
            ],
            pass_fds=(3, 4, to_chrome_r, from_chrome_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=lambda: _as_fds_3_and_4(to_chrome_r, from_chrome_w),
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer, self._id, self.events = b"", 0, []

    def send(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 30,
    ):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._next(deadline)
            if reply.get("id") == self._id:
                assert "error" not in reply, reply
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._next(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _next(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._r], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self._w)
        os.close(self._r)


MEASURE = """
(() => {
  const box = (el) => {
    if (!el) return null;
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    const visible = s.display !== 'none' && s.visibility !== 'hidden';
    return {w: r.width, h: r.height, visible: visible};
  };
  const forest = document.querySelector('figure#fig-fractures-hip-forest svg[role=img]');
  const sof = document.querySelector('#sof-table');
  return {
    sof: box(sof), sofRows: sof ? sof.tBodies[0].rows.length : 0,
    sofCaption: sof && sof.caption ? sof.caption.textContent : null,
    forest: box(forest),
    forestLabel: forest ? forest.getAttribute('aria-label') : null,
    scripts: document.scripts.length,
    title: document.title,
  };
})()
"""


def test_rendered_dom_has_visible_sof_table_and_forest_plot_without_errors(
    chromium, page, tmp_path
):
    tools = DevTools(chromium, tmp_path / "profile")
    try:
        target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            tools.send(f"{domain}.enable", session=session)
        tools.send("Page.navigate", {"url": page.as_uri()}, session=session)
        tools.wait_for("Page.loadEventFired")
        found = tools.send(
            "Runtime.evaluate", {"expression": MEASURE, "returnByValue": True}, session=session
        )
        result = found["result"]["value"]
        shot = tools.send("Page.captureScreenshot", {"format": "png"}, session=session)
    finally:
        tools.close()
    problems = [
        e
        for e in tools.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (
            e.get("method") == "Runtime.consoleAPICalled"
            and e["params"]["type"] in ("error", "assert")
        )
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert problems == []
    assert result["scripts"] == 0
    assert result["sof"]["visible"] and result["sof"]["w"] > 500 and result["sof"]["h"] > 100
    assert result["sofRows"] == 4 and result["sofCaption"].startswith("Vitamin D compared with")
    assert (
        result["forest"]
        and result["forest"]["visible"]
        and result["forest"]["w"] > 300
        and result["forest"]["h"] > 100
    )
    assert result["forestLabel"]
    assert base64.b64decode(shot["data"])[:8] == b"\x89PNG\r\n\x1a\n"
