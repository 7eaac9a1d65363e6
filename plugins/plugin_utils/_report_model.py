# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The report's data: every host's results gathered into one list, counted, and the reachability matrix.

``collect`` takes the ``portproof_results`` of every host of the play (a result may be recorded on
another host than its ``host``: live checks run on their source), groups them by their ``host``
field, adds an ``error`` result for each host that was unreachable or failed before its checks
ran, and counts. The renderers (``_report_json``, ``_report_junit``, ``_report_markdown``,
``_report_html``, ``_report_prometheus``) turn the collected report into each file's text.
"""

from __future__ import annotations

import hashlib
import re

from typing import Any, Dict, Iterable, List, Mapping, Optional, Protocol, Sequence, Tuple

# A result as the report holds it: every key of SPEC section 5 (host, service, check, status, source, message,
# expected, actual), recorded_on, and what the check added (latency_ms, sample, changes, warn, ...).
ReportResult = Dict[str, Any]
# The collected report: {"summary": {...}, "results": [ReportResult]} (see collect).
Report = Dict[str, Any]


class HostVarsLookup(Protocol):
    """What collect reads of hostvars (Ansible's, or the report action's lookup that reads each host once)."""

    def __contains__(self, host: object) -> bool:
        ...

    def __getitem__(self, host: str) -> Any:
        ...


STATUSES = ("pass", "fail", "error", "skip")
RESULT_KEYS = ("host", "service", "check", "status", "source", "message", "expected", "actual")
REPORT_VERSION = 1
UNREACHABLE = "unreachable or failed before its checks ran"
INCOMPLETE = "failed after some of its checks ran; its results are incomplete"
LOST = "became unreachable during the run (its later checks did not run): %s"
# Which checks fill the matrix (live first; the static firewall verdict is the fallback for a cell).
LIVE_MATRIX = ("reach", "isolation")
STATIC_MATRIX = ("firewall_allow", "firewall_deny")
CHECK_ORDER = ("run", "report", "listen", "bind", "process", "mapping", "firewall_allow", "firewall_deny", "persist", "restart", "reach", "isolation",
               "response", "tls", "protocol", "load", "dns", "drift", "undeclared")
# Worst first: the colour of a matrix cell, the order of the failures.
SEVERITY = {"fail": 0, "error": 1, "pass": 2, "skip": 3}


def _text(value: object) -> Optional[str]:
    return None if value is None else str(value)


def _plain(value: Any) -> Any:
    """Ansible's tagged or unsafe containers as plain JSON-able Python values."""
    if isinstance(value, dict):
        return dict((str(key), _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def normalise(item: Any, recorder: str) -> ReportResult:
    """One result with every key of SPEC section 5; a malformed one becomes an error naming where it came from."""
    if not isinstance(item, dict) or not item.get("host") or not item.get("check") or item.get("status") not in STATUSES:
        return {"host": recorder, "service": None, "check": "report", "status": "error", "source": None,
                "message": "%s recorded a malformed result (needs host, check and status pass|fail|error|skip): %r" % (recorder, item),
                "expected": None, "actual": None, "recorded_on": recorder}
    result = dict((key, _plain(value)) for key, value in item.items())
    for key in RESULT_KEYS:
        result.setdefault(key, None)
    for key in ("host", "service", "check", "source"):
        result[key] = _text(result[key])
    if result["message"] is None:
        result["message"] = ""
    result["message"] = str(result["message"])
    result["recorded_on"] = recorder
    return result


def ordered(results: List[ReportResult], hosts: Sequence[str]) -> List[ReportResult]:
    """Grouped by host (in HOSTS order, then any other host by name), within a host by service (in the order
    they first appear; host-wide results last) and check kind, otherwise in the order they were recorded."""
    order = dict((host, index) for index, host in enumerate(hosts))
    for host in sorted(set(item["host"] for item in results) - set(order)):
        order[host] = len(order)
    services: Dict[Tuple[str, Optional[str]], int] = {}
    for item in results:
        services.setdefault((item["host"], item["service"]), len(services) if item["service"] is not None else 1 << 30)
    kinds = dict((kind, index) for index, kind in enumerate(CHECK_ORDER))

    def key(pair: Tuple[int, ReportResult]) -> Tuple[int, int, int, int]:
        index, item = pair
        return (order[item["host"]], services[(item["host"], item["service"])], kinds.get(item["check"], len(kinds)), index)
    return [item for _index, item in sorted(enumerate(results), key=key)]


def counts(results: Sequence[ReportResult]) -> Dict[str, Any]:
    out: Dict[str, Any] = dict((status, 0) for status in STATUSES)
    for item in results:
        out[item["status"]] += 1
    out["total"] = len(results)
    return out


def overall(tally: Mapping[str, Any]) -> str:
    """fail if anything failed, else error if anything errored, else pass (skips alone pass)."""
    if tally["fail"]:
        return "fail"
    if tally["error"]:
        return "error"
    return "pass"


# Characters a host's file name keeps as they are; every other one is written %XX (its UTF-8 bytes).
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# A file name stays well under NAME_MAX (255 bytes) with its extension.
NAME_LIMIT = 200


def evidence_name(host: object) -> str:
    """The name (without extension) of HOST's evidence files (facts/<name>.json, the baseline <name>.json): the host's
    name, with every character that is not a letter, digit, '.', '_' or '-' written %XX for each of its UTF-8 bytes
    ('src@1' is 'src%401', 'src_1' stays 'src_1'; no two host names give one file name); a name longer than
    NAME_LIMIT is cut and ends with '~' and 16 hex digits of the SHA-256 of the host's name."""
    text = str(host)
    name = _UNSAFE.sub(lambda match: "".join("%%%02X" % byte for byte in match.group(0).encode("utf-8", "surrogatepass")), text)
    if name in (".", ".."):
        name = name.replace(".", "%2E")
    if len(name) > NAME_LIMIT:
        name = "%s~%s" % (name[:NAME_LIMIT - 17], hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16])
    return name


# A static firewall check from a source of the family the host has no address of: the check does not apply, it
# is no gap. The report folds them into one note per host and family (summary.hosts[host].notes), see fold_no_family.
NO_FAMILY = re.compile(r"^(?P<service>.+?): (?P<host>.+) has no IPv(?P<version>[46]) address, so source (?P<source>.+) "
                       r"\((?P<address>[^()]*)\) cannot reach it over IPv[46]$")
FIREWALL_CHECKS = ("firewall_allow", "firewall_deny")


def fold_no_family(results: Iterable[ReportResult]) -> Tuple[List[ReportResult], Dict[str, List[str]]]:
    """(results without the firewall checks that do not apply for want of an address family, {host: [notes]}): one
    note per host and family, 'db1 has no IPv6 address: 4 firewall checks from IPv6 sources do not apply (postgres:
    public 2001:db8::7; redis: public 2001:db8::7, 2001:db8::/64 2001:db8::1)'."""
    kept: List[ReportResult] = []
    folded: Dict[Tuple[str, str], Dict[str, List[str]]] = {}
    for item in results:
        match = NO_FAMILY.match(item["message"]) if item["status"] == "skip" and item["check"] in FIREWALL_CHECKS else None
        if match is None or match.group("host") != item["host"]:
            kept.append(item)
            continue
        by_service = folded.setdefault((item["host"], match.group("version")), {})
        by_service.setdefault(match.group("service"), []).append(
            match.group("source") if match.group("address") in match.group("source") else "%s %s" % (match.group("source"), match.group("address")))
    notes: Dict[str, List[str]] = {}
    for (host, version), by_service in folded.items():
        count = sum(len(sources) for sources in by_service.values())
        notes.setdefault(host, []).append("%s has no IPv%s address: %d firewall check%s from IPv%s sources do%s not apply (%s)" % (
            host, version, count, "" if count == 1 else "s", version, "es" if count == 1 else "",
            "; ".join("%s: %s" % (service, ", ".join(sorted(set(sources)))) for service, sources in by_service.items())))
    return kept, notes


def facts_file(host: object) -> str:
    """facts/<name>.json, the name of evidence_name (readable and distinct for each host)."""
    return "facts/%s.json" % evidence_name(host)


def _host_vars(hostvars: HostVarsLookup, host: str) -> Mapping[str, Any]:
    """The variables of HOST ({} for a host outside the inventory)."""
    if host not in hostvars:
        return {}
    return hostvars[host] or {}


def collect(hostvars: HostVarsLookup, hosts_all: Iterable[object], hosts_live: Iterable[object], generated: object = None,
            report_dir: object = None) -> Report:
    """The report: {"summary": {...}, "results": [...]} over the results of every host of the play.

    ``hosts_all``/``hosts_live`` are ``ansible_play_hosts_all``/``ansible_play_hosts``; results are
    grouped by their ``host`` field in play order (hosts outside the play after them), see ``ordered``.
    """
    names = [str(host) for host in hosts_all]
    live = set(str(host) for host in hosts_live)
    results: List[ReportResult] = []
    recorded: Dict[str, int] = {}
    for recorder in names:
        items = _host_vars(hostvars, recorder).get("portproof_results") or []
        if not isinstance(items, list):
            items = [items]
        recorded[recorder] = len(items)
        results.extend(normalise(item, recorder) for item in items)
    # A host the live probes could no longer reach stays in the play (they ignore unreachable hosts)
    # but is not reachable: the live checks record why in portproof_lost.
    lost = dict((host, _text(_host_vars(hostvars, host).get("portproof_lost"))) for host in names)
    for host in names:
        if host in live and not lost[host]:
            continue
        reason = LOST % lost[host] if host in live else (INCOMPLETE if recorded.get(host) else UNREACHABLE)
        results.append({"host": host, "service": None, "check": "run", "status": "error", "source": None,
                        "message": "%s: %s" % (host, reason), "expected": "every check of %s ran" % host,
                        "actual": reason, "recorded_on": None})
    results, notes = fold_no_family(results)
    results = ordered(results, names)
    extra = sorted(set(item["host"] for item in results) - set(names))
    tally = counts(results)
    by_host: Dict[str, List[ReportResult]] = {}
    for item in results:
        by_host.setdefault(item["host"], []).append(item)
    in_play = set(names)
    hosts: Dict[str, Dict[str, Any]] = {}
    for host in names + extra:
        entry = counts(by_host.get(host, []))
        entry["status"] = overall(entry)
        entry["reachable"] = (host in live and not lost[host]) if host in in_play else None
        hvars = _host_vars(hostvars, host)
        address = hvars.get("portproof_address") or hvars.get("ansible_host")
        entry["address"] = _text(address)
        entry["facts"] = facts_file(host) if host in in_play else None
        if notes.get(host):
            entry["notes"] = notes[host]
        hosts[host] = entry
    by_check: Dict[str, Dict[str, int]] = {}
    for item in results:
        by_check.setdefault(item["check"], dict((status, 0) for status in STATUSES))[item["status"]] += 1
    summary: Dict[str, Any] = {"version": REPORT_VERSION, "status": overall(tally), "generated": _text(generated), "report_dir": _text(report_dir)}
    summary.update(tally)
    summary["hosts"] = hosts
    summary["checks"] = by_check
    report = {"summary": summary, "results": results}
    summary["headline"] = headline(report)
    return report


def failures_first(results: Iterable[ReportResult]) -> List[ReportResult]:
    """fail, then error, then the rest, each in report order."""
    return [item for _index, item in sorted(enumerate(results), key=lambda pair: (SEVERITY[pair[1]["status"]], pair[0]))]


def headline(report: Report) -> str:
    """One line: 'FAIL: 3 fail, 1 error, 40 pass, 2 skip of 46 results on 5 hosts'."""
    summary = report["summary"]
    parts = ["%d %s" % (summary[status], status) for status in ("fail", "error", "pass", "skip") if summary[status]]
    return "%s: %s of %d results on %d hosts" % (
        summary["status"].upper(), ", ".join(parts) or "no results", summary["total"], len(summary["hosts"]))


def target_of(item: ReportResult) -> str:
    return "%s/%s" % (item["host"], item["service"]) if item["service"] else item["host"]


def matrix(results: Iterable[ReportResult]) -> Dict[str, Any]:
    """The reachability matrix: sources (rows) by target host/service (columns).

    A cell holds the live results (reach, isolation) from that source to that target; only when
    there are none, the static firewall verdicts (firewall_allow, firewall_deny) stand in. Its
    status is the worst of them. Returns {"sources": [...], "targets": [...], "cells": {(source, target): cell}}.
    """
    # insertion-ordered sets
    sources: Dict[str, int] = {}
    targets: Dict[str, int] = {}
    cells: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for item in results:
        if item["check"] not in LIVE_MATRIX + STATIC_MATRIX or not item["source"]:
            continue
        target = target_of(item)
        sources.setdefault(item["source"], len(sources))
        targets.setdefault(target, len(targets))
        cell = cells.setdefault((item["source"], target), {"live": [], "static": []})
        cell["live" if item["check"] in LIVE_MATRIX else "static"].append(item)
    for cell in cells.values():
        cell["results"] = cell["live"] or cell["static"]
        cell["kind"] = "live" if cell["live"] else "static"
        cell["status"] = min((item["status"] for item in cell["results"]), key=lambda status: SEVERITY[status])
        allowed = any(item["check"] in ("reach", "firewall_allow") for item in cell["results"])
        denied = any(item["check"] in ("isolation", "firewall_deny") for item in cell["results"])
        cell["expect"] = "allow" if allowed and not denied else "deny" if denied and not allowed else "mixed"
        latencies = [item["latency_ms"] for item in cell["live"] if isinstance(item.get("latency_ms"), (int, float))]
        cell["latency_ms"] = max(latencies) if latencies else None
    hosts_order: Dict[str, int] = {}
    for target in targets:
        hosts_order.setdefault(target.split("/", 1)[0], len(hosts_order))
    # Hosts as sources first in the order they appear as targets, then the rest (controller, CIDRs, public).
    ordered_sources = sorted(sources, key=lambda name: (0, hosts_order[name]) if name in hosts_order else (1, sources[name]))
    return {"sources": ordered_sources, "targets": list(targets), "cells": cells}
