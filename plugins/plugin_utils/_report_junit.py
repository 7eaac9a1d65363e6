# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""junit.xml: one testsuite per host, one testcase per result.

The document is valid against both schemas CI systems hold JUnit files to: the Jenkins xunit
plugin's junit-10.xsd and the stricter Apache Ant schema (Windy Road JUnit.xsd), which GitLab's
parser also reads. That means: no attributes on <testsuites>; every <testsuite> has name,
package, id, timestamp (no zone), hostname, tests, failures, errors, skipped, time, then
<properties>, the testcases, <system-out> and <system-err> in that order; a testcase holds at
most one of <failure>, <error>, <skipped>, with the evidence as the element's text.
"""

from __future__ import annotations

import json
import re

from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import Report, ReportResult, counts

from typing import Dict, List

# Characters XML 1.0 cannot carry at all (control characters other than tab, newline, carriage return), and those
# it can but a terminal would obey (carriage return, DEL, C1: see _report_text).
_NOT_XML = re.compile(u"[^\u0009\u000a\u0020-\u007e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def _clean(text: object) -> str:
    return _NOT_XML.sub(lambda match: "\\x%02x" % ord(match.group(0)) if ord(match.group(0)) < 256 else "\\u%04x" % ord(match.group(0)),
                        str(text))


def text(value: object) -> str:
    """Element text: &, < and > escaped, characters XML cannot hold shown as \\xNN."""
    return _clean(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attr(value: object) -> str:
    """An attribute value in double quotes; line breaks and tabs kept as character references."""
    return '"%s"' % text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")


def show(value: object) -> str:
    if value is None or isinstance(value, str):
        return "" if value is None else value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def timestamp(generated: object) -> str:
    match = _TIMESTAMP.match(str(generated or ""))
    return match.group(0) if match else "1970-01-01T00:00:00"


def _seconds(item: ReportResult) -> float:
    latency = item.get("latency_ms")
    return latency / 1000.0 if isinstance(latency, (int, float)) and not isinstance(latency, bool) and latency >= 0 else 0.0


def case_name(item: ReportResult) -> str:
    name = "%s %s" % (item["service"] or "host", item["check"])
    if item["source"]:
        name += " from %s" % item["source"]
    return name


def evidence(item: ReportResult) -> str:
    lines = ["%s: %s" % (item["status"], item["message"])]
    for key in ("expected", "actual", "tls", "source", "latency_ms", "sample", "recorded_on"):
        if item.get(key) not in (None, ""):
            lines.append("%s: %s" % (key, show(item[key])))
    return "\n".join(lines)


def render_junit(report: Report) -> str:
    """The junit.xml text of a collected report."""
    results = report["results"]
    hosts = list(report["summary"]["hosts"])
    stamp = timestamp(report["summary"].get("generated"))
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<testsuites>"]
    by_host: Dict[str, List[ReportResult]] = {}
    for item in results:
        by_host.setdefault(item["host"], []).append(item)
    for index, host in enumerate(hosts):
        mine = by_host.get(host, [])
        tally = counts(mine)
        info = report["summary"]["hosts"][host]
        out.append("  <testsuite name=%s package=%s id=%s timestamp=%s hostname=%s tests=%s failures=%s errors=%s skipped=%s time=%s>" % (
            attr(host), attr("portproof"), attr(index), attr(stamp), attr(host), attr(tally["total"]), attr(tally["fail"]),
            attr(tally["error"]), attr(tally["skip"]), attr("%.3f" % sum(_seconds(item) for item in mine))))
        out.append("    <properties>")
        for name, value in (("portproof.status", info["status"]), ("portproof.address", info.get("address"))):
            if value is not None:
                out.append("      <property name=%s value=%s/>" % (attr(name), attr(value)))
        out.append("    </properties>")
        token = host.replace(".", "_")
        for item in mine:
            head = "    <testcase name=%s classname=%s time=%s" % (
                attr(case_name(item)), attr("%s.%s" % (token, (item["service"] or "host").replace(".", "_"))), attr("%.3f" % _seconds(item)))
            if item["status"] == "pass":
                out.append(head + "/>")
            elif item["status"] == "skip":
                out.append(head + "><skipped message=%s/></testcase>" % attr(item["message"]))
            else:
                element = "failure" if item["status"] == "fail" else "error"
                out.append(head + "><%s type=%s message=%s>%s</%s></testcase>" % (
                    element, attr(item["check"]), attr(item["message"]), text(evidence(item)), element))
        out.append("    <system-out></system-out>")
        out.append("    <system-err></system-err>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"
