# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Parse ``/proc/net/{tcp,tcp6,udp,udp6}``: the fallback where socket diagnostics are not available.

These tables do not say whether an IPv6 socket is ``IPV6_V6ONLY``: records from here carry
``v6only: None`` and the caller decides what it can say about dual-stack.
"""

from __future__ import annotations

import socket
import struct
from typing import Any, Dict, List

TCP_LISTEN = 0x0A
UDP_UNCONNECTED = 0x07

TABLES = (("tcp", "ipv4", "tcp"), ("tcp", "ipv6", "tcp6"), ("udp", "ipv4", "udp"), ("udp", "ipv6", "udp6"))


class ProcNetError(ValueError):
    """A line of a /proc/net table that does not parse; the message names the table and line."""


def decode_address(text: str, family: str) -> str:
    """The kernel prints addresses as host-order 32-bit words in hex."""
    raw = bytes.fromhex(text)
    if family == "ipv4":
        if len(raw) != 4:
            raise ValueError("IPv4 address of %d bytes" % len(raw))
        return socket.inet_ntop(socket.AF_INET, struct.pack("<I", struct.unpack(">I", raw)[0]))
    if len(raw) != 16:
        raise ValueError("IPv6 address of %d bytes" % len(raw))
    words = struct.unpack(">4I", raw)
    return socket.inet_ntop(socket.AF_INET6, struct.pack("<4I", *words))


def parse_table(text: str, proto: str, family: str, table: str = "?") -> List[Dict[str, Any]]:
    """Listening (TCP) or unconnected (UDP) sockets of one table."""
    wanted = TCP_LISTEN if proto == "tcp" else UDP_UNCONNECTED
    sockets = []
    for number, line in enumerate(text.splitlines()[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        try:
            local, state, uid, inode = fields[1], int(fields[3], 16), int(fields[7]), int(fields[9])
            address, port = local.rsplit(":", 1)
            if state != wanted:
                continue
            sockets.append({
                "proto": proto,
                "family": family,
                "address": decode_address(address, family),
                "port": int(port, 16),
                "state": state,
                "inode": inode,
                "uid": uid,
                "v6only": None,
                "ifindex": 0,
            })
        except (IndexError, ValueError) as exc:
            raise ProcNetError("/proc/net/%s line %d: cannot parse %r (%s)" % (table, number, line[:120], exc))
    return sockets


def read_sockets(proc_net: str = "/proc/net") -> List[Dict[str, Any]]:
    """Every listening socket from the four tables under PROC_NET (e.g. /proc/PID/net)."""
    sockets = []
    for proto, family, table in TABLES:
        try:
            with open("%s/%s" % (proc_net, table)) as handle:
                text = handle.read()
        except FileNotFoundError:
            continue  # no IPv6 in this kernel, for example
        sockets.extend(parse_table(text, proto, family, table))
    return sockets
