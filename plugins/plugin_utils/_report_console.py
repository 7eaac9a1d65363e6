# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""What the report role prints at the end of a run: the outcome, the failures themselves, and which host of the
play each failure fails.

A CI log must be enough to act on: each failed or errored result is one line (status, host, service, check,
source, message), the first ``LIMIT`` of the run are printed once, and each host of the play that a failure is
about is failed with its own lines. Every line is inert on a terminal (``_report_text``).
"""

from __future__ import annotations

from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import Report, ReportResult, failures_first
from ansible_collections.portproof.validate.plugins.plugin_utils._report_text import inert

from typing import Any, Dict, Iterable, List, Mapping

LIMIT = 20
MESSAGE_LIMIT = 400


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def failure_line(item: ReportResult) -> str:
    """'FAIL db1 postgres firewall_deny from web1: message', one line, inert, the message cut at MESSAGE_LIMIT."""
    where = " ".join(part for part in (item["host"], item.get("service") or "", item["check"]) if part)
    source = " from %s" % item["source"] if item.get("source") else ""
    message = " ".join(str(item.get("message") or "").split())
    return inert("%s %s%s: %s" % (item["status"].upper(), where, source, _cut(message, MESSAGE_LIMIT)), one_line=True)


def _limited(lines: List[str], limit: int, where: str) -> List[str]:
    if len(lines) <= limit:
        return lines
    return lines[:limit] + ["... and %d more failures and errors: see %s" % (len(lines) - limit, where)]


def outcome(summary: Mapping[str, Any]) -> str:
    """The run's outcome in one line, with the counts and the report's path."""
    return inert("portproof %s: %d results on %d hosts: %d pass, %d fail, %d error, %d skip; report: %s" % (
        summary["status"].upper(), summary["total"], len(summary["hosts"]), summary["pass"], summary["fail"],
        summary["error"], summary["skip"], summary.get("report_dir") or ""), one_line=True)


def console(report: Report, hosts_live: Iterable[object], limit: int = LIMIT) -> Dict[str, Any]:
    """{"outcome": line, "failures": the first LIMIT failure lines of the run (then a count),
    "hosts": {host of the play: its failure lines}}.

    A failure fails the host it is about when that host is still in the play (HOSTS_LIVE); a failure about a host
    outside the play (a source or target outside --limit) fails the host that recorded it; a failure about a host
    that already left the play fails nobody again (Ansible has failed it already)."""
    summary = report["summary"]
    where = "%s/summary.md" % summary["report_dir"] if summary.get("report_dir") else "the report"
    live = set(str(host) for host in hosts_live)
    in_play = set(summary["hosts"]) - set(host for host, info in summary["hosts"].items() if info.get("facts") is None)
    bad = [item for item in failures_first(report["results"]) if item["status"] in ("fail", "error")]
    lines = [failure_line(item) for item in bad]
    by_host: Dict[str, List[str]] = {}
    for item, line in zip(bad, lines):
        host = item["host"]
        if host not in live:
            if host in in_play:
                continue  # left the play: failed already
            host = item.get("recorded_on") if item.get("recorded_on") in live else None
        if host is not None:
            by_host.setdefault(host, []).append(line)
    return {"outcome": outcome(summary), "failures": _limited(lines, limit, where),
            "hosts": dict((host, _limited(found, limit, where)) for host, found in by_host.items())}
