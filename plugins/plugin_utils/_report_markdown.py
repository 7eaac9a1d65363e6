# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""summary.md: a short Markdown summary that fits a CI job summary (GitHub, GitLab, Gitea).

Counts, a per-host table and the failures and errors (at most ``limit`` of them, the rest are
in report.html). Every value is escaped: Markdown punctuation gets a backslash and HTML
characters become entities, since job summaries render inline HTML; control characters are shown as
``\\xNN`` (see ``_report_text``).
"""

from __future__ import annotations

import re

from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import Report, failures_first, headline
from ansible_collections.portproof.validate.plugins.plugin_utils._report_text import inert

ICON = {"pass": "\u2705", "fail": "\u274c", "error": "\u26a0\ufe0f", "skip": "\u23ed\ufe0f"}
_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")


def cell(value: object, limit: int = 300) -> str:
    """A table cell: one line, Markdown and HTML inert, control characters shown as \\xNN, long values cut with an
    ellipsis."""
    text = "" if value is None else str(value)
    text = inert(" ".join(text.split()), one_line=True)
    if len(text) > limit:
        text = text[:limit - 1] + "\u2026"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _PUNCTUATION.sub(r"\\\1", text)


def render_markdown(report: Report, limit: int = 50) -> str:
    summary = report["summary"]
    lines = ["## %s portproof: %s" % (ICON.get(summary["status"], ""), cell(headline(report), 1000)), ""]
    lines += ["| host | status | pass | fail | error | skip |", "|---|---|---:|---:|---:|---:|"]
    for host, info in summary["hosts"].items():
        lines.append("| %s | %s %s | %d | %d | %d | %d |" % (
            cell(host), ICON.get(info["status"], ""), info["status"], info["pass"], info["fail"], info["error"], info["skip"]))
    notes = [note for info in summary["hosts"].values() for note in info.get("notes") or []]
    if notes:
        lines += [""] + ["- \u2139\ufe0f %s" % cell(note, 1000) for note in notes]
    bad = [item for item in failures_first(report["results"]) if item["status"] in ("fail", "error")]
    if bad:
        lines += ["", "### Failures and errors (%d)" % len(bad), "",
                  "| status | host | service | check | source | message |", "|---|---|---|---|---|---|"]
        for item in bad[:limit]:
            lines.append("| %s %s | %s | %s | %s | %s | %s |" % (
                ICON[item["status"]], item["status"], cell(item["host"]), cell(item["service"] or "\u2014"), cell(item["check"]),
                cell(item["source"] or "\u2014"), cell(item["message"])))
        if len(bad) > limit:
            lines += ["", "\u2026 and %d more in report.html." % (len(bad) - limit)]
    if summary.get("report_dir"):
        lines += ["", "Full report: %s (report.html, results.json, junit.xml, metrics.prom, facts/)." % cell(summary["report_dir"], 1000)]
    return "\n".join(lines) + "\n"
