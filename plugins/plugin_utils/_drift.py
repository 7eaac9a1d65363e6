# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""drift results: what changed in a host's declared services since its baseline.

Per declared service, one ``drift`` result for its listeners, processes and mappings together
(each change named: new, gone, moved, changed), and one per declared source whose firewall
verdict changed (with that ``source``). A service with no change gets one ``pass``. Changes are
``fail``, or ``skip`` with ``warn: true`` under ``portproof_drift: warn``. Every drift result
carries ``changes``: [{aspect, change, was, now}] for machines.
"""

from __future__ import annotations

import json

from ansible_collections.portproof.validate.plugins.plugin_utils._baseline import READABLE_VERSIONS, snapshot
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import Service
from ansible_collections.portproof.validate.plugins.plugin_utils._drift_host import (
    Record, host_drift, host_shape_problem, records_shape_problem,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._firewall_checks import HostVars
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import RawFacts, Result, result, spec

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

# One change of a service: {aspect, change, was, now[, port]}.
Change = Dict[str, Any]
# A listener endpoint: (where, port, protocol).
Endpoint = Tuple[str, Any, Any]

MODES = ("fail", "warn")


def _drift(host: str, service: Optional[str], status: str, message: str, changes: List[Change], source: Optional[str] = None,
           expected: Optional[str] = None, actual: Optional[str] = None, warn: bool = False) -> Result:
    item = result(host, service, "drift", status, message, expected, actual, source)
    item["changes"] = changes
    if warn:
        item["warn"] = True
    return item


def _address(item: Record) -> str:
    text = item["address"] or "?"
    if item.get("interface"):
        text += "%" + item["interface"]
    if item.get("family") == "ipv6" and item["address"] == "::" and item.get("dual_stack") is not None:
        text += " (dual-stack)" if item["dual_stack"] else " (IPv6 only)"
    return text


def _owner(item: Record) -> str:
    if not item.get("process"):
        return "an unknown process"
    return "%s (user %s)" % (item["process"], item["user"]) if item.get("user") else item["process"]


def _holders(item: Record) -> List[str]:
    """The processes holding a saved or current listener's socket (``holders``; a baseline saved before
    they were recorded has its owner only)."""
    names = item.get("holders")
    if isinstance(names, list) and names and all(isinstance(name, str) for name in names):
        return names
    return [_owner(item)] if item.get("process") else []


def _by_endpoint(listeners: Iterable[Record]) -> Dict[Endpoint, Dict[str, Record]]:
    """{(where, port, proto): {address text: listener}}."""
    groups: Dict[Endpoint, Dict[str, Record]] = {}
    for item in listeners:
        groups.setdefault((item["where"], item["port"], item["proto"]), {})[_address(item)] = item
    return groups


def _in(where: str) -> str:
    return "" if where == "host" else " in %s" % where


def _moved(head: str, old: Dict[str, Record], new: Dict[str, Record], proto: Any, port: Any,
           current_listeners: Iterable[Record]) -> Tuple[str, str]:
    """(change, words) for an endpoint whose bound addresses differ from the baseline."""
    if old and new:
        return "moved", "%s was bound to %s, now %s" % (head, ", ".join(sorted(old)), ", ".join(sorted(new)))
    if new:
        return "new", "%s is now bound to %s, not in the baseline" % (head, ", ".join(sorted(new)))
    text = "%s was bound to %s, now nothing listens there" % (head, ", ".join(sorted(old)))
    processes = set(item["process"] for item in old.values() if item.get("process"))
    elsewhere = sorted("%s:%s" % (item["address"], item["port"]) for item in current_listeners
                       if item.get("process") in processes and item["proto"] == proto and item["port"] != port)
    if elsewhere:
        return "moved", text + "; %s now listens on %s" % ("/".join(sorted(processes)), ", ".join(elsewhere))
    return "gone", text


def _listener_changes(name: str, was: List[Record], now: List[Record], current_listeners: List[Record]) -> Tuple[List[Change], List[str]]:
    changes: List[Change] = []
    words: List[str] = []
    before, after = _by_endpoint(was), _by_endpoint(now)
    for key in sorted(set(before) | set(after), key=lambda k: (k[0], k[1] or 0, k[2] or "")):
        where, port, proto = key
        old, new = before.get(key, {}), after.get(key, {})
        head = "%s %s%s" % (name, spec(port, proto), _in(where))
        if set(old) != set(new):
            change, text = _moved(head, old, new, proto, port, current_listeners)
            changes.append({"aspect": "listeners", "change": change, "was": sorted(old), "now": sorted(new)})
            words.append(text)
        old_owners = sorted(set(name for item in old.values() for name in _holders(item)))
        new_owners = sorted(set(name for item in new.values() for name in _holders(item)))
        # A socket saved with one holder (not shared then, or saved before holders were recorded)
        # has not changed hands while that holder still holds it.
        single = any(not isinstance(item.get("holders"), list) for item in old.values())
        differ = not set(old_owners) <= set(new_owners) if single else old_owners != new_owners
        if old_owners and new_owners and differ:
            changes.append({"aspect": "process", "change": "changed", "was": old_owners, "now": new_owners})
            words.append("%s was served by %s, now by %s" % (head, ", ".join(old_owners), ", ".join(new_owners)))
    return changes, words


def _mapping_text(item: Record) -> str:
    return "%s:%s" % (item["host_ip"], item["host_port"])


def _mapping_changes(name: str, service: Service, was: List[Record], now: List[Record]) -> Tuple[List[Change], List[str]]:
    changes: List[Change] = []
    words: List[str] = []
    auto = service["port"] == "auto"
    pub = service["publish"]
    head = "%s (container %s port %s)" % (name, pub["container"], spec(pub["container_port"], service["proto"]))
    old = sorted(set(("%s:auto" % item["host_ip"]) if auto else _mapping_text(item) for item in was))
    new = sorted(set(("%s:auto" % item["host_ip"]) if auto else _mapping_text(item) for item in now))
    if old != new:
        if old and new:
            change, text = "moved", "%s was published on %s, now on %s" % (head, ", ".join(old), ", ".join(new))
        elif old:
            change, text = "gone", "%s was published on %s, now it is not published" % (head, ", ".join(old))
        else:
            change, text = "new", "%s is now published on %s, not in the baseline" % (head, ", ".join(new))
        changes.append({"aspect": "mappings", "change": change, "was": old, "now": new})
        words.append(text)
    old_images = sorted(set("%s (%s)" % (item["image"], item["digest"]) for item in was))
    new_images = sorted(set("%s (%s)" % (item["image"], item["digest"]) for item in now))
    if old and new and old_images != new_images:
        changes.append({"aspect": "mappings", "change": "changed", "was": old_images, "now": new_images})
        words.append("%s ran image %s, now %s" % (head, ", ".join(old_images), ", ".join(new_images)))
    return changes, words


def verdict_key(item: Record, proto: str) -> Tuple[Any, Any, Optional[str], Any, Any]:
    """What decides a saved verdict: source, address, family, protocol and port. A source has several
    verdicts per port (public and a CIDR are checked at several addresses, of both families); a
    version 1 baseline has no family or proto, which follow from the address and the service."""
    address = item.get("address")
    family = item.get("family") or (("ipv6" if ":" in address else "ipv4") if address else None)
    return (item["source"], address, family, item.get("proto") or proto, item["port"])


def _firewall_results(host: str, name: str, service: Service, was: List[Record], now: List[Record], status: str, warn: bool,
                      saved: str) -> List[Result]:
    results: List[Result] = []
    before = dict((verdict_key(item, service["proto"]), item) for item in was)
    verdicts: Dict[str, List[Tuple[Record, Record]]] = {}
    for item in now:
        key = verdict_key(item, service["proto"])
        if key not in before:
            continue  # a source declared since the baseline: nothing to compare
        old = before[key]
        if old["verdict"] == item["verdict"]:
            continue
        verdicts.setdefault(item["source"], []).append((old, item))
    for source, pairs in verdicts.items():
        texts: List[str] = []
        changes: List[Change] = []
        for old, new in pairs:
            texts.append("%s %s from %s (%s): was %s, now %s: %s" % (
                name, spec(new["port"], service["proto"]), source, new["address"], old["verdict"], new["verdict"], new["rule"]))
            changes.append({"aspect": "firewall", "change": "changed", "was": old["verdict"], "now": new["verdict"], "port": new["port"]})
        results.append(_drift(host, name, status, _prefix(warn) + "; ".join(texts) + " (baseline of %s)" % saved, changes, source=source,
                              expected=", ".join(old["verdict"] for old, _new in pairs),
                              actual=", ".join(new["verdict"] for _old, new in pairs), warn=warn))
    return results


def _side(changes: Iterable[Change], key: str) -> str:
    """'listeners: 10.1.0.5; process: postgres (user postgres)': one side (was or now) of the changes."""
    parts = []
    for change in changes:
        value = change[key]
        value = ", ".join(str(item) for item in value) if isinstance(value, list) else str(value)
        parts.append("%s: %s" % (change["aspect"], value or "nothing"))
    return "; ".join(parts)


def _prefix(warn: bool) -> str:
    return "warning (portproof_drift: warn): " if warn else ""


def _load(text: Any, path: str, host: str) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """(baseline, problem): the parsed baseline document, or why it cannot be used."""
    try:
        document = json.loads(text) if isinstance(text, str) else text
    except ValueError as exc:
        return None, "the baseline %s is not valid JSON: %s" % (path, exc)
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        return None, "the baseline %s is not a portproof baseline (no services)" % path
    if document.get("version") not in READABLE_VERSIONS:
        return None, "the baseline %s has version %r; this collection reads versions %s (save it again)" % (
            path, document.get("version"), " and ".join(str(v) for v in READABLE_VERSIONS))
    if document.get("host") not in (None, host):
        return None, "the baseline %s is the one of host %s, not %s" % (path, document.get("host"), host)
    for name, state in sorted(document["services"].items()):
        problem = _shape_problem(state)
        if problem:
            return None, "the baseline %s is not a portproof baseline (service %s: %s)" % (path, name, problem)
    if document.get("host_state") is not None:
        problem = host_shape_problem(document["host_state"])
        if problem:
            return None, "the baseline %s is not a portproof baseline (host_state: %s)" % (path, problem)
    return document, None


_OPTIONAL = (str, int, float, bool, type(None))
# The fields drift reads from a saved service state, with the types it can compare.
_SHAPE = {
    "listeners": (("where", (str,)), ("port", (int, type(None))), ("proto", (str, type(None))), ("address", (str, type(None))),
                  ("interface", (str, type(None))), ("family", (str, type(None))), ("process", _OPTIONAL), ("user", _OPTIONAL)),
    "mappings": (("host_ip", _OPTIONAL), ("host_port", _OPTIONAL), ("image", _OPTIONAL), ("digest", _OPTIONAL)),
    "firewall": (("source", (str,)), ("address", (str, type(None))), ("port", (int, str, type(None))), ("verdict", (str,))),
}

# Fields a version 1 baseline lacks: checked when present.
_SHAPE_OPTIONAL = {"firewall": (("family", (str, type(None))), ("proto", (str, type(None))))}


def _shape_problem(state: object) -> Optional[str]:
    """Why a saved service state cannot be compared, or None."""
    return records_shape_problem(state, _SHAPE, _SHAPE_OPTIONAL)


def drift(baseline_text: Any, contract: List[Service], raw_facts: Optional[RawFacts], host: str, groups: Optional[Mapping[str, List[str]]] = None,
          hostvars: Optional[HostVars] = None, address: Optional[str] = None, mode: str = "fail", path: Optional[str] = None,
          ignore: Optional[Sequence[str]] = None, loopback: bool = False) -> List[Result]:
    """drift results of one host: its current state (from RAW_FACTS) against BASELINE_TEXT (None: no baseline file).

    Per declared service, then for the host itself: what no service declares and IGNORE (port specs)
    does not ignore, loopback-only listeners only when LOOPBACK."""
    where = path or "for %s" % host
    if baseline_text is None:
        return [_drift(host, None, "skip", "%s: no baseline (%s); save one with the playbook portproof.validate.baseline" % (host, where), [])]
    if mode not in MODES:
        return [_drift(host, None, "error", "portproof_drift must be one of %s, got %r" % (", ".join(MODES), mode), [])]
    baseline, problem = _load(baseline_text, where, host)
    if baseline is None:
        return [_drift(host, None, "error", "%s: %s" % (host, problem), [])]
    saved = baseline.get("saved") or "unknown date"
    saved_host = baseline.get("host_state")
    current = snapshot(contract, raw_facts, host, groups, hostvars, address,
                       also=saved_host.get("openings") if isinstance(saved_host, dict) else None)
    listeners_now = [item for item in ((raw_facts or {}).get("listeners") or []) if item.get("netns") == "host"]
    warn = mode == "warn"
    status = "skip" if warn else "fail"
    results: List[Result] = []
    for service in contract:
        name = service["name"]
        was, now = baseline["services"].get(name), current["services"][name]
        if was is None:
            results.append(_drift(host, name, "skip", "%s: not in the baseline of %s (declared since)" % (name, saved), []))
            continue
        changes: List[Change] = []
        words: List[str] = []
        unknown: List[str] = []
        if was.get("listeners") is None or now["listeners"] is None:
            unknown.append("listeners (%s)" % ("not gathered now" if now["listeners"] is None else "not in the baseline"))
        else:
            found = _listener_changes(name, was["listeners"], now["listeners"], listeners_now)
            changes += found[0]
            words += found[1]
        if service["publish"]:
            if was.get("mappings") is None or now["mappings"] is None:
                unknown.append("mappings (%s)" % ("not gathered now" if now["mappings"] is None else "not in the baseline"))
            else:
                found = _mapping_changes(name, service, was["mappings"], now["mappings"])
                changes += found[0]
                words += found[1]
        if now["listeners"] is None or (service["publish"] and now["mappings"] is None):
            results.append(_drift(host, name, "error", "%s: cannot compare with the baseline of %s: %s" % (name, saved, ", ".join(unknown)),
                                  changes))
        elif changes:
            results.append(_drift(host, name, status, _prefix(warn) + "; ".join(words) + " (baseline of %s)" % saved, changes,
                                  expected=_side(changes, "was"), actual=_side(changes, "now"), warn=warn))
        if was.get("firewall") is not None and now["firewall"] is not None:
            results.extend(_firewall_results(host, name, service, was["firewall"], now["firewall"], status, warn, saved))
        elif now["firewall"] is None and service["allow_from"] + service["deny_from"]:
            results.append(_drift(host, name, "error", "%s: cannot compare firewall verdicts with the baseline of %s: the firewall "
                                  "was not gathered now" % (name, saved), []))
        if not any(item["service"] == name for item in results):
            note = " (%s could not be compared)" % ", ".join(unknown) if unknown else ""
            results.append(_drift(host, name, "pass", "%s: listeners, processes, mappings and firewall verdicts as in the baseline of %s%s"
                                  % (name, saved, note), [], expected="as in the baseline of %s" % saved, actual="unchanged"))
    results.extend(host_drift(host, contract, raw_facts, saved_host, current["host_state"], saved, ignore=ignore, loopback=loopback,
                              status=status, warn=warn, prefix=_prefix(warn)))
    return results
