# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The checks decided from gathered facts alone: listen, bind, process, undeclared, mapping.

Each check gives results of the form of SPEC section 5: host, service, check, status
(pass|fail|error|skip), source, message, expected, actual. Messages say what was declared and
what was found, with the process, so that they need no other context.
"""

from __future__ import annotations

import re

from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import (
    ALL, bind_allows, describe_bind, describe_declared, effective_binds,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import Service, parse_port_spec

from typing import Any, Collection, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, TypedDict

HOST_NETNS = "host"

# The facts of one host as port_facts gathered them (listeners, mappings, firewall, addresses, unavailable, ...).
RawFacts = Dict[str, Any]
# One listener or one mapping item of port_facts.
Item = Dict[str, Any]


class _ResultFields(TypedDict):
    host: str
    service: Optional[str]
    check: str
    status: str
    source: Optional[str]
    message: str
    expected: Optional[str]
    actual: Optional[str]


class Result(_ResultFields, total=False):
    """One check result (SPEC section 5); the live checks add latency_ms and sample (tls: the TLS evidence),
    drift changes and warn."""

    latency_ms: Any
    sample: Dict[str, Any]
    tls: Dict[str, Any]
    changes: List[Dict[str, Any]]
    warn: bool


def result(host: str, service: Optional[str], check: str, status: str, message: str, expected: Optional[str] = None,
           actual: Optional[str] = None, source: Optional[str] = None) -> Result:
    return {"host": host, "service": service, "check": check, "status": status, "source": source,
            "message": message, "expected": expected, "actual": actual}


def endpoint(listener: Item) -> str:
    """How a listener reads in a message: 0.0.0.0:5432, [::]:5432 (dual-stack), 0.0.0.0%eth0:9100."""
    address = "[%s]" % listener["address"] if listener["family"] == "ipv6" else listener["address"]
    if listener.get("interface"):
        address += "%" + listener["interface"]
    text = "%s:%d" % (address, listener["port"])
    if listener["family"] == "ipv6" and listener["address"] == "::":
        text += " (dual-stack)" if listener.get("dual_stack") else " (IPv6 only)"
    return text


def owner(listener: Item) -> str:
    if listener.get("pid") is None:
        return "process unknown"
    text = "process %s pid %d" % (listener.get("process"), listener["pid"])
    if listener.get("user"):
        text += " user %s" % listener["user"]
    return text


def describe(listeners: Iterable[Item]) -> str:
    return ", ".join("%s (%s)" % (endpoint(item), owner(item)) for item in listeners)


def spec(port: object, proto: object) -> str:
    return "%s/%s" % (port, proto)


class Facts(object):
    """The gathered facts of one host, indexed for the checks."""

    def __init__(self, facts: Optional[RawFacts]) -> None:
        facts = facts or {}
        self.raw: RawFacts = facts
        self.listeners: Optional[List[Item]] = facts.get("listeners")
        self.mappings: Optional[List[Item]] = facts.get("mappings")
        self.unavailable: List[Dict[str, Any]] = facts.get("unavailable") or []
        self.host_listeners: List[Item] = [item for item in (self.listeners or []) if item.get("netns") == HOST_NETNS]

    def reason(self, subset: str) -> str:
        reasons = ["%s: %s" % (entry.get("tool"), entry.get("reason")) for entry in self.unavailable if entry.get("subset") == subset]
        return "; ".join(reasons) if reasons else "the %s subset was not gathered" % subset

    def on(self, port: object, proto: str) -> List[Item]:
        return [item for item in self.host_listeners if item["port"] == port and item["proto"] == proto]

    def in_container(self, container: str, port: object, proto: str) -> List[Item]:
        return [item for item in (self.listeners or [])
                if container_matches(item, container) and item["port"] == port and item["proto"] == proto]


# The shortest container ID prefix publish.container may give (as docs/contract.md says, and as port: auto takes it).
ID_PREFIX = 12


def container_matches(item: Item, container: str) -> bool:
    """True if the listener or mapping ITEM is in the container that publish.container names: the container's name,
    its pod's name, the name of a container sharing its network namespace, or a prefix of its ID of ID_PREFIX or more
    characters."""
    names = set(item.get("containers") or [])
    names.update(item[key] for key in ("container", "pod", "container_id") if item.get(key))
    if container in names:
        return True
    return len(container) >= ID_PREFIX and str(item.get("container_id") or "").startswith(container)


def published(facts: Facts, service: Service) -> List[Item]:
    """Mappings that publish the declared container port of the service."""
    pub = service["publish"]
    return [m for m in (facts.mappings or []) if container_matches(m, pub["container"]) and m.get("target_port") == pub["container_port"]
            and m.get("proto") == service["proto"]]


def host_ports(facts: Facts, service: Service) -> List[Any]:
    """The host port(s) a service is reached on: its declared port, or for 'auto' the published one(s)."""
    if service["port"] != "auto":
        return [service["port"]]
    return sorted({m["host_port"] for m in published(facts, service)})


def check_listen(host: str, service: Service, facts: Facts, expected_versions: Collection[int]) -> Result:
    """The service listens on its port and protocol, for every IP version it is expected on."""
    name, proto = service["name"], service["proto"]
    if facts.listeners is None:
        return result(host, name, "listen", "error", "listeners of %s could not be read: %s" % (host, facts.reason("listeners")))
    if service["publish"]:
        pub = service["publish"]
        where = "inside container %s" % pub["container"]
        port = pub["container_port"]
        found = facts.in_container(pub["container"], port, proto)
        declared = "%s declared on container %s port %s" % (name, pub["container"], spec(port, proto))
    else:
        where, port = "on %s" % host, service["port"]
        found = facts.on(port, proto)
        declared = "%s declared on %s" % (name, spec(port, proto))
    expected = "%s listens on %s %s" % (name, spec(port, proto), where)
    if not found:
        hints = []
        other = "udp" if proto == "tcp" else "tcp"
        wrong_proto = facts.in_container(service["publish"]["container"], port, other) if service["publish"] else facts.on(port, other)
        if wrong_proto:
            hints.append("%s declared, %s served: %s" % (proto.upper(), other.upper(), describe(wrong_proto)))
        if service["publish"]:
            inside = [item for item in (facts.listeners or []) if container_matches(item, service["publish"]["container"])]
            if inside:
                hints.append("container %s listens on %s" % (service["publish"]["container"], describe(inside)))
        if service["process"] and not service["publish"]:
            pattern = re.compile(service["process"])
            moved = [item for item in facts.host_listeners if item.get("process") and pattern.fullmatch(item["process"])
                     and item["proto"] == proto]
            if moved:
                hints.append("moved? %s listens on %s" % (service["process"], describe(moved)))
        message = "%s: nothing listens on %s %s" % (declared, spec(port, proto), where)
        if hints:
            message += "; " + "; ".join(hints)
        return result(host, name, "listen", "fail", message, expected, describe(wrong_proto) if wrong_proto else "nothing")
    served = {version for item in found for version, _addr in effective_binds(item)}
    missing = sorted(set(expected_versions) - served)
    if missing:
        return result(host, name, "listen", "fail",
                      "%s for IPv%s clients: only %s listens, which does not accept IPv%s"
                      % (declared, "/IPv".join(str(v) for v in sorted(expected_versions)), describe(found),
                         "/IPv".join(str(v) for v in missing)),
                      expected + " for IPv%s" % "/IPv".join(str(v) for v in sorted(expected_versions)), describe(found))
    return result(host, name, "listen", "pass", "%s: listening on %s" % (declared, describe(found)), expected, describe(found))


def check_bind(host: str, service: Service, facts: Facts) -> Result:
    """Every address the service is bound to lies inside its declared bind."""
    name, proto, declared = service["name"], service["proto"], service["bind"]
    wanted = describe_declared(declared)
    if service["publish"]:
        maps = published(facts, service)
        if not maps:
            return result(host, name, "bind", "skip", "%s: not published, so no bound address to check (see mapping)" % name)
        binds: List[Tuple[Tuple[int, str], str]] = []
        for item in maps:
            ip = item.get("host_ip") or "0.0.0.0"
            version = 6 if ":" in ip else 4
            binds.append(((version, ALL if ip in ("0.0.0.0", "::") else ip), "%s:%s (published)" % (ip, item["host_port"])))
    else:
        found = facts.on(service["port"], proto)
        if not found:
            return result(host, name, "bind", "skip", "%s: nothing listens on %s, so no bound address to check (see listen)"
                          % (name, spec(service["port"], proto)))
        binds = [(bind, "%s (%s)" % (endpoint(item), owner(item))) for item in found for bind in effective_binds(item)]
    outside = [(bind, text) for bind, text in binds if not bind_allows(declared, *bind)]
    actual = ", ".join(sorted({text for _bind, text in binds}))
    port = service["port"] if service["port"] != "auto" else "auto"
    if outside:
        what = ", ".join("%s: %s" % (text, describe_bind(*bind)) for bind, text in outside)
        return result(host, name, "bind", "fail", "%s declared on %s bound to %s; listening on %s" % (name, spec(port, proto), wanted, what),
                      wanted, actual)
    return result(host, name, "bind", "pass", "%s declared on %s bound to %s; bound to %s" % (name, spec(port, proto), wanted, actual),
                  wanted, actual)


def holders(listener: Item) -> List[Item]:
    """Every process holding the listener's socket: its owner, then the others (``shared_with``)."""
    others = listener.get("shared_with")
    return [listener] + [h for h in (others if isinstance(others, list) else []) if isinstance(h, dict)]


def _holder_matches(service: Service, holder: Item) -> bool:
    if service["process"] and not re.fullmatch(service["process"], holder.get("process") or ""):
        return False
    return not service["user"] or holder.get("user") == service["user"]


def check_process(host: str, service: Service, facts: Facts) -> Result:
    """The process (regex, full match) and user of each listening socket are the declared ones.

    A socket several processes hold (a master and its workers, systemd socket activation, a
    socket passed to a child) passes when any one holder matches both: which of them the facts
    call the owner is not what the contract declares.
    """
    name, proto = service["name"], service["proto"]
    if service["publish"]:
        found = facts.in_container(service["publish"]["container"], service["publish"]["container_port"], proto)
    else:
        found = facts.on(service["port"], proto)
    expected = ", ".join(x for x in ("process %s" % service["process"] if service["process"] else "",
                                     "user %s" % service["user"] if service["user"] else "") if x)
    if not found:
        return result(host, name, "process", "skip", "%s: nothing listens, so no owner to check (see listen)" % name, expected)
    unknown = [item for item in found if item.get("pid") is None]
    if unknown:
        return result(host, name, "process", "error", "%s: the owner of %s could not be read (gather facts as root, become: true)"
                      % (name, ", ".join(endpoint(item) for item in unknown)), expected, describe(found))
    wrong = [item for item in found if not any(_holder_matches(service, holder) for holder in holders(item))]
    if wrong:
        return result(host, name, "process", "fail", "%s declared as %s; %s" % (name, expected, describe(wrong)), expected, describe(found))
    return result(host, name, "process", "pass", "%s declared as %s; %s" % (name, expected, describe(found)), expected, describe(found))


def _image_matches(declared: str, image: Optional[Dict[str, Any]]) -> bool:
    if not image:
        return False
    if "@" in declared:
        digest = declared.split("@", 1)[1]
        return digest in (image.get("digest"), image.get("id"), "sha256:" + str(image.get("id")))
    name = image.get("name") or ""
    if name == declared or name.endswith("/" + declared):
        return True
    untagged = ":" not in declared.rsplit("/", 1)[-1]
    return untagged and name.rsplit(":", 1)[0] in (declared, "docker.io/library/" + declared, "docker.io/" + declared)


def check_mapping(host: str, service: Service, facts: Facts) -> Result:
    """The declared publication exists: host port (or 'auto') to the container's port, host address, image."""
    name, proto, pub = service["name"], service["proto"], service["publish"]
    target = "container %s port %s" % (pub["container"], spec(pub["container_port"], proto))
    if facts.mappings is None:
        return result(host, name, "mapping", "error", "port mappings of %s could not be read: %s" % (host, facts.reason("mappings")))
    maps = published(facts, service)
    shown = ", ".join("%s:%s -> %s:%s (%s)" % (m.get("host_ip"), m.get("host_port"), m.get("container") or m.get("target_ip"),
                                               m.get("target_port"), "/".join(m.get("sources") or [m.get("source")])) for m in maps)
    if service["port"] == "auto":
        expected = "%s published on some host port" % target
    else:
        expected = "host port %s leads to %s" % (spec(service["port"], proto), target)
    if not maps:
        on_port = [m for m in (facts.mappings or []) if service["port"] != "auto" and m.get("host_port") == service["port"]
                   and m.get("proto") == proto]
        message = "%s: %s is not published" % (name, target)
        if on_port:
            message += "; host port %s leads to %s" % (spec(service["port"], proto), ", ".join(
                "%s port %s" % (m.get("container") or m.get("target_ip"), m.get("target_port")) for m in on_port))
        engines = [e for e in facts.unavailable if e.get("subset") == "mappings"]
        if engines and not on_port:
            return result(host, name, "mapping", "error", message + " (and %s)" % facts.reason("mappings"), expected, "nothing")
        return result(host, name, "mapping", "fail", message, expected, "nothing")
    if service["port"] != "auto" and service["port"] not in [m["host_port"] for m in maps]:
        return result(host, name, "mapping", "fail", "%s: %s is published on host port %s, not %s" % (
            name, target, ", ".join(str(m["host_port"]) for m in maps), service["port"]), expected, shown)
    chosen = [m for m in maps if service["port"] == "auto" or m["host_port"] == service["port"]]
    if pub.get("host_ip") and not any(m.get("host_ip") == pub["host_ip"] for m in chosen):
        return result(host, name, "mapping", "fail", "%s: %s is published on %s, not on %s" % (
            name, target, ", ".join("%s:%s" % (m.get("host_ip"), m["host_port"]) for m in chosen), pub["host_ip"]), expected, shown)
    if pub.get("image"):
        images = [m.get("image") for m in chosen]
        if not any(_image_matches(pub["image"], image) for image in images):
            found = ", ".join("%s (%s)" % ((i or {}).get("name"), (i or {}).get("digest") or (i or {}).get("id")) for i in images)
            return result(host, name, "mapping", "fail", "%s: container %s runs image %s, not %s" % (name, pub["container"], found, pub["image"]),
                          expected + " running " + pub["image"], found)
    if service["port"] == "auto":
        return result(host, name, "mapping", "pass", "%s: port auto resolved to host port %s: %s" % (
            name, ", ".join(str(m["host_port"]) for m in chosen), shown), expected, shown)
    return result(host, name, "mapping", "pass", "%s: %s" % (name, shown), expected, shown)


def _loopback_only(listener: Item) -> bool:
    return all(addr != ALL and (addr == "::1" or addr.startswith("127.")) for _version, addr in effective_binds(listener))


def undeclared_listeners(services: Iterable[Service], facts: Facts, ignore: Optional[Sequence[str]] = (),
                         loopback: bool = False) -> Dict[Tuple[int, str], List[Item]]:
    """Strict mode: {(port, proto): listeners} of the host that no service declares (loopback only when asked)."""
    declared: Set[Tuple[Any, str]] = set()
    for service in services:
        for port in host_ports(facts, service):
            declared.add((port, service["proto"]))
    ignored = [parse_port_spec(item) for item in ignore or ()]
    groups: Dict[Tuple[int, str], List[Item]] = {}
    for item in facts.host_listeners:
        key = (item["port"], item["proto"])
        if key in declared or any(first <= item["port"] <= last and item["proto"] in protos for first, last, protos in ignored):
            continue
        if not loopback and _loopback_only(item):
            continue
        groups.setdefault(key, []).append(item)
    return dict(sorted(groups.items()))


def check_undeclared(host: str, services: Iterable[Service], facts: Facts, ignore: Optional[Sequence[str]] = (),
                     loopback: bool = False, labels: Optional[Mapping[str, str]] = None) -> List[Result]:
    """Strict mode: listeners on the host that no service declares (loopback only when asked).

    LABELS: {"9999/tcp": "answers as redis"}, what answers on each undeclared listener (see
    _identify.what_answers), written into the message and into ``actual``."""
    if facts.listeners is None:
        return [result(host, None, "undeclared", "error", "listeners of %s could not be read: %s" % (host, facts.reason("listeners")))]
    results = []
    for (port, proto), items in undeclared_listeners(services, facts, ignore, loopback).items():
        where = spec(port, proto)
        label = (labels or {}).get(where)
        said = "; %s %s" % (where, label) if label else ""
        results.append(result(host, None, "undeclared", "fail", "%s: %s listens on %s and no service declares it%s (declare it, or list "
                                                                "it in portproof_ignore)" % (host, describe(items), where, said),
                              "no undeclared listener", "%s: %s%s" % (where, describe(items), "; %s" % label if label else "")))
    if not results:
        results.append(result(host, None, "undeclared", "pass", "%s: every listener is declared or ignored" % host,
                              "no undeclared listener", "none"))
    return results
