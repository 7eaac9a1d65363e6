# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""report.html: one self-contained page (inline CSS, no script, no external asset).

In order: the summary, the failures and errors with their evidence, a per-host table, the
reachability matrix (sources by target host/service, each cell coloured by the outcome of the
live reach/isolation probes, or of the static firewall verdict when no probe ran from that
source), and every result. Every value from the results is HTML-escaped where it is written.
"""

from __future__ import annotations

import html
import json
import re

from urllib.parse import quote

from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import Report, ReportResult, failures_first, headline, matrix

from typing import Any, Dict, List, Optional

# Cell and badge colours by status (the molecule scenario and the unit tests look for these in screenshots).
COLOURS = {"pass": "#1f883d", "fail": "#cf222e", "error": "#bf8700", "skip": "#6e7781"}
TINTS = {"pass": "#dafbe1", "fail": "#ffebe9", "error": "#fff8c5", "skip": "#eaeef2"}
SYMBOL = {"pass": "\u2713", "fail": "\u2717", "error": "!", "skip": "\u2013"}
CELL_WORDS = {
    ("allow", "pass"): "gets in", ("allow", "fail"): "blocked", ("deny", "pass"): "kept out", ("deny", "fail"): "gets in",
}

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1 (see _report_text)

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif;
       color: #1f2328; background: #ffffff; }
main { padding: 0 24px 40px; max-width: 1400px; }
header.banner { padding: 18px 24px; color: #ffffff; }
header.banner h1 { margin: 0 0 4px; font-size: 22px; }
header.banner p { margin: 0; }
header.banner .meta { opacity: .85; font-size: 12px; margin-top: 6px; }
h2 { font-size: 18px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #d0d7de; }
.tiles { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 18px; }
.tile { min-width: 110px; padding: 10px 14px; border-radius: 6px; border: 1px solid #d0d7de; }
.tile b { display: block; font-size: 24px; }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; color: #ffffff; font-size: 12px; font-weight: 600; }
.finding { border: 1px solid #d0d7de; border-left-width: 6px; border-radius: 6px; padding: 8px 12px; margin: 8px 0; }
.finding h3 { margin: 0 0 4px; font-size: 14px; }
.finding p { margin: 0 0 6px; white-space: pre-wrap; overflow-wrap: anywhere; }
.finding dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; font-size: 13px; }
.finding dt { color: #59636e; }
.finding dd { margin: 0; }
pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.results td.msg { max-width: 720px; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
table.matrix th, table.matrix td { text-align: center; vertical-align: middle; }
table.matrix tbody th { text-align: left; white-space: nowrap; background: #f6f8fa; }
table.matrix td.cell { min-width: 88px; height: 44px; color: #ffffff; font-weight: 600; font-size: 12px; }
table.matrix td.cell small { display: block; font-weight: 400; opacity: .9; }
table.matrix td.static { border-style: dashed; border-width: 2px; }
table.matrix td.none { background: #f6f8fa; color: #8c959f; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 14px; height: 14px; vertical-align: -2px; margin-right: 4px; border-radius: 3px; }
.muted { color: #59636e; }
nav.jump { margin-top: 14px; font-size: 13px; }
"""


def esc(value: object) -> str:
    """HTML text or attribute value: markup characters escaped, control characters shown as \\xNN."""
    return html.escape(_CONTROL.sub(lambda m: "\\x%02x" % ord(m.group(0)), "" if value is None else str(value)), quote=True)


def show(value: object) -> str:
    """A value as text: strings as they are, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _style() -> str:
    rules = [CSS]
    for status, colour in COLOURS.items():
        rules.append(".bg-%s { background: %s; }" % (status, colour))
        rules.append(".finding.status-%s { border-left-color: %s; background: %s; }" % (status, colour, TINTS[status]))
        rules.append(".tile.status-%s { background: %s; }" % (status, TINTS[status]))
        rules.append(".legend i.bg-%s { background: %s; }" % (status, colour))
    return "\n".join(rules)


def badge(status: str) -> str:
    return '<span class="badge bg-%s">%s %s</span>' % (esc(status), esc(SYMBOL.get(status, "")), esc(status))


def _where(item: ReportResult) -> str:
    text = "%s \u00b7 %s \u00b7 %s" % (item["host"], item["service"] or "host", item["check"])
    if item["source"]:
        text += " \u00b7 from %s" % item["source"]
    return text


def _finding(item: ReportResult) -> str:
    rows = []
    for key in ("expected", "actual", "tls", "latency_ms", "sample", "recorded_on"):
        if item.get(key) not in (None, ""):
            rows.append("<dt>%s</dt><dd><pre>%s</pre></dd>" % (esc(key), esc(show(item[key]))))
    return ('<article class="finding status-%s">\n<h3>%s %s</h3>\n<p>%s</p>\n<dl>%s</dl>\n</article>'
            % (esc(item["status"]), badge(item["status"]), esc(_where(item)), esc(item["message"]), "".join(rows)))


def _summary(report: Report) -> str:
    summary = report["summary"]
    tiles = "".join('<div class="tile%s"><b>%d</b>%s</div>' % (" status-" + status if summary[status] else "", summary[status], status)
                    for status in ("fail", "error", "pass", "skip"))
    return '<section id="summary"><div class="tiles">%s<div class="tile"><b>%d</b>hosts</div></div></section>' % (
        tiles, len(summary["hosts"]))


def _failures(report: Report) -> str:
    bad = [item for item in failures_first(report["results"]) if item["status"] in ("fail", "error")]
    if not bad:
        return '<section id="failures"><h2>Failures and errors</h2><p class="muted">None: every check passed.</p></section>'
    return '<section id="failures"><h2>Failures and errors (%d)</h2>\n%s\n</section>' % (len(bad), "\n".join(_finding(item) for item in bad))


def _hosts(report: Report) -> str:
    rows = []
    for host, info in report["summary"]["hosts"].items():
        link = '<a href="%s">%s</a>' % (esc(quote(info["facts"])), esc(info["facts"])) if info.get("facts") else ""
        rows.append('<tr data-host="%s"><th>%s</th><td>%s</td><td>%s</td><td class="num">%d</td><td class="num">%d</td>'
                    '<td class="num">%d</td><td class="num">%d</td><td>%s</td></tr>'
                    % (esc(host), esc(host), esc(info.get("address") or ""), badge(info["status"]), info["pass"], info["fail"],
                       info["error"], info["skip"], link))
    notes = "".join("<li>%s</li>" % esc(note) for info in report["summary"]["hosts"].values() for note in info.get("notes") or [])
    return ('<section id="hosts"><h2>Hosts</h2><table class="hosts"><thead><tr><th>host</th><th>address</th><th>status</th>'
            '<th>pass</th><th>fail</th><th>error</th><th>skip</th><th>evidence</th></tr></thead><tbody>\n%s\n</tbody></table>%s</section>'
            % ("\n".join(rows), '<ul class="notes">%s</ul>' % notes if notes else ""))


# Cells of the largest matrix the page shows: sources times target services grows with the square of
# a fleet's hosts, the results only with the probes; beyond this the page would be tens of megabytes.
MATRIX_CELLS = 60000


def _cell(source: str, target: str, cell: Optional[Dict[str, Any]]) -> str:
    if cell is None:
        return '<td class="none" data-source="%s" data-target="%s" data-status="none">\u00b7</td>' % (esc(source), esc(target))
    status = cell["status"]
    words = CELL_WORDS.get((cell["expect"], status), status)
    detail = []
    if cell["kind"] == "static":
        detail.append("firewall rules")
    if cell["latency_ms"] is not None:
        detail.append("%.1f ms" % cell["latency_ms"])
    title = "\n".join("%s %s: %s" % (item["check"], item["status"], item["message"]) for item in cell["live"] + cell["static"])
    return ('<td class="cell bg-%s %s" data-source="%s" data-target="%s" data-status="%s" data-kind="%s" title="%s">%s %s%s</td>'
            % (esc(status), esc(cell["kind"]), esc(source), esc(target), esc(status), esc(cell["kind"]), esc(title),
               esc(SYMBOL.get(status, "")), esc(words), "<small>%s</small>" % esc(", ".join(detail)) if detail else ""))


def _matrix(report: Report) -> str:
    grid = matrix(report["results"])
    if not grid["targets"]:
        return ('<section id="matrix"><h2>Reachability matrix</h2><p class="muted">No service declares allow_from or deny_from, '
                'so there is nothing to show.</p></section>')
    size = len(grid["sources"]) * len(grid["targets"])
    if size > MATRIX_CELLS:
        return ('<section id="matrix"><h2>Reachability matrix</h2><p class="muted">%d sources by %d services make %d cells, more than '
                'the %d a page can show: the matrix is left out. Every source\'s results are in the failures and in all results '
                'below, and in results.json.</p></section>' % (len(grid["sources"]), len(grid["targets"]), size, MATRIX_CELLS))
    hosts: List[List[Any]] = []  # [host, how many of its services follow]
    for target in grid["targets"]:
        host = target.split("/", 1)[0]
        if hosts and hosts[-1][0] == host:
            hosts[-1][1] += 1
        else:
            hosts.append([host, 1])
    head1 = "".join('<th colspan="%d">%s</th>' % (span, esc(host)) for host, span in hosts)
    head2 = "".join("<th>%s</th>" % esc(target.split("/", 1)[1] if "/" in target else "host") for target in grid["targets"])
    rows = []
    for source in grid["sources"]:
        cells = "".join(_cell(source, target, grid["cells"].get((source, target))) for target in grid["targets"])
        rows.append('<tr data-source="%s"><th>%s</th>%s</tr>' % (esc(source), esc(source), cells))
    legend = "".join('<span><i class="bg-%s"></i>%s</span>' % (status, words) for status, words in (
        ("pass", "as declared"), ("fail", "not as declared"), ("error", "could not be checked"), ("skip", "skipped")))
    return ('<section id="matrix"><h2>Reachability matrix</h2>\n<p class="legend">%s<span class="muted">Rows: where the connection '
            'comes from. Columns: the service it goes to. A dashed cell is decided by the target\'s firewall rules alone '
            '(no live probe from that source).</span></p>\n<div class="scroll"><table class="matrix"><thead><tr>'
            '<th rowspan="2">source \u2193 / target \u2192</th>%s</tr><tr>%s</tr></thead><tbody>\n%s\n</tbody></table></div></section>'
            % (legend, head1, head2, "\n".join(rows)))


def _results(report: Report) -> str:
    rows = []
    for item in report["results"]:
        rows.append('<tr class="status-%s"><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class="msg">%s</td></tr>'
                    % (esc(item["status"]), badge(item["status"]), esc(item["host"]), esc(item["service"] or ""), esc(item["check"]),
                       esc(item["source"] or ""), esc(item["message"])))
    return ('<section id="results"><h2>All results (%d)</h2><details><summary>Show every result</summary><div class="scroll">'
            '<table class="results"><thead><tr><th>status</th><th>host</th><th>service</th><th>check</th><th>source</th>'
            '<th>message</th></tr></thead><tbody>\n%s\n</tbody></table></div></details></section>' % (len(rows), "\n".join(rows)))


def render_html(report: Report) -> str:
    summary = report["summary"]
    meta = []
    if summary.get("generated"):
        meta.append("generated %s" % summary["generated"])
    if summary.get("report_dir"):
        meta.append("in %s" % summary["report_dir"])
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>portproof report: %s</title>" % esc(headline(report)),
        "<style>%s</style></head>" % _style(),
        '<body data-status="%s">' % esc(summary["status"]),
        '<header class="banner bg-%s"><h1>portproof report</h1><p class="headline">%s</p><p class="meta">%s</p></header>'
        % (esc(summary["status"]), esc(headline(report)), esc(" \u00b7 ".join(meta))),
        "<main>",
        '<nav class="jump">Jump to: <a href="#failures">failures</a> \u00b7 <a href="#hosts">hosts</a> \u00b7 '
        '<a href="#matrix">reachability matrix</a> \u00b7 <a href="#results">all results</a></nav>',
        _summary(report),
        _failures(report),
        _hosts(report),
        _matrix(report),
        _results(report),
        "</main>",
        "</body>",
        "</html>",
    ]) + "\n"
