# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The ``mappings`` subset of port_facts: every way a host port leads somewhere else (docs/mappings.md).

Two views are read and joined: the container engines' published ports (_containers.py) and the
DNAT/REDIRECT rules of the firewall (_nat.py). Where both describe the same mapping
(same protocol, host address and port, container port, and the rule leads to the container's
address) it is one mapping naming both sources. ``resolve_auto_port`` answers ``port: auto``
of the contract from the gathered mappings; it is pure and runs on the controller.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Dict, List, Optional, Set, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._command import Limits
from ansible_collections.portproof.validate.plugins.module_utils._mappings._containers import gather_containers
from ansible_collections.portproof.validate.plugins.module_utils._firewall._gather import gather_firewall
from ansible_collections.portproof.validate.plugins.module_utils._mappings._nat import (
    ANY_ADDRESS, PORT_PROTOS, nat_mappings, netavark_container_id)

SUBSET = "mappings"
Json = Dict[str, Any]
FIELDS = ("proto", "family", "host_ip", "host_port", "target_ip", "target_port", "kind", "source", "sources", "container",
          "containers", "container_id", "pod", "image", "manager", "rules")
ENGINE_SOURCES = ("podman", "docker")
_NOT_NAT_TOOLS = ("ip", "ipset")  # what gather_firewall also reads, which NAT mappings do not need


def _family(address: str) -> str:
    try:
        return "ipv6" if ipaddress.ip_address(address).version == 6 else "ipv4"
    except ValueError:
        return "ipv6" if ":" in address else "ipv4"


def _groups(records: List[Json]) -> List[Json]:
    """Containers grouped by the network namespace they share (a pod, --network container:X)."""
    by_id = dict((r["id"], r) for r in records)
    by_name = dict((r["name"], r) for r in records)
    groups: Dict[str, List[Json]] = {}
    for record in records:
        owner = record["netns_of"]
        if owner:
            found = by_id.get(owner) or by_name.get(owner) or next((r for i, r in by_id.items() if i.startswith(owner)), None)
            owner = found["id"] if found else owner
        groups.setdefault(owner or record["id"], []).append(record)
    out: List[Json] = []
    for owner, members in groups.items():
        # The namespace's owner names the mapping, unless it is a pod's infra container.
        named = sorted((m for m in members if not m["infra"]), key=lambda m: (m["id"] != owner, m["name"]))
        named = named or sorted(members, key=lambda m: m["name"])
        first = named[0]
        ips: List[str] = []
        ports: List[Json] = []
        for member in [by_id.get(owner)] + members:
            for ip in (member or {}).get("ips") or []:
                if ip not in ips:
                    ips.append(ip)
            for port in (member or {}).get("ports") or []:
                if port not in ports:
                    ports.append(port)
        out.append({"engine": first["engine"], "container": first["name"], "containers": [m["name"] for m in named],
                    "container_id": first["id"], "ids": [m["id"] for m in members], "pod": first["pod"],
                    "image": first["image"], "ips": ips, "ports": ports})
    return sorted(out, key=lambda g: (g["engine"], g["container"]))


def _identity(group: Json) -> Json:
    return {"container": group["container"], "containers": list(group["containers"]), "container_id": group["container_id"],
            "pod": group["pod"], "image": dict(group["image"]) if group["image"] else None}


def _joined(group: Json, port: Json, family: str, host_ip: str, nat: Optional[Json]) -> Json:
    item: Json = {"proto": port["proto"], "family": family, "host_ip": host_ip, "host_port": port["host_port"],
                  "target_ip": None, "target_port": port["container_port"], "kind": "publish", "source": group["engine"],
                  "sources": [group["engine"]], "manager": None, "rules": []}
    if nat is None:
        item["target_ip"] = next((ip for ip in group["ips"] if _family(ip) == family), None)
    else:
        item.update(target_ip=nat["target_ip"], kind=nat["kind"], manager=nat["manager"], rules=nat["rules"],
                    sources=[group["engine"]] + nat["sources"])
    item.update(_identity(group))
    return item


def join(records: List[Json], nat: List[Json]) -> List[Json]:
    """One list of mappings from the engines' container records and the NAT rules' mappings."""
    groups = _groups(records)
    index: Dict[Tuple[Any, Any, Any], List[Json]] = {}
    for item in nat:
        index.setdefault((item["proto"], item["host_port"], item["target_port"]), []).append(item)
    used: Set[int] = set()
    out: List[Json] = []
    for group in groups:
        for port in group["ports"]:
            if port["host_ip"] in ("", None):
                places = [("ipv4", ANY_ADDRESS["ipv4"], True), ("ipv6", ANY_ADDRESS["ipv6"], False)]
            else:
                places = [(_family(port["host_ip"]), port["host_ip"], True)]
            for family, host_ip, always in places:
                found = [n for n in index.get((port["proto"], port["host_port"], port["container_port"]), [])
                         if id(n) not in used and n["family"] == family and n["host_ip"] == host_ip
                         and (not group["ips"] or n["target_ip"] in group["ips"])]
                for nat_item in found:
                    used.add(id(nat_item))
                    out.append(_joined(group, port, family, host_ip, nat_item))
                if not found and always:
                    out.append(_joined(group, port, family, host_ip, None))
    by_id = dict((i, g) for g in groups for i in g["ids"])
    for item in nat:
        if id(item) in used:
            continue
        item = dict(item, container=None, containers=[], container_id=None, pod=None, image=None)
        owner: Optional[Json] = by_id.get(netavark_container_id(item) or "") or next(
            (g for g in groups if item["target_ip"] and item["target_ip"] in g["ips"]), None)
        if owner:
            item.update(_identity(owner))
        out.append(item)
    return sorted((dict((k, item[k]) for k in FIELDS) for item in out), key=_sort_key)


def _sort_key(item: Json) -> Tuple[Any, ...]:
    def num(value: Any) -> Tuple[int, int, str]:
        return (0, value, "") if isinstance(value, int) else (1, 0, str(value))
    return (num(item["host_port"]), str(item["proto"]), item["family"], str(item["host_ip"]), str(item["container"]),
            str(item["target_ip"]), num(item["target_port"]), item["source"])


def gather_mappings(module: Any, firewall: Optional[Json] = None,
                    containers: Optional[Tuple[List[Json], List[Dict[str, str]]]] = None,
                    limits: Optional[Limits] = None) -> Tuple[List[Json], List[Dict[str, str]]]:
    """(mappings, unavailable entries) for ansible_facts.portproof.mappings.

    ``firewall`` is the firewall subset's dict when it was gathered in the same run (the NAT rules
    are not read twice); without it the NAT rules are read here through gather_firewall.
    ``containers`` is gather_containers' answer when the caller already asked the engines;
    ``limits`` (_command.Limits) bound the commands run here.
    """
    records, unavailable = containers if containers is not None else gather_containers(module, limits=limits)
    unavailable = list(unavailable)
    if firewall is None:
        firewall, problems = gather_firewall(module, limits=limits)
        for entry in problems:
            if entry["tool"] not in _NOT_NAT_TOOLS:
                unavailable.append({"subset": SUBSET, "tool": entry["tool"], "reason": "NAT rules: %s" % entry["reason"]})
    elif firewall.get("incomplete") or "tables" not in firewall:
        unavailable.append({"subset": SUBSET, "tool": "firewall",
                            "reason": "NAT rules incomplete: the firewall subset could not read %s"
                                      % ("; ".join(firewall.get("incomplete") or []) or "its rules")})
    nat, problems = nat_mappings(firewall)
    unavailable.extend(problems)
    return join(records, nat), unavailable


def _names(item: Json) -> Set[str]:
    names = set(item.get("containers") or [])
    for key in ("container", "pod", "container_id"):
        if item.get(key):
            names.add(item[key])
    return names


def _matches(item: Json, container: str) -> bool:
    if container in _names(item):
        return True
    cid = item.get("container_id") or ""
    return len(container) >= 12 and cid.startswith(container)


def _describe(item: Json) -> str:
    return "%s/%s -> %s:%s" % (item["target_port"], item["proto"], item["host_ip"], item["host_port"])


def resolve_auto_port(mappings: Optional[List[Json]], container: Any, container_port: Any, proto: Optional[str] = "tcp",
                      unavailable: Optional[List[Dict[str, str]]] = None) -> Json:
    """The host port(s) CONTAINER's CONTAINER_PORT/PROTO is published on now, for ``port: auto``.

    Returns ``{"ports": [host ports, ascending], "mappings": [the mappings used], "reason": None}``,
    or empty ports and a reason that says why none. Mappings the engine reports are preferred; a
    NAT rule that leads to the container's address counts when the engine reported nothing for it.
    ``unavailable`` (the facts' unavailable list) lets the reason name an engine that could not be read.
    Raises ValueError for arguments that are not a container name, a port and a protocol.
    """
    if not isinstance(container, str) or not container:
        raise ValueError("resolve_auto_port: container must be a non-empty name, got %r" % (container,))
    try:
        port = int(container_port)
    except (TypeError, ValueError):
        port = None
    if port is None or isinstance(container_port, bool) or not 0 < port < 65536:
        raise ValueError("resolve_auto_port: container_port must be a port number 1-65535, got %r" % (container_port,))
    proto = str(proto or "tcp").lower()
    if proto not in PORT_PROTOS:
        raise ValueError("resolve_auto_port: proto must be one of %s, got %r" % (", ".join(PORT_PROTOS), proto))
    mine = [m for m in mappings or [] if _matches(m, container)]
    published = [m for m in mine if m.get("source") in ENGINE_SOURCES]
    candidates = published or mine
    chosen = [m for m in candidates if m.get("proto") == proto and m.get("target_port") == port]
    ports = sorted(set(m["host_port"] for m in chosen if isinstance(m["host_port"], int)))
    if ports:
        return {"ports": ports, "mappings": chosen, "reason": None}
    if candidates:
        reason = "container %s publishes no port %d/%s (it publishes %s)" % (
            container, port, proto, ", ".join(sorted(set(_describe(m) for m in candidates))))
    else:
        others = sorted(set(m["container"] for m in mappings or [] if m.get("container")))
        reason = "no published port of container %s on this host: it is not running, publishes no port, or has " \
                 "another name (containers with published ports: %s)" % (container, ", ".join(others) or "none")
        engines = [u for u in unavailable or [] if u.get("subset") == SUBSET and u.get("tool") in ENGINE_SOURCES]
        if engines:
            reason += "; these container engines could not be read: %s" % "; ".join(
                "%s: %s" % (u["tool"], u["reason"]) for u in engines)
    return {"ports": [], "mappings": [], "reason": reason}
