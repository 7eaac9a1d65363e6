# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Address classes (loopback, internal, public) and what a listening socket really binds.

``internal`` is loopback, RFC 1918, RFC 6598 (shared address space), link-local and IPv6 ULA;
``public`` is anything else. A socket on a wildcard binds *all* addresses of its family; an
IPv6 wildcard socket that is dual-stack binds all IPv4 addresses too; an IPv4-mapped IPv6
address binds that IPv4 address.
"""

from __future__ import annotations

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:  # pragma: no cover - the collection's requirements install it
    netaddr = None
    HAS_NETADDR = False

from typing import Any, Dict, Iterable, List, Tuple, Union

# One entry of a service's normalised bind list: {"class": one of BIND_CLASSES} or {"network": CIDR}.
BindEntry = Dict[str, str]
# An effective bind: (IP version, an address or ALL).
Bind = Tuple[int, str]

BIND_CLASSES = ("any", "loopback", "internal", "public")
ALL = "all"  # stands for "every address of the family" (a wildcard bind)
_INTERNAL = ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
             "::1/128", "fc00::/7", "fe80::/10")


def _need_netaddr() -> None:
    if not HAS_NETADDR:
        raise ImportError("the portproof.validate collection needs the Python library netaddr on the controller")


def parse_network(text: object, host_only: bool = False) -> netaddr.IPNetwork:
    """An IPNetwork for an address or CIDR (an address is a /32 or /128); ValueError when it is neither."""
    _need_netaddr()
    text = str(text).strip()
    try:
        if host_only or "/" not in text:
            net = netaddr.IPNetwork(str(netaddr.IPAddress(text)))
        else:
            net = netaddr.IPNetwork(text)
            if net.ip != net.network:
                raise ValueError("%s has host bits set (did you mean %s?)" % (text, net.cidr))
    except (netaddr.AddrFormatError, TypeError) as exc:
        raise ValueError(str(exc))
    return net


def address_class(address: Union[str, int]) -> str:
    """'loopback', 'internal' or 'public' for one IP address."""
    _need_netaddr()
    ip = netaddr.IPAddress(address)
    if ip.version == 6 and ip.is_ipv4_mapped():
        ip = ip.ipv4()
    if ip.is_loopback():
        return "loopback"
    if any(ip in netaddr.IPNetwork(net) for net in _INTERNAL if netaddr.IPNetwork(net).version == ip.version):
        return "internal"
    return "public"


def effective_binds(listener: Dict[str, Any]) -> List[Bind]:
    """[(version, address or ALL), ...] that a listener item of port_facts really accepts on."""
    address, family = listener["address"], listener["family"]
    if family == "ipv4":
        return [(4, ALL if address == "0.0.0.0" else address)]
    if address == "::":
        binds: List[Bind] = [(6, ALL)]
        if listener.get("dual_stack"):
            binds.append((4, ALL))
        return binds
    _need_netaddr()
    ip = netaddr.IPAddress(address)
    if ip.is_ipv4_mapped():
        mapped = str(ip.ipv4())
        return [(4, ALL if mapped == "0.0.0.0" else mapped)]
    return [(6, address)]


def describe_bind(version: int, address: str) -> str:
    if address == ALL:
        return "all IPv%d addresses" % version
    return address


def bind_allows(declared: Iterable[BindEntry], version: int, address: str) -> bool:
    """Whether one effective bind (version, address or ALL) lies inside the declared bind list."""
    for entry in declared:
        kind = entry.get("class")
        if kind == "any":
            return True
        if address == ALL:
            # a wildcard binds every address, present and future: only 'public' (exposure allowed)
            # or an explicit wildcard network of that family covers it
            if kind == "public":
                return True
            if "network" in entry:
                net = netaddr.IPNetwork(entry["network"])
                if net.version == version and net.prefixlen == 0:
                    return True
            continue
        if kind in ("loopback", "internal", "public"):
            cls = address_class(address)
            if cls == kind or (kind == "internal" and cls == "loopback"):
                return True
            continue
        net = netaddr.IPNetwork(entry["network"])
        if net.version == version and netaddr.IPAddress(address) in net:
            return True
    return False


def describe_declared(declared: Iterable[BindEntry]) -> str:
    words = []
    for entry in declared:
        words.append("%s addresses" % entry["class"] if "class" in entry and entry["class"] != "any"
                     else entry.get("class") or entry["network"])
    return ", ".join(words)


def version_of(address: str) -> int:
    version = _VERSIONS.get(address)
    if version is None:
        _need_netaddr()
        version = _VERSIONS[address] = netaddr.IPAddress(address).version
    return version


# version_of, by address text: the firewall checks ask it for every source of every service
_VERSIONS: Dict[str, int] = {}
