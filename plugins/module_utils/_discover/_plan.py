# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""discover: which of its own listeners a host asks what answers (the probes of the protocol identification).

Runs on the target (the private module discover_gather plans its probes right after gathering its port facts) and
on the controller (plugin_utils/_discover_identify.py re-exports identify_plan): stdlib only, Python 3.8 syntax.
The listeners asked are those discover may declare: TCP ones of the host's network namespace that are not on
loopback only and not on an ephemeral port, UDP ones on 53 and 123 only (UDP_PORTS), and each published container
port at the address it is published on (the host's own address for a wildcard), where clients reach it.
"""

from __future__ import annotations

import ipaddress

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._probe._identify import identify_targets

HOST_NETNS = "host"
# The UDP ports whose listeners are identified (DNS, NTP); the same as _undeclared_identify.UDP_PORTS.
UDP_PORTS = (53, 123)
ALL = "all"  # every address of the family (a wildcard bind)


def spec(port: object, proto: object) -> str:
    return "%s/%s" % (port, proto)


def effective_binds(listener: Mapping[str, Any]) -> List[Tuple[int, str]]:
    """[(version, address or ALL), ...] that a listener item of port_facts really accepts on (as _addrclass)."""
    address, family = listener["address"], listener["family"]
    if family == "ipv4":
        return [(4, ALL if address == "0.0.0.0" else address)]
    if address == "::":
        binds = [(6, ALL)]
        if listener.get("dual_stack"):
            binds.append((4, ALL))
        return binds
    mapped = ipaddress.IPv6Address(address.split("%", 1)[0]).ipv4_mapped
    if mapped is not None:
        return [(4, ALL if str(mapped) == "0.0.0.0" else str(mapped))]
    return [(6, address)]


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def loopback_only(items: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every effective bind is a loopback address (discover leaves such listeners out)."""
    binds = [address for item in items for _version, address in effective_binds(item)]
    return bool(binds) and all(address != ALL and _is_loopback(address) for address in binds)


def local_address(listeners: Sequence[Mapping[str, Any]]) -> Optional[str]:
    """Where the host itself reaches one of LISTENERS (of one port): loopback for a wildcard bind, else the bound
    address; None when every one is bound to an interface or to a link-local address (no plain address reaches it)."""
    for item in listeners:
        address = item.get("address")
        if not address or item.get("interface") or address.lower().startswith("fe80:"):
            continue
        if address == "0.0.0.0":
            return "127.0.0.1"
        if address == "::":
            return "::1"
        return address
    return None


def identify_plan(facts: Mapping[str, Any], address: Optional[str], timeout: float, ephemeral: Sequence[int],
                  ssh: str = "ignore") -> List[Dict[str, Any]]:
    """The port_probe targets that ask what answers on each listener discover may propose (none when there is none):
    ADDRESS is where the host is reached (a container port published on a wildcard is asked there); EPHEMERAL the
    (first, last) ephemeral port, whose listeners are left out; 22/tcp is not asked when discover ignores SSH
    (SSH is ``ignore``)."""
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
    by_port = {}  # type: Dict[Tuple[int, str], List[Mapping[str, Any]]]
    for item in listeners:
        if item.get("netns") == HOST_NETNS and (item.get("port"), item.get("proto")) not in seen:
            by_port.setdefault((item["port"], item["proto"]), []).append(item)
    for (port, proto), items in sorted(by_port.items()):
        if (proto == "udp" and port not in UDP_PORTS) or ephemeral[0] <= port <= ephemeral[1] or loopback_only(items) \
                or (ssh == "ignore" and (port, proto) == (22, "tcp")):
            continue
        local = local_address(items)
        if local is not None:
            targets.extend(identify_targets("discover %s" % spec(port, proto), local, port, proto, timeout))
    return targets
