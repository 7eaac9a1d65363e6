# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""discover: what answers on each listener it may propose, and the ``check`` that follows from it.

The host probes its own listeners in one port_probe run (the private action discover_identify makes it): every
credential-free handshake of the protocol identification at once (module_utils/_probe/_identify.py, as strict mode
labels undeclared listeners), bounded by one timeout. The listeners asked are those discover may declare: TCP ones
of the host's network namespace that are not on loopback only and not on an ephemeral port, UDP ones on 53 and 123
only (_undeclared_identify.UDP_PORTS), and each published container port at the address it is published on (the
host's own address for a wildcard), where clients reach it. Keys are the host port as ``"80/tcp"``.

A TCP listener the host could not reach itself (its own firewall drops or refuses what it sends itself, e.g. no
``-i lo -j ACCEPT``) is asked again from the first source the firewall lets in, by the same static verdict discover
infers allow_from from: a member of an inventory group (groups by name, members in inventory order; hosts of the
play only), else the controller; at the host's inventory address only, one port_probe run per such source
(fallback_plan, then identified_from on the source's run, merged by merge_identified). A source the verdict does not
let in is never asked.

The suggestion: ``{http: {path: /, status: N}}`` when HTTP answered (N the status it answered ``GET /`` with),
``{protocol: NAME}`` when one other protocol did, nothing otherwise (the comment says what answered, and from where).
"""

from __future__ import annotations

import re

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

# identify_plan is planned on the host too (module discover_gather): it lives in module_utils, re-exported here
from ansible_collections.portproof.validate.plugins.module_utils._discover._plan import identify_plan  # noqa: F401  pylint: disable=unused-import
from ansible_collections.portproof.validate.plugins.module_utils._probe._identify import identify_targets, what_answers
from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import ALL, effective_binds
from ansible_collections.portproof.validate.plugins.plugin_utils._firewall_checks import check_firewall
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import HOST_NETNS, spec

_STATUS = re.compile(r"^HTTP/\d(?:\.\d)? (\d{3})(?:[ \r\n]|$)")


def _status(probes: Sequence[Mapping[str, Any]]) -> Optional[int]:
    """The status HTTP answered to the http handshake (GET /), from its evidence's excerpt."""
    for probe in probes:
        evidence = probe.get("protocol")
        if isinstance(evidence, Mapping) and evidence.get("expected") == "http" and evidence.get("answered") == "http":
            match = _STATUS.match(str(evidence.get("excerpt") or ""))
            if match:
                return int(match.group(1))
    return None


def identified_from(run: Mapping[str, Any], targets: Sequence[Mapping[str, Any]], timeout: float,
                    address: Optional[str] = None) -> Dict[str, Dict[str, Any]]:
    """{"80/tcp": {answered, label, status, reached}} from the port_probe RUN of TARGETS (those at ADDRESS only, when
    given: a source's run asks several hosts). ``reached`` is false for a TCP listener that no handshake connected to
    (refused, dropped): the one a source may ask again. A run that failed gives every port the label that says why
    (discover goes on, with no suggestion)."""
    ports: Dict[Tuple[int, str], List[Mapping[str, Any]]] = {}
    for target in targets:
        if address is None or target["host"] == address:
            ports.setdefault((target["port"], target["proto"]), [])
    if run.get("failed") or run.get("unreachable") or not isinstance(run.get("probes"), list):
        why = "could not be identified: %s" % (run.get("msg") or "port_probe returned no probes")
        return dict((spec(port, proto), {"answered": [], "label": why, "status": None, "reached": True}) for port, proto in ports)
    for probe in run["probes"]:
        if isinstance(probe, Mapping) and (probe.get("port"), probe.get("proto")) in ports \
                and (address is None or probe.get("host") == address):
            ports[(probe["port"], probe["proto"])].append(probe)
    found = {}
    for (port, proto), probes in ports.items():
        answers = what_answers(port, proto, probes, timeout)
        found[spec(port, proto)] = {"answered": list(answers["answered"]), "label": answers["label"],
                                    "status": _status(probes) if answers["answered"] == ["http"] else None,
                                    "reached": proto != "tcp" or not probes or any(p.get("connected") for p in probes)}
    return found


def _candidates(groups: Mapping[str, Sequence[str]], host: str, play_hosts: Sequence[str]) -> List[str]:
    """The hosts that may ask HOST's listeners in its place, in the order they are tried: the members of each inventory
    group (by group name, members in inventory order) that are in the play, HOST left out, each once."""
    order: List[str] = []
    playing = set(play_hosts)
    for name in sorted(groups):
        if name in ("all", "ungrouped"):
            continue
        for member in groups[name]:
            if member != host and member in playing and member not in order:
                order.append(member)
    return order


def _service_of(key: str, facts: Mapping[str, Any], address: str) -> Optional[Dict[str, Any]]:
    """The service a firewall verdict is asked about for KEY ("80/tcp") of the host, when other hosts reach it at
    ADDRESS (its inventory address): a published container port on a wildcard or on ADDRESS, or a listener of the
    host's network namespace bound to a wildcard or to ADDRESS; else None (nobody else reaches it there)."""
    port_text, proto = key.split("/", 1)
    port = int(port_text)
    version = 6 if ":" in address else 4
    for item in facts.get("mappings") or []:
        if item.get("host_port") == port and str(item.get("proto")) == proto:
            where = item.get("host_ip") or "0.0.0.0"
            if where in ("0.0.0.0", "::", address):
                return {"name": key, "port": port, "proto": proto,
                        "publish": {"container": item.get("container"), "container_port": item.get("container_port")}}
            return None
    binds = [bind for item in facts.get("listeners") or [] if item.get("netns") == HOST_NETNS
             and item.get("port") == port and item.get("proto") == proto for bind in effective_binds(item)]
    if any(v == version and (a == ALL or a == address) for v, a in binds):
        return {"name": key, "port": port, "proto": proto, "publish": None}
    return None


def _lets_in(host: str, service: Mapping[str, Any], entry: Dict[str, str], facts: Dict[str, Any],
             groups: Mapping[str, List[str]], hostvars: Mapping[str, Any], address: str, cache: Dict[str, Any]) -> bool:
    """Whether the static firewall verdict of HOST lets the source ENTRY in to SERVICE (every result passes)."""
    probe = dict(service, allow_from=[entry], deny_from=[])
    results = check_firewall(host, probe, facts, groups, hostvars, address, cache)
    return bool(results) and all(r["status"] == "pass" for r in results)


def fallback_plan(identified: Mapping[str, Mapping[str, Any]], facts: Mapping[str, Dict[str, Any]],
                  groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any], addresses: Mapping[str, Optional[str]],
                  play_hosts: Sequence[str], timeout: float) -> Dict[str, List[Dict[str, Any]]]:
    """{source: [{host, address, key, targets}]}: who asks each listener a host could not reach itself (IDENTIFIED:
    {host: identified_from of its own run}; "reached" false). The source is the first candidate (_candidates) that the
    host's static firewall verdict lets in, else ``controller`` when the verdict lets the controller in; a listener no
    allowed source reaches at the host's inventory address (ADDRESSES) is asked by nobody."""
    plan: Dict[str, List[Dict[str, Any]]] = {}
    members = dict((str(name), [str(m) for m in group]) for name, group in groups.items())
    for host in sorted(identified):
        address, host_facts = addresses.get(host), facts.get(host)
        if not address or not isinstance(host_facts, dict) or not host_facts.get("firewall"):
            continue
        cache: Dict[str, Any] = {}
        for key, found in sorted(identified[host].items()):
            if not isinstance(found, Mapping) or found.get("reached", True):
                continue
            service = _service_of(key, host_facts, address)
            if service is None:
                continue
            source = None
            for member in _candidates(members, host, play_hosts):
                if _lets_in(host, service, {"kind": "host", "name": member}, host_facts, members, hostvars, address, cache):
                    source = member
                    break
            if source is None and _lets_in(host, service, {"kind": "controller", "name": "controller"}, host_facts, members,
                                           hostvars, address, cache):
                source = "controller"
            if source is not None:
                plan.setdefault(source, []).append({
                    "host": host, "address": address, "key": key,
                    "targets": identify_targets("discover %s %s" % (host, key), address, service["port"], service["proto"], timeout)})
    return plan


def asked_from(source: str, entries: Sequence[Mapping[str, Any]], run: Mapping[str, Any], timeout: float) -> Dict[str, Dict[str, Any]]:
    """{host: {"80/tcp": identified}} from SOURCE's port_probe RUN of its plan ENTRIES, each marked ``via`` SOURCE."""
    found: Dict[str, Dict[str, Any]] = {}
    for entry in entries:
        answers = identified_from(run, entry["targets"], timeout, address=entry["address"]).get(entry["key"])
        if answers is not None:
            found.setdefault(entry["host"], {})[entry["key"]] = dict(answers, via=source)
    return found


# The variables the role registers the sources' runs in: each source host's, the controller's (once for the play).
ASKED = "portproof_discover_asked"
ASKED_CONTROLLER = "portproof_discover_asked_controller"


def source_runs(hostvars: Mapping[str, Any], play_hosts: Sequence[str]) -> List[Any]:
    """The registered runs of the sources: each play host's, then the controller's (registered on every host of the
    play; read once, from the first). Read once for the play: each read of hostvars[HOST] computes HOST's variables."""
    runs = [(hostvars.get(name) or {}).get(ASKED) for name in play_hosts]
    return runs + [(hostvars.get(play_hosts[0]) or {}).get(ASKED_CONTROLLER)] if play_hosts else runs


def asked_for(runs: Sequence[Any], host: str) -> List[Mapping[str, Any]]:
    """What the sources learnt about HOST's listeners, from their registered RUNS (source_runs)."""
    found: List[Mapping[str, Any]] = []
    for run in runs:
        asked = run.get("asked") if isinstance(run, Mapping) else None
        if isinstance(asked, Mapping) and isinstance(asked.get(host), Mapping):
            found.append(asked[host])
    return found


def merge_identified(own: Mapping[str, Any], asked: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """The host's own identification OWN ({"80/tcp": ...}), each listener it could not reach replaced by what a source
    learnt (ASKED: the sources' {"80/tcp": ... via} for this host), with the host's own label kept as ``own``."""
    merged = dict(own)
    for answers in asked:
        for key, found in answers.items():
            mine = merged.get(key)
            if isinstance(mine, Mapping) and not mine.get("reached", True) and isinstance(found, Mapping):
                merged[key] = dict(found, own=mine.get("label"))
    return merged


def suggestion(identified: Optional[Mapping[str, Any]]) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """(the check to propose or None, a comment on what answered) for one port's identification."""
    if not isinstance(identified, Mapping):
        return None, None
    answered = list(identified.get("answered") or [])
    label = str(identified.get("label") or "")
    if identified.get("via"):
        label = "asked from %s, as the host's own probe %s: %s" % (
            identified["via"], "was kept out (%s)" % identified["own"] if identified.get("own") else "was kept out", label)
    if answered == ["http"] and isinstance(identified.get("status"), int):
        return ({"http": {"path": "/", "status": identified["status"]}},
                "%s (GET / answered %d): the check proves it" % (label, identified["status"]))
    if len(answered) == 1:
        return {"protocol": answered[0]}, "%s: the check proves it" % label
    return None, "%s: no check proposed" % label if label else None
