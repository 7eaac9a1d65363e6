# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Strict mode: what answers on each undeclared listener of a host, as a label for its ``undeclared`` result.

The host probes its own undeclared listeners (loopback for a wildcard bind, else the bound
address) in one port_probe run that the static step's action makes on it, only in strict mode
and only when it has an undeclared listener: every handshake of the protocol identification at
once (module_utils/_probe/_identify.py), bounded by the probe timeout. The label is evidence; the
``undeclared`` result fails whatever it says, and a probe that could not run gives a label that
says why instead of failing the step.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._discover._plan import local_address
from ansible_collections.portproof.validate.plugins.module_utils._probe._identify import identify_targets, what_answers
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import Service
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import Facts, spec, undeclared_listeners

# UDP listeners are identified on the ports of the UDP protocols with a request only (dns, ntp): any other UDP
# service takes a foreign datagram as input (syslog writes it to its log, statsd counts it), and most answer it
# with silence, which would name nothing. Their undeclared result has no label.
UDP_PORTS = (53, 123)
# The label of a listener no plain address of its host reaches.
UNREACHABLE = "could not be identified: bound only to an interface or a link-local address"


def identify_plan(services: Sequence[Service], facts: Mapping[str, Any], ignore: Optional[Sequence[Any]], loopback: bool,
                  timeout: float) -> Tuple[List[Dict[str, Any]], Dict[str, str]]:
    """(port_probe targets, labels known without probing) for the undeclared listeners of a host."""
    indexed = Facts(dict(facts))
    if indexed.listeners is None:
        return [], {}
    targets: List[Dict[str, Any]] = []
    labels: Dict[str, str] = {}
    for (port, proto), items in undeclared_listeners(services, indexed, ignore or (), loopback).items():
        if proto == "udp" and port not in UDP_PORTS:
            continue
        address = local_address(items)
        if address is None:
            labels[spec(port, proto)] = UNREACHABLE
            continue
        targets.extend(identify_targets("undeclared %s" % spec(port, proto), address, port, proto, timeout))
    return targets, labels


def labels_from(run: Mapping[str, Any], targets: Sequence[Mapping[str, Any]], timeout: float) -> Dict[str, str]:
    """{"9999/tcp": label} from the port_probe RUN of TARGETS (identify_plan). A run that failed labels every
    listener with its message: the identification never fails the step."""
    ports: Dict[Tuple[int, str], List[Mapping[str, Any]]] = {}
    for target in targets:
        ports.setdefault((target["port"], target["proto"]), [])
    if run.get("failed") or run.get("unreachable") or not isinstance(run.get("probes"), list):
        why = "could not be identified: %s" % (run.get("msg") or "port_probe returned no probes")
        return dict((spec(port, proto), why) for port, proto in ports)
    for probe in run["probes"]:
        if isinstance(probe, Mapping) and (probe.get("port"), probe.get("proto")) in ports:
            ports[(probe["port"], probe["proto"])].append(probe)
    return dict((spec(port, proto), what_answers(port, proto, probes, timeout)["label"]) for (port, proto), probes in ports.items())
