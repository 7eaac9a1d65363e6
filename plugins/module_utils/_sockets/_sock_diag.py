# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Listening sockets from the kernel's socket diagnostics (``sock_diag``), as ``ss`` reads them.

Unlike ``/proc/net/tcp6``, the kernel's answer says per socket whether an IPv6 socket is
``IPV6_V6ONLY`` (``INET_DIAG_SKV6ONLY``), so an IPv6 wildcard socket that also serves IPv4 is
known for certain, and which interface a socket is bound to (``SO_BINDTODEVICE``).
"""

from __future__ import annotations

import socket
import struct
from typing import Any, Dict, List

from ansible_collections.portproof.validate.plugins.module_utils._sockets._netlink import attributes, dump

SOCK_DIAG_BY_FAMILY = 20
TCP_LISTEN = 10
TCP_CLOSE = 7  # an unconnected UDP socket
INET_DIAG_SKV6ONLY = 11

_REQ = struct.Struct("=BBBxI")
_SOCKID = struct.Struct("=HH16s16sI8s")
_MSG = struct.Struct("=BBBB")
_MSG_TAIL = struct.Struct("=IIIII")
MSG_SIZE = _MSG.size + _SOCKID.size + _MSG_TAIL.size  # 72

PROTOCOLS = (("tcp", socket.IPPROTO_TCP, TCP_LISTEN), ("udp", socket.IPPROTO_UDP, TCP_CLOSE))
FAMILIES = (("ipv4", socket.AF_INET), ("ipv6", socket.AF_INET6))


def request(family: int, protocol: int, state: int) -> bytes:
    """The inet_diag_req_v2 payload asking for every socket of FAMILY/PROTOCOL in STATE."""
    return _REQ.pack(family, protocol, 0, 1 << state) + _SOCKID.pack(0, 0, b"\0" * 16, b"\0" * 16, 0, b"\0" * 8)


def parse_message(body: bytes, proto: str, family_name: str) -> Dict[str, Any]:
    """One inet_diag_msg into a socket record (address, port, inode, uid, v6only, ifindex)."""
    if len(body) < MSG_SIZE:
        raise ValueError("short inet_diag message (%d bytes)" % len(body))
    family, state, _timer, _retrans = _MSG.unpack_from(body, 0)
    sport, _dport, src, _dst, ifindex, _cookie = _SOCKID.unpack_from(body, _MSG.size)
    _expires, _rqueue, _wqueue, uid, inode = _MSG_TAIL.unpack_from(body, _MSG.size + _SOCKID.size)
    if family == socket.AF_INET:
        address = socket.inet_ntop(socket.AF_INET, src[:4])
    else:
        address = socket.inet_ntop(socket.AF_INET6, src)
    attrs = attributes(body, MSG_SIZE)
    v6only = None
    if INET_DIAG_SKV6ONLY in attrs:
        v6only = bool(attrs[INET_DIAG_SKV6ONLY][:1] != b"\0")
    return {
        "proto": proto,
        "family": family_name,
        "address": address,
        "port": socket.ntohs(sport),
        "state": state,
        "inode": inode,
        "uid": uid,
        "v6only": v6only,
        "ifindex": ifindex,
    }


def read_sockets(sock: socket.socket) -> List[Dict[str, Any]]:
    """Every listening TCP and unconnected UDP socket, IPv4 and IPv6, through one netlink socket."""
    sockets = []
    seq = 0
    for proto, protocol, state in PROTOCOLS:
        for family_name, family in FAMILIES:
            seq += 1
            for body in dump(sock, SOCK_DIAG_BY_FAMILY, request(family, protocol, state), seq=seq):
                sockets.append(parse_message(body, proto, family_name))
    return sockets
