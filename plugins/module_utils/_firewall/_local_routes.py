# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The host's ``local`` routing table through rtnetlink (what ``ip route show table local`` shows).

The kernel keeps the addresses that are the host's own (``local``), its broadcast addresses,
IPv6 anycast addresses and multicast prefixes in table 255 (``local``). iptables' ``addrtype``
match and nft's ``fib ... type`` decide from these routes; this module reads them read-only,
for IPv4 and IPv6, as ``{"type", "dst", "dev", "family"}`` records.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Dict, List, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._sockets import _netlink
from ansible_collections.portproof.validate.plugins.module_utils._sockets._addresses import RTM_GETLINK, _IFINFO, parse_links

RTM_GETROUTE = 26
RT_TABLE_COMPAT = 252
RT_TABLE_LOCAL = 255
RTA_DST = 1
RTA_OIF = 4
RTA_TABLE = 15
SOL_NETLINK = 270
NETLINK_GET_STRICT_CHK = 12
# The route types that the local table holds (rtnetlink.h RTN_*); others are not address types.
TYPES = {2: "local", 3: "broadcast", 4: "anycast", 5: "multicast"}
FAMILIES = ((socket.AF_INET, "ipv4"), (socket.AF_INET6, "ipv6"))
TIMEOUT = 5.0  # seconds for the kernel's answer to one dump (it answers at once; a bound all the same)

_RTMSG = struct.Struct("=BBBBBBBBI")


def request(family: int, table: Optional[int] = None) -> bytes:
    """The RTM_GETROUTE dump request of one family. With ``table`` (on a socket with strict
    checking) the kernel dumps only that table; without, it answers every table."""
    if table is None:
        return _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
    return _RTMSG.pack(family, 0, 0, 0, table, 0, 0, 0, 0) + struct.pack("=HHI", 8, RTA_TABLE, table)


def strict(sock: socket.socket) -> bool:
    """Ask the kernel to filter dumps by the request's table (Linux 4.20 and later); False when
    it cannot, and the dump then holds every table (a full routing table makes that slow)."""
    try:
        sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
        return True
    except OSError:
        return False


def parse_local_routes(messages: List[bytes], links: Dict[int, str]) -> List[Dict[str, Optional[str]]]:
    """Records of the local table from RTM_NEWROUTE messages, in the kernel's order.

    ``links`` is {ifindex: name} (from RTM_NEWLINK). Routes of other tables and of types that
    are no address type (unicast, unreachable, ...) are left out.
    """
    found: List[Dict[str, Optional[str]]] = []
    for body in messages:
        if len(body) < _RTMSG.size:
            raise _netlink.NetlinkError("short rtnetlink message: RTM_NEWROUTE of %d bytes" % len(body))
        family, dst_len, _src_len, _tos, table, _proto, _scope, kind, _flags = _RTMSG.unpack_from(body, 0)
        attrs = _netlink.attributes(body, _RTMSG.size)
        if table == RT_TABLE_COMPAT or RTA_TABLE in attrs:
            raw_table = attrs.get(RTA_TABLE, b"")
            if len(raw_table) != 4:
                raise _netlink.NetlinkError("short rtnetlink message: RTA_TABLE of %d bytes" % len(raw_table))
            table = struct.unpack("=I", raw_table)[0]
        if table != RT_TABLE_LOCAL or kind not in TYPES or family not in (socket.AF_INET, socket.AF_INET6):
            continue
        size = 4 if family == socket.AF_INET else 16
        if dst_len > size * 8:
            raise _netlink.NetlinkError("malformed rtnetlink message: RTM_NEWROUTE with a /%d prefix" % dst_len)
        raw = attrs.get(RTA_DST, b"\0" * size)
        if len(raw) != size:
            raise _netlink.NetlinkError("short rtnetlink message: RTM_NEWROUTE with a %d-byte destination" % len(raw))
        dev = None
        if RTA_OIF in attrs:
            if len(attrs[RTA_OIF]) != 4:
                raise _netlink.NetlinkError("short rtnetlink message: RTA_OIF of %d bytes" % len(attrs[RTA_OIF]))
            index = struct.unpack("=i", attrs[RTA_OIF])[0]
            dev = links.get(index, str(index))
        network = ipaddress.ip_network("%s/%d" % (socket.inet_ntop(family, raw), dst_len), strict=False)
        found.append({"type": TYPES[kind], "dst": str(network), "dev": dev,
                      "family": "ipv4" if family == socket.AF_INET else "ipv6"})
    return found


def read_local_routes(sock: socket.socket) -> List[Dict[str, Optional[str]]]:
    """The local table of the socket's namespace, IPv4 then IPv6 (raises NetlinkError or OSError)."""
    sock.settimeout(TIMEOUT)
    links = parse_links(_netlink.dump(sock, RTM_GETLINK, _IFINFO.pack(0, 0, 0, 0, 0), seq=1))
    table = RT_TABLE_LOCAL if strict(sock) else None
    routes: List[Dict[str, Optional[str]]] = []
    for seq, (family, _name) in enumerate(FAMILIES, start=2):
        routes.extend(parse_local_routes(_netlink.dump(sock, RTM_GETROUTE, request(family, table), seq=seq), links))
    return routes


def gather_local_routes() -> Tuple[Optional[List[Dict[str, Optional[str]]]], Optional[str]]:
    """(routes, None) of this host's namespace, or (None, why they could not be read)."""
    try:
        sock = _netlink.open_socket(_netlink.NETLINK_ROUTE)
    except OSError as exc:
        return None, "rtnetlink socket: %s" % exc
    try:
        return read_local_routes(sock), None
    except socket.timeout:
        return None, "RTM_GETROUTE: no answer from the kernel in %.0f s" % TIMEOUT
    except (OSError, _netlink.NetlinkError) as exc:
        return None, "RTM_GETROUTE (local table): %s" % exc
    finally:
        sock.close()
