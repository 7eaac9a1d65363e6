# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""A host's known-good state: the normalised state of its declared services, saved as the baseline.

Per declared service: the listeners on its port(s) (address, port, protocol, family, process,
user; inside its container when it is published), its port mappings (host address and port to
container and port, image), and the firewall verdict for a new connection from each declared
source (``allow_from`` and ``deny_from``). A part that could not be gathered is null, so that
drift is never decided on missing facts. Process ids are left out: they change on every restart. Besides, the host's own state, declared
or not: every listener, published port and firewall opening (``host_state``, see _drift_host).
"""

from __future__ import annotations

from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import FirewallError
from ansible_collections.portproof.validate.plugins.module_utils._verdict._match import PacketError
from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import version_of
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import Service
from ansible_collections.portproof.validate.plugins.plugin_utils._drift_host import host_state
from ansible_collections.portproof.validate.plugins.plugin_utils._firewall_checks import (
    HostVars, compile_firewall, destination, expand_sources, inbound_verdict, rule_text,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import Facts, Item, RawFacts, holders, host_ports, published

from typing import Any, Dict, Iterable, List, Mapping, Optional, Set

# One saved listener, mapping or firewall verdict of a service (see the module's documentation).
State = Dict[str, Any]

BASELINE_VERSION = 2
# Version 1 baselines are read too: their verdicts lack family and proto, which drift derives
# from the address and the service, and they have no host_state (no host-level drift).
READABLE_VERSIONS = (1, 2)


def listener_state(item: Item, where: str) -> State:
    state = {"where": where, "address": item.get("address"), "port": item.get("port"), "proto": item.get("proto"),
             "family": item.get("family"), "dual_stack": item.get("dual_stack"), "interface": item.get("interface"),
             "process": item.get("process"), "user": item.get("user")}
    if item.get("shared_with"):
        state["holders"] = holder_names(item)  # a shared socket: drift compares every holder, not the owner
    return state


def holder_names(item: Item) -> List[str]:
    """The distinct processes holding a listener's socket, as ``process (user USER)``: what drift compares
    (the set of holders, not which one is called the owner, which may change with a reload)."""
    names: Set[str] = set()
    for holder in holders(item):
        if holder.get("process"):
            names.add("%s (user %s)" % (holder["process"], holder["user"]) if holder.get("user") else str(holder["process"]))
    return sorted(names)


def _listeners(facts: Facts, service: Service, ports: Iterable[Any]) -> Optional[List[State]]:
    """The service's listeners: on the host's port(s), or for a published service inside its container.

    The host side of a published port is its mapping (and whatever holds the port open for the
    engine, such as conmon), so it is compared as a mapping, not as a listener.
    """
    if facts.listeners is None:
        return None
    pub = service["publish"]
    if pub:
        found = [listener_state(item, "container %s" % pub["container"])
                 for item in facts.in_container(pub["container"], pub["container_port"], service["proto"])]
    else:
        found = [listener_state(item, "host") for port in ports for item in facts.on(port, service["proto"])]
    return sorted(found, key=lambda item: (item["where"], item["port"], item["family"] or "", item["address"] or ""))


def _mappings(facts: Facts, service: Service) -> Optional[List[State]]:
    if not service["publish"]:
        return []
    if facts.mappings is None:
        return None
    found: List[State] = []
    for item in published(facts, service):
        image = item.get("image") or {}
        found.append({"container": item.get("container"), "target_port": item.get("target_port"), "proto": item.get("proto"),
                      "host_ip": item.get("host_ip") or "0.0.0.0", "host_port": item.get("host_port"),
                      "image": image.get("name"), "digest": image.get("digest") or image.get("id")})
    return sorted(found, key=lambda item: (item["host_ip"], item["host_port"] or 0))


def _verdicts(host: str, service: Service, raw: Optional[RawFacts], groups: Mapping[str, List[str]], hostvars: HostVars,
              target_address: Optional[str], cache: Dict[str, Any], ports: List[Any]) -> Optional[List[State]]:
    """[{source, address, family, proto, port, verdict, rule}] for every declared source, one per address it is checked
    at (``public`` and a CIDR have several); None when the firewall was not gathered."""
    plan = service["allow_from"] + service["deny_from"]
    if not plan:
        return []
    firewall = (raw or {}).get("firewall")
    if not firewall:
        return None
    compiled = compile_firewall(firewall, cache)
    controller = (hostvars.get(host) or {}).get("portproof_controller_address")
    found: List[State] = []
    for entry in plan:
        for source, address, _note in expand_sources([entry], groups, hostvars, raw, controller):
            if source == host:
                continue
            label = source if source == address or entry["kind"] != "cidr" else "%s (%s)" % (source, address)
            for port in ports or [None]:
                state: State = {"source": label, "address": address, "family": "ipv%d" % version_of(address) if address else None,
                                "proto": service["proto"], "port": "auto" if service["port"] == "auto" else port}
                dst = destination(target_address, raw, version_of(address)) if address else None
                if isinstance(compiled, FirewallError):
                    state.update(verdict="unknown", rule="firewall facts are unusable: %s" % compiled)
                elif address is None or port is None or dst is None:
                    state.update(verdict="unknown", rule="no address or port to decide on")
                else:
                    try:
                        verdict = inbound_verdict(compiled, raw, address, dst, service["proto"], port)
                    except PacketError as exc:
                        state.update(verdict="unknown", rule=str(exc))
                    else:
                        state.update(verdict=verdict["verdict"], rule=rule_text(verdict))
                found.append(state)
    return found


def snapshot(contract: Iterable[Service], raw_facts: Optional[RawFacts], host: str, groups: Optional[Mapping[str, List[str]]] = None,
             hostvars: Optional[HostVars] = None, address: Optional[str] = None, saved: Optional[str] = None,
             also: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The baseline document of one host: {version, host, saved, address, services: {name: state}, host_state}.

    ``host_state`` is the state of the host itself, declared or not (see _drift_host); ALSO, the saved
    openings of a baseline to compare with, whose ports and sources are decided too."""
    groups = groups or {}
    hostvars = hostvars or {}
    facts = Facts(raw_facts)
    cache: Dict[str, Any] = {}
    services: Dict[str, State] = {}
    for service in contract:
        ports = host_ports(facts, service) if service["port"] != "auto" or facts.mappings is not None else []
        services[service["name"]] = {
            "port": service["port"],
            "proto": service["proto"],
            "ports": ports,
            "listeners": _listeners(facts, service, ports),
            "mappings": _mappings(facts, service),
            "firewall": _verdicts(host, service, raw_facts, groups, hostvars, address, cache, ports),
        }
    return {"version": BASELINE_VERSION, "host": host, "saved": saved, "address": address, "services": services,
            "host_state": host_state(raw_facts, address, cache, also)}
