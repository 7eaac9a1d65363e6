# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""report.html in a real browser: headless Chromium lays it out and paints it (Debian package chromium, bindep.txt).

The DOM of the rendered page gives each matrix cell's computed background and box; the
screenshot of the page, read pixel by pixel, must show that colour at that place.
"""

from __future__ import annotations

from ansible_collections.portproof.validate.plugins.plugin_utils._report_html import COLOURS, render_html

from .report_checks import browse, close, hex_rgb
from .test_report import HOSTILE, hostile_report, lab_report


def _cells(found):
    return dict(((cell["source"], cell["target"]), cell) for cell in found["cells"])


def test_the_matrix_is_painted_in_the_colour_of_each_outcome(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(lab_report()), encoding="utf-8")
    found = browse(str(page))
    assert found["sections"] == ["summary", "failures", "hosts", "matrix", "results"]
    assert (found["scripts"], found["injected"], found["external"]) == (0, 0, 0)
    assert found["screenshot"]["width"] == 1280 and found["screenshot"]["height"] == found["height"]
    cells = _cells(found)
    failing = cells[("app1", "db1/postgres")]
    assert (failing["status"], failing["kind"], failing["text"]) == ("fail", "live", "\u2717 blocked")
    assert failing["background"] == hex_rgb(COLOURS["fail"])
    assert close(failing["painted"], hex_rgb(COLOURS["fail"])), failing
    passing = cells[("db1", "app1/api")]
    assert passing["text"] == "\u2713 kept out"
    assert close(passing["painted"], hex_rgb(COLOURS["pass"])), passing
    for cell in found["cells"]:  # every cell, and every empty one, shows the colour its outcome gets
        want = hex_rgb(COLOURS[cell["status"]]) if cell["status"] != "none" else [246, 248, 250]
        assert close(cell["painted"], want), cell
        assert cell["width"] >= 80 and cell["height"] >= 40


def test_hostile_strings_stay_text_in_the_browser(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(hostile_report()), encoding="utf-8")
    found = browse(str(page))
    assert (found["scripts"], found["injected"], found["external"]) == (0, 0, 0)
    assert found["title"].startswith("portproof report: ERROR: ") or found["title"].startswith("portproof report: FAIL: ")
    cell = [c for c in found["cells"] if c["status"] == "fail"][0]
    shown = HOSTILE.replace("\x00", "\\x00").replace("\x1b", "\\x1b")  # control characters are shown, not sent
    assert (cell["source"], cell["target"]) == (shown, "web1/" + shown)
    assert close(cell["painted"], hex_rgb(COLOURS["fail"])), cell
