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

The suggestion: ``{http: {path: /, status: N}}`` when HTTP answered (N the status it answered ``GET /`` with),
``{protocol: NAME}`` when one other protocol did, nothing otherwise (the comment says what answered).
"""

from __future__ import annotations

import re

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._probe._identify import identify_targets, what_answers
from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import ALL, address_class, effective_binds
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import HOST_NETNS, Item, local_address, spec
from ansible_collections.portproof.validate.plugins.plugin_utils._undeclared_identify import UDP_PORTS

_STATUS = re.compile(r"^HTTP/\d(?:\.\d)? (\d{3})(?:[ \r\n]|$)")


def _loopback_only(items: Sequence[Item]) -> bool:
    """Whether every effective bind is a loopback address (discover leaves such listeners out)."""
    binds = [address for item in items for _version, address in effective_binds(item)]
    return bool(binds) and all(address != ALL and address_class(address) == "loopback" for address in binds)


def identify_plan(facts: Mapping[str, Any], address: Optional[str], timeout: float, ephemeral: Tuple[int, int],
                  ssh: str = "ignore") -> List[Dict[str, Any]]:
    """The port_probe targets that ask what answers on each listener discover may propose (none when there is none):
    ADDRESS is where the host is reached (a container port published on a wildcard is asked there); 22/tcp is not
    asked when discover ignores SSH (SSH is ``ignore``)."""
    listeners = facts.get("listeners")
    if not isinstance(listeners, list):
        return []
    targets: List[Dict[str, Any]] = []
    seen = set()
    for item in facts.get("mappings") or []:
        host_port, proto = item.get("host_port"), str(item.get("proto"))
        if not isinstance(host_port, int) or (host_port, proto) in seen or not (item.get("container") or item.get("containers")):
            continue
        seen.add((host_port, proto))
        if proto != "tcp" and host_port not in UDP_PORTS:
            continue
        where = item.get("host_ip") or "0.0.0.0"
        where = address if where in ("0.0.0.0", "::") else where
        if where:
            targets.extend(identify_targets("discover %s" % spec(host_port, proto), where, host_port, proto, timeout))
    by_port: Dict[Tuple[int, str], List[Item]] = {}
    for item in listeners:
        if item.get("netns") == HOST_NETNS and (item.get("port"), item.get("proto")) not in seen:
            by_port.setdefault((item["port"], item["proto"]), []).append(item)
    for (port, proto), items in sorted(by_port.items()):
        if (proto == "udp" and port not in UDP_PORTS) or ephemeral[0] <= port <= ephemeral[1] or _loopback_only(items) \
                or (ssh == "ignore" and (port, proto) == (22, "tcp")):
            continue
        local = local_address(items)
        if local is not None:
            targets.extend(identify_targets("discover %s" % spec(port, proto), local, port, proto, timeout))
    return targets


def _status(probes: Sequence[Mapping[str, Any]]) -> Optional[int]:
    """The status HTTP answered to the http handshake (GET /), from its evidence's excerpt."""
    for probe in probes:
        evidence = probe.get("protocol")
        if isinstance(evidence, Mapping) and evidence.get("expected") == "http" and evidence.get("answered") == "http":
            match = _STATUS.match(str(evidence.get("excerpt") or ""))
            if match:
                return int(match.group(1))
    return None


def identified_from(run: Mapping[str, Any], targets: Sequence[Mapping[str, Any]], timeout: float) -> Dict[str, Dict[str, Any]]:
    """{"80/tcp": {answered, label, status}} from the port_probe RUN of TARGETS. A run that failed gives every port
    the label that says why (discover goes on, with no suggestion)."""
    ports: Dict[Tuple[int, str], List[Mapping[str, Any]]] = {}
    for target in targets:
        ports.setdefault((target["port"], target["proto"]), [])
    if run.get("failed") or run.get("unreachable") or not isinstance(run.get("probes"), list):
        why = "could not be identified: %s" % (run.get("msg") or "port_probe returned no probes")
        return dict((spec(port, proto), {"answered": [], "label": why, "status": None}) for port, proto in ports)
    for probe in run["probes"]:
        if isinstance(probe, Mapping) and (probe.get("port"), probe.get("proto")) in ports:
            ports[(probe["port"], probe["proto"])].append(probe)
    found = {}
    for (port, proto), probes in ports.items():
        answers = what_answers(port, proto, probes, timeout)
        found[spec(port, proto)] = {"answered": list(answers["answered"]), "label": answers["label"],
                                    "status": _status(probes) if answers["answered"] == ["http"] else None}
    return found


def suggestion(identified: Optional[Mapping[str, Any]]) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """(the check to propose or None, a comment on what answered) for one port's identification."""
    if not isinstance(identified, Mapping):
        return None, None
    answered = list(identified.get("answered") or [])
    label = str(identified.get("label") or "")
    if answered == ["http"] and isinstance(identified.get("status"), int):
        return ({"http": {"path": "/", "status": identified["status"]}},
                "%s (GET / answered %d): the check proves it" % (label, identified["status"]))
    if len(answered) == 1:
        return {"protocol": answered[0]}, "%s: the check proves it" % label
    return None, "%s: no check proposed" % label if label else None
