# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Sets of integers kept as sorted, merged, inclusive intervals: ports, or addresses of one IP version.

One type for the firewall verdict (is a packet's port or address in a match's values: a binary
search) and the NAT mapper (the destination ports a path still allows: intersection, difference,
size). Port and address values of the model are read here only: a port is an int or
``"low-high"``; an address is ``"1.2.3.4"``, a CIDR or ``"first-last"``.
"""

from __future__ import annotations

import bisect
import ipaddress
import socket
import struct
from typing import Iterable, Iterator, List, Optional, Tuple, Union

Pair = Tuple[int, int]
PortValue = Union[int, str]


class Intervals(object):
    """An immutable set of integers as sorted, merged, inclusive (low, high) pairs.

    Adjacent and overlapping pairs are merged (``(1, 2), (3, 5)`` is ``(1, 5)``); two Intervals
    are equal when they hold the same integers.
    """

    __slots__ = ("pairs", "starts", "ends")

    def __init__(self, pairs: Iterable[Pair] = ()) -> None:
        merged: List[List[int]] = []
        for low, high in sorted(pairs):
            if merged and low <= merged[-1][1] + 1:
                if high > merged[-1][1]:
                    merged[-1][1] = high
            else:
                merged.append([low, high])
        self.pairs: Tuple[Pair, ...] = tuple((low, high) for low, high in merged)
        self.starts: List[int] = [p[0] for p in merged]
        self.ends: List[int] = [p[1] for p in merged]

    def __contains__(self, value: int) -> bool:
        i = bisect.bisect_right(self.starts, value) - 1
        return i >= 0 and value <= self.ends[i]

    def __bool__(self) -> bool:
        return bool(self.pairs)

    __nonzero__ = __bool__

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.pairs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Intervals) and self.pairs == other.pairs

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.pairs)

    def __repr__(self) -> str:
        return "Intervals(%r)" % (list(self.pairs),)

    def size(self) -> int:
        """How many integers the set holds."""
        return sum(high - low + 1 for low, high in self.pairs)

    def intersect(self, other: Intervals) -> Intervals:
        return Intervals((max(a[0], b[0]), min(a[1], b[1])) for a in self.pairs for b in other.pairs
                         if max(a[0], b[0]) <= min(a[1], b[1]))

    def subtract(self, other: Intervals) -> Intervals:
        out = list(self.pairs)
        for blow, bhigh in other.pairs:
            rest = []
            for low, high in out:
                if bhigh < low or blow > high:
                    rest.append((low, high))
                    continue
                if low < blow:
                    rest.append((low, blow - 1))
                if high > bhigh:
                    rest.append((bhigh + 1, high))
            out = rest
        return Intervals(out)


def port_interval(value: object) -> Pair:
    """``22`` / ``"22"`` / ``"1000-2000"`` -> (low, high); ValueError for anything else (a bool, a set name)."""
    if isinstance(value, bool):
        raise ValueError("not a port: %r" % (value,))
    if isinstance(value, int):
        return value, value
    low, dash, high = str(value).partition("-")
    try:
        return int(low), int(high if dash else low)
    except ValueError:
        raise ValueError("not a port or a port range low-high: %r" % (value,))


def port_intervals(values: Iterable[object]) -> Intervals:
    """The ports of a match's values."""
    return Intervals([port_interval(v) for v in values])


def show_interval(pair: Pair) -> PortValue:
    """A pair as the model writes a port value: ``22`` or ``"1000-2000"``."""
    return pair[0] if pair[0] == pair[1] else "%d-%d" % pair


def one_address(text: str) -> Optional[Pair]:
    """(version, int) of a plain address ("1.2.3.4", "1.2.3.4/32", "2001:db8::1/128"), or None:
    the common case of rule and map values, without ipaddress's slower parse."""
    host = text[:-3] if text.endswith("/32") else (text[:-4] if text.endswith("/128") else text)
    if "/" in host or "%" in host:
        return None
    try:
        if ":" in host:
            return (6, int.from_bytes(socket.inet_pton(socket.AF_INET6, host), "big")) if not text.endswith("/32") else None
        if text.endswith("/128"):
            return None
        return 4, struct.unpack("!I", socket.inet_pton(socket.AF_INET, host))[0]
    except (OSError, ValueError):
        return None  # ipaddress gives the error


def address_interval(value: object) -> Tuple[int, int, int]:
    """``"10.0.0.0/8"`` / ``"1.2.3.4"`` / ``"1.2.3.4-1.2.3.9"`` -> (IP version, first, last) as ints; ValueError
    for anything else (a range whose ends are not of one IP version among them)."""
    text = str(value)
    one = one_address(text)
    if one is not None:
        return one[0], one[1], one[1]
    if "-" in text:
        low, high = text.split("-", 1)
        first, last = ipaddress.ip_address(low.strip()), ipaddress.ip_address(high.strip())
        if first.version != last.version:
            raise ValueError("not an address range of one IP version: %r" % (value,))
        return first.version, int(first), int(last)
    net = ipaddress.ip_network(text, strict=False)
    return net.version, int(net.network_address), int(net.broadcast_address)
