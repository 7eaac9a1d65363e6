# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Interface addresses of a host through rtnetlink (what ``ip -j addr`` shows), namespace-exact."""

from __future__ import annotations

import socket
import struct
from typing import Dict, List, Union

from ansible_collections.portproof.validate.plugins.module_utils._sockets._netlink import NetlinkError, attributes, dump

RTM_GETLINK = 18
RTM_GETADDR = 22
IFLA_IFNAME = 3
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3

_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}


def _short(body: bytes, header: struct.Struct, what: str) -> None:
    if len(body) < header.size:
        raise NetlinkError("short rtnetlink message: %s of %d bytes" % (what, len(body)))


def parse_links(messages: List[bytes]) -> Dict[int, str]:
    """{ifindex: name} from RTM_NEWLINK messages."""
    names: Dict[int, str] = {}
    for body in messages:
        _short(body, _IFINFO, "RTM_NEWLINK")
        _family, _type, index, _flags, _change = _IFINFO.unpack_from(body, 0)
        attrs = attributes(body, _IFINFO.size)
        if IFLA_IFNAME in attrs:
            names[index] = attrs[IFLA_IFNAME].rstrip(b"\0").decode("utf-8", "backslashreplace")
    return names


def parse_addresses(messages: List[bytes], links: Dict[int, str]) -> List[Dict[str, Union[str, int]]]:
    """Address records from RTM_NEWADDR messages, sorted by interface, family and address."""
    found: List[Dict[str, Union[str, int]]] = []
    for body in messages:
        _short(body, _IFADDR, "RTM_NEWADDR")
        family, prefix, _flags, scope, index = _IFADDR.unpack_from(body, 0)
        attrs = attributes(body, _IFADDR.size)
        raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
        if family not in (socket.AF_INET, socket.AF_INET6) or raw is None:
            continue
        if len(raw) != (4 if family == socket.AF_INET else 16):
            raise NetlinkError("short rtnetlink message: RTM_NEWADDR with a %d-byte address" % len(raw))
        found.append({
            "interface": links.get(index, str(index)),
            "family": "ipv4" if family == socket.AF_INET else "ipv6",
            "address": socket.inet_ntop(family, raw),
            "prefix": prefix,
            "scope": SCOPES.get(scope, str(scope)),
        })
    return sorted(found, key=lambda a: (a["interface"], a["family"], a["address"]))


def read_addresses(sock: socket.socket) -> List[Dict[str, Union[str, int]]]:
    links = parse_links(dump(sock, RTM_GETLINK, _IFINFO.pack(0, 0, 0, 0, 0), seq=1))
    return parse_addresses(dump(sock, RTM_GETADDR, _IFADDR.pack(0, 0, 0, 0, 0), seq=2), links)
