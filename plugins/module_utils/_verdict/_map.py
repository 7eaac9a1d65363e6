# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Map lookups for the verdict walk (docs/firewall-model.md): nft verdict maps (``vmap``) and
DNAT maps, keyed on one selector, a concatenation (``ip daddr . meta l4proto . th dport``) or a
random/hash number (``numgen``, ``jhash``: load balancing).

``MapLookup(keys, pairs).resolve(walk)`` gives the possible results of the lookup for the
packet: one (decided), or several with the reason they cannot be told apart and whether only
chance picks among them. A result is the map's value (a verdict dict, an address, [address,
port]) or ``MISS`` (no element matches). Exact elements are hashed; elements with prefixes,
ranges or wildcards are tested in order after them (nft keeps them disjoint).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from ansible_collections.portproof.validate.plugins.module_utils._intervals import address_interval, port_interval
from ansible_collections.portproof.validate.plugins.module_utils._verdict._match import (
    PORT_PROTOS, STATES, UNKNOWN_IFACE, Names,
)

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import Walk

MISS = "\0miss"
MAX_CHOICES = 16
_PROTO_ALIASES = {"icmpv6": "ipv6-icmp", "6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "132": "sctp",
                  "136": "udplite", "33": "dccp"}
_ANY = object()  # the packet's value is not known: any value but the ones that are excluded
Member = Callable[[Any], bool]


class MapError(ValueError):
    """A map element that does not fit its keys."""


def _exact(key: str, value: Any) -> Any:
    """The hashable form of an element's single value, or None when it covers several values."""
    if key in ("saddr", "daddr"):
        version, low, high = address_interval(value)
        return (version, low) if low == high else None
    if key in ("dport", "sport", "random", "mark", "ct_mark"):
        low, high = port_interval(value) if key in ("dport", "sport") else (int(value), int(value))
        return low if low == high else None
    if key in ("iifname", "oifname"):
        text = str(value)
        return None if text.endswith("*") and not text.endswith("\\*") else text.replace("\\*", "*")
    if key == "l4proto":
        text = str(value).lower()
        return _PROTO_ALIASES.get(text, text)
    return str(value).lower()


def _equals(value: Any) -> Member:
    return lambda candidate: candidate == value


def _member(key: str, value: Any) -> Member:
    """A test value -> bool for an element's value that covers several values."""
    if key in ("saddr", "daddr"):
        version, low, high = address_interval(value)
        return lambda v: v[0] == version and low <= v[1] <= high
    if key in ("dport", "sport"):
        low, high = port_interval(value)
        return lambda v: low <= v <= high
    names = Names([value])
    return lambda v: v in names


class MapLookup(object):
    """A compiled map: keys, exact elements by value tuple, the others in order."""

    __slots__ = ("keys", "exact", "ranged", "values", "mod", "offset", "source")

    def __init__(self, keys: Sequence[str], pairs: List[Any], mod: Optional[int] = None, offset: Optional[int] = 0,
                 source: Optional[str] = None) -> None:
        self.keys = list(keys)
        self.exact: Dict[Tuple[Any, ...], Any] = {}
        self.ranged: List[Tuple[Tuple[Member, ...], Any]] = []
        self.values: List[Any] = []
        if list(keys) == ["random"] and not (isinstance(mod, int) and mod >= 1):
            raise MapError("a lookup by a random number needs a modulus of 1 or more, got %r" % (mod,))
        self.mod: int = mod or 0
        self.offset: int = offset or 0
        self.source = source
        for key_value, target in pairs:
            parts = key_value if len(self.keys) > 1 else [key_value]
            if not isinstance(parts, list) or len(parts) != len(self.keys):
                raise MapError("map element %r does not have the keys %s" % (key_value, " . ".join(self.keys)))
            exact = tuple(_exact(k, v) for k, v in zip(self.keys, parts))
            if None in exact:
                self.ranged.append((tuple(_member(k, v) if e is None else _equals(e)
                                          for k, v, e in zip(self.keys, parts, exact)), target))
            else:
                self.exact.setdefault(exact, target)
            if target not in self.values:
                self.values.append(target)

    def _get(self, combo: Tuple[Any, ...]) -> Any:
        hit = self.exact.get(combo)
        if hit is not None:
            return hit
        for tests, target in self.ranged:
            if all(test(v) for test, v in zip(tests, combo)):
                return target
        return MISS

    def resolve(self, walk: Walk) -> Tuple[List[Any], Optional[str], bool]:
        """(results, reason, chance): the distinct possible results of the lookup, why there are
        several (None when one), and whether only chance picks among them."""
        if self.keys == ["random"]:
            results: List[Any] = []
            for number in range(self.offset, self.offset + self.mod):
                target = self._get((number,))
                if target not in results:
                    results.append(target)
            return results, "%s mod %d picks one element by chance" % (self.source or "numgen", self.mod), True
        per_key: List[List[Any]] = []
        why: List[str] = []
        for key in self.keys:
            values = _values(walk, key)
            if isinstance(values, str):
                return [], values, False
            if not isinstance(values, list):  # _ANY
                why.append(key)
                values = [_ANY]
            elif len(values) > 1:
                why.append(key)
            per_key.append(values)
        results = []
        for combo in itertools.product(*per_key):
            if _ANY in combo:
                # Any element whose other parts match may be hit, or none.
                found = [t for parts, t in self._elements() if all(c is _ANY or p(c) for p, c in zip(parts, combo))]
                found.append(MISS)
            else:
                found = [self._get(combo)]
            for target in found:
                if target not in results:
                    results.append(target)
            if len(results) > MAX_CHOICES:
                break
        reason: Optional[str] = None
        if len(results) > 1:
            reason = "map lookup on %s: the packet's %s is not known" % (" . ".join(self.keys), " and ".join(why))
        return results, reason, False

    def _elements(self) -> Iterator[Tuple[Tuple[Member, ...], Any]]:
        for exact, target in self.exact.items():
            yield tuple(_equals(e) for e in exact), target
        for tests, target in self.ranged:
            yield tests, target


def _values(walk: Walk, key: str) -> Union[str, object, List[Any]]:
    """The possible values of key for the packet: a list, _ANY, or a reason string."""
    pkt = walk.pkt
    version = pkt["version"]
    if key in ("saddr", "daddr"):
        if key == "saddr":
            return [(version, pkt["src"])]
        if walk.dst is not None:
            return [(version, walk.dst)]
        cands = walk.dst_candidates()
        if isinstance(cands, str):
            return cands
        return [(version, c) for c in cands]
    if key in ("dport", "sport"):
        value = walk.dport if key == "dport" else pkt["sport"]
        if value is None:
            if key == "sport" and pkt["proto"] in PORT_PROTOS:
                return _ANY
            return "map lookup on %s: the packet has no %s" % (key, key)
        return [value]
    if key == "l4proto":
        return [pkt["proto"]]
    if key == "nfproto":
        return [pkt["family"]]
    if key == "iifname":
        return _ANY if walk.iface == UNKNOWN_IFACE else [walk.iface]
    if key == "oifname":
        if walk.hook not in ("forward", "postrouting") or walk.oif is None:
            return "map lookup on oifname: the out-interface is not known here"
        return [walk.oif]
    if key == "ct_state":
        state = walk.ct_state()
        return [state] if state in STATES else state
    if key in ("mark", "ct_mark"):
        value = getattr(walk, key)
        return _ANY if value is None else [value]
    return "map lookup on %s is not evaluated" % key
