# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""metrics.prom: the report in the Prometheus text exposition format (version 0.0.4).

For the node exporter's textfile collector or a push to a Pushgateway:

- ``portproof_check_success{host,service,check,source,status}``: one gauge per result, 1 when it
  passed (or was skipped), 0 when it failed or errored; ``status`` holds which. Results with the
  same host, service, check and source (one per port of a ``port: auto`` service, one per
  undeclared listener) are told apart by a label ``n``.
- ``portproof_probe_latency_seconds{host,service,check,source}``: the latency of live probes.
- ``portproof_results{status}``, ``portproof_host_success{host}`` and
  ``portproof_report_timestamp_seconds``.
"""

from __future__ import annotations

import datetime

from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import STATUSES, Report, ReportResult
from ansible_collections.portproof.validate.plugins.plugin_utils._report_text import inert

from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

# The labels of one sample: [(name, value)].
Labels = List[Tuple[str, Any]]

LABELS = ("host", "service", "check", "source")


def label_value(value: object) -> str:
    """A label value: every control character but tab and newline shown as the text \\xNN (see _report_text), then
    backslash, newline and double quote escaped as the exposition format says."""
    return "" if value is None else inert(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels(pairs: Labels) -> str:
    if not pairs:
        return ""
    return "{%s}" % ",".join('%s="%s"' % (name, label_value(value)) for name, value in pairs)


def number(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def epoch(generated: object) -> Optional[float]:
    """Seconds since the epoch of an ISO 8601 time (UTC when it names no zone); None when it is not one."""
    try:
        moment = datetime.datetime.fromisoformat(str(generated).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _family(out: List[str], name: str, kind: str, helptext: str, samples: Sequence[Tuple[Labels, Any]]) -> None:
    if not samples:
        return
    out.append("# HELP %s %s" % (name, helptext.replace("\\", "\\\\").replace("\n", "\\n")))
    out.append("# TYPE %s %s" % (name, kind))
    for pairs, value in samples:
        out.append("%s%s %s" % (name, labels(pairs), number(value)))


def _keyed(results: Sequence[ReportResult]) -> Iterator[Tuple[Labels, ReportResult]]:
    """(label pairs, result) with the label n added where results share host, service, check and source."""
    seen: Dict[Tuple[Any, ...], int] = {}
    for item in results:
        key = tuple(item[name] for name in LABELS)
        seen[key] = seen.get(key, 0) + 1
    index: Dict[Tuple[Any, ...], int] = {}
    for item in results:
        key = tuple(item[name] for name in LABELS)
        pairs = [(name, item[name]) for name in LABELS]
        if seen[key] > 1:
            index[key] = index.get(key, 0) + 1
            pairs.append(("n", index[key]))
        yield pairs, item


def render_prometheus(report: Report) -> str:
    summary = report["summary"]
    out: List[str] = []
    keyed = list(_keyed(report["results"]))
    _family(out, "portproof_check_success", "gauge", "1 when the portproof result passed or was skipped, 0 when it failed or errored.",
            [(pairs + [("status", item["status"])], 1 if item["status"] in ("pass", "skip") else 0) for pairs, item in keyed])
    latencies: List[Tuple[Labels, float]] = []
    for pairs, item in keyed:
        latency = item.get("latency_ms")
        if isinstance(latency, (int, float)) and not isinstance(latency, bool):
            latencies.append((pairs, latency / 1000.0))
    _family(out, "portproof_probe_latency_seconds", "gauge", "Latency of the live probe behind the result, in seconds.", latencies)
    _family(out, "portproof_results", "gauge", "Number of portproof results by status.",
            [([("status", status)], summary[status]) for status in STATUSES])
    _family(out, "portproof_host_success", "gauge", "1 when no result of the host failed or errored.",
            [([("host", host)], 1 if info["status"] == "pass" else 0) for host, info in summary["hosts"].items()])
    stamp = epoch(summary.get("generated")) if summary.get("generated") else None
    if stamp is not None:
        _family(out, "portproof_report_timestamp_seconds", "gauge", "When the report was written, seconds since the epoch.",
                [([], stamp)])
    return "\n".join(out) + "\n"
