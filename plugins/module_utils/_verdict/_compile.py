# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The firewall fact prepared for the verdict walk (_evaluate.py): base chains per hook in
priority order, chains by name, rules indexed by destination port and source host, matches
compiled on first use. Pure functions; imported by the controller filter too.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Set, Tuple, Union

from ansible_collections.portproof.validate.plugins.module_utils._verdict._match import PacketError, Test, compile_match, parse_ip

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import Walk
    from ansible_collections.portproof.validate.plugins.module_utils._verdict._map import MapLookup

Json = Dict[str, Any]
Address = Tuple[int, int]  # (IP version, address as an int)

# nat base chains of a hook run together at the kernel's NAT priority (in their own priority order).
_NAT_GROUP = {"prerouting": -100, "output": -100, "input": 100, "postrouting": 100}
EFFECT_FREE = ("log", "counter", "other")


def _registered(table: Json, raw: Json) -> Tuple[int, int, int]:
    """Sort key among base chains of equal priority: the kernel runs the hook registered last first
    (newest table, then newest chain in it, by nft handles); chains without handles (iptables-legacy,
    facts without handles) come after them, in the order of the facts."""
    table_handle, chain_handle = table.get("handle"), raw.get("handle")
    if isinstance(table_handle, int) and isinstance(chain_handle, int):
        return (0, -table_handle, -chain_handle)
    return (1, 0, 0)


class FirewallError(ValueError):
    """The firewall argument is not a portproof firewall fact; the message says what is wrong."""


def _host_values(values: List[Any]) -> Optional[List[Address]]:
    """[(version, int)] when every value is one address (a /32 or /128), else None."""
    if not values or len(values) > 64:
        return None
    out: List[Address] = []
    for value in values:
        text = str(value)
        if text.endswith("/32") or text.endswith("/128"):
            text = text.rsplit("/", 1)[0]
        elif "/" in text or "-" in text:
            return None
        try:
            out.append(parse_ip(text, "rule address"))
        except PacketError:
            return None
    return out


class _Rule(object):
    __slots__ = ("tests", "statements", "verdict", "ref", "ports", "hosts", "raw", "vmap", "inert")

    def __init__(self, raw: Json, ref: Json) -> None:
        self.raw = raw
        self.vmap: Union[None, str, MapLookup] = None
        self.ref = ref
        self.tests: Optional[Tuple[Test, ...]] = None
        self.statements: List[Json] = raw.get("statements") or []
        self.verdict: Optional[Json] = raw.get("verdict")
        self.ports: Optional[List[int]] = None
        self.hosts: Optional[List[Address]] = None
        # A rule that only logs or counts changes nothing whether or not it matches: skipped.
        self.inert = self.verdict is None and all(st.get("kind") in EFFECT_FREE for st in self.statements) and \
            not any(m.get("key") == "recent" for m in raw.get("match") or [])
        for match in raw.get("match") or []:
            if match.get("key") == "dport" and match.get("op", "eq") == "eq":
                values = match.get("values") or []
                if values and len(values) <= 64 and all(isinstance(v, int) for v in values):
                    self.ports = values
            elif match.get("key") == "saddr" and match.get("op", "eq") == "eq":
                hosts = _host_values(match.get("values") or [])
                if hosts:
                    self.hosts = hosts


class _Chain(object):
    __slots__ = ("name", "table", "raw", "rules", "index", "compiled", "ctx")

    def __init__(self, table: Json, raw: Json, ctx: Compiled) -> None:
        self.name: str = raw["name"]
        self.table = table
        self.raw = raw
        self.ctx = ctx
        self.rules: List[_Rule] = []
        # (rule positions by dport, by source host, the other positions, those rules, a cache by packet)
        self.index: Optional[Tuple[Dict[int, List[int]], Dict[Address, List[int]], List[int], List[_Rule],
                                   Dict[Tuple[Any, ...], List[_Rule]]]] = None
        self.compiled = False

    def _compile(self) -> None:
        table = self.table
        self.rules = []
        for pos, raw in enumerate(self.raw.get("rules") or []):
            ref = {"source": table["source"], "family": table["family"], "table": table["name"], "chain": self.name,
                   "index": raw.get("index", pos + 1), "text": raw.get("text")}
            self.rules.append(_Rule(raw, ref))
        if len(self.rules) >= 16:
            # Each rule is filed under its destination ports, else its source hosts, else "wild":
            # a packet can only match the wild rules and those filed under its own port or source.
            ports: Dict[int, List[int]] = {}
            hosts: Dict[Address, List[int]] = {}
            wild: List[int] = []
            for pos, rule in enumerate(self.rules):
                if rule.ports is not None:
                    for port in rule.ports:
                        ports.setdefault(port, []).append(pos)
                elif rule.hosts is not None:
                    for host in rule.hosts:
                        hosts.setdefault(host, []).append(pos)
                else:
                    wild.append(pos)
            self.index = (ports, hosts, wild, [self.rules[p] for p in wild], {})
        self.compiled = True

    def candidates(self, walk: Walk) -> Sequence[_Rule]:
        """The rules that can match the packet, in order (all rules for small chains)."""
        if not self.compiled:
            self._compile()
        if self.index is None:
            return self.rules
        ports, hosts, wild, wild_rules, cache = self.index
        by_port = ports.get(walk.dport) if walk.dport is not None else None
        by_host = hosts.get((walk.pkt["version"], walk.pkt["src"]))
        if by_port is None and by_host is None:
            return wild_rules
        key = (walk.dport, walk.pkt["version"], walk.pkt["src"])
        hit = cache.get(key)
        if hit is None:
            hit = [self.rules[p] for p in sorted(wild + (by_port or []) + (by_host or []))]
            if len(cache) < 4096:
                cache[key] = hit
        return hit

    def tests(self, rule: _Rule) -> Tuple[Test, ...]:
        if rule.tests is None:
            rule.tests = tuple(compile_match(m, self.ctx) for m in rule.raw.get("match") or [])
        return rule.tests


# (sort key, chain, its model dict, whether it is a nat chain) of one base chain on a hook
Entry = Tuple[Tuple[Any, ...], "_Chain", Json, bool]


class Compiled(object):
    """A firewall fact prepared for many verdicts (chains indexed, matches compiled on first use)."""

    def __init__(self, firewall: Any) -> None:
        if not isinstance(firewall, dict):
            raise FirewallError("firewall must be the portproof firewall fact (a dict), got %s" % type(firewall).__name__)
        tables = firewall.get("tables")
        if not isinstance(tables, list):
            raise FirewallError("firewall has no 'tables' list: pass ansible_facts.portproof.firewall gathered by "
                                "portproof.validate.port_facts")
        self.incomplete = list(firewall.get("incomplete") or [])
        self.forwarding = firewall.get("forwarding") or {}
        self._addresses(firewall.get("local_addresses"))
        self._routes(firewall.get("routes"))
        self._local_routes(firewall.get("local_routes"))
        self.chains: Dict[int, Dict[str, _Chain]] = {}
        self.hooks: Dict[Tuple[int, str], List[Entry]] = {}
        seq = 0
        for table in tables:
            try:
                by_name: Dict[str, _Chain] = {}
                for raw in table["chains"]:
                    chain = _Chain(table, raw, self)
                    by_name[raw["name"]] = chain
                self.chains[id(table)] = by_name
                for raw in table["chains"]:
                    if not raw.get("hook"):
                        continue
                    seq += 1
                    self._add_base(table, by_name[raw["name"]], raw, seq)
            except (KeyError, TypeError) as exc:
                raise FirewallError("firewall table %r is not in the model's shape (%s)" % (table.get("name"), exc))
        for entries in self.hooks.values():
            entries.sort(key=lambda e: e[0])

    def _addresses(self, addresses: Optional[List[Json]]) -> None:
        # per version: (iface, address, network, broadcast, prefix length) of each local address
        self.local: Optional[Dict[int, List[Tuple[Optional[str], int, int, int, int]]]] = None
        self.local_set: Dict[int, Set[int]] = {4: set(), 6: set()}
        self.iface_addrs: Dict[int, Dict[Optional[str], List[Tuple[int, Optional[Tuple[bool, bool]]]]]] = {4: {}, 6: {}}
        self.broadcast: Set[int] = set()
        if addresses is None:
            return
        self.local = {4: [], 6: []}
        for item in addresses:
            version, value = parse_ip(item["address"], "firewall local_addresses")
            net = ipaddress.ip_network("%s/%s" % (item["address"], item.get("prefixlen") or (32 if version == 4 else 128)),
                                       strict=False)
            self.local[version].append((item.get("iface"), value, int(net.network_address), int(net.broadcast_address),
                                        net.prefixlen))
            self.local_set[version].add(value)
            # REDIRECT's address: the flags say which addresses it may take; None when not gathered.
            flags: Optional[Tuple[bool, bool]] = None
            if all(key in item for key in ("secondary", "tentative")):
                flags = (bool(item["secondary"]), bool(item["tentative"]) and not item.get("optimistic"))
            self.iface_addrs[version].setdefault(item.get("iface"), []).append((value, flags))
            if item.get("broadcast"):
                self.broadcast.add(parse_ip(item["broadcast"], "firewall local_addresses broadcast")[1])

    def _routes(self, routes: Optional[List[Json]]) -> None:
        self.routes: Optional[Dict[int, List[Tuple[int, int, int, Optional[str]]]]] = None
        if routes is None:
            return
        self.routes = {4: [], 6: []}
        for item in routes:
            try:
                net = ipaddress.ip_network(item["dst"], strict=False)
            except (KeyError, ValueError):
                raise FirewallError("firewall routes entry %r is not {dst: CIDR, dev: NAME}" % (item,))
            self.routes[net.version].append((int(net.network_address), int(net.broadcast_address), net.prefixlen, item.get("dev")))

    def _local_routes(self, routes: Any) -> None:
        """The local routing table by version, longest prefix first: [(low, high, type, dev)];
        None when it was not gathered (address type matches are then undecided)."""
        self.local_routes: Optional[Dict[int, List[Tuple[int, int, str, Optional[str]]]]] = None
        if routes is None:
            return
        if not isinstance(routes, list):
            raise FirewallError("firewall local_routes must be a list of {type, dst, dev, family}, got %s" % type(routes).__name__)
        table: Dict[int, List[Tuple[int, int, int, str, Optional[str]]]] = {4: [], 6: []}
        for item in routes:
            try:
                net = ipaddress.ip_network(item["dst"], strict=False)
                kind = str(item["type"]).lower()
            except (KeyError, TypeError, ValueError):
                raise FirewallError("firewall local_routes entry %r is not {type, dst: CIDR, dev, family}" % (item,))
            table[net.version].append((net.prefixlen, int(net.network_address), int(net.broadcast_address), kind, item.get("dev")))
        self.local_routes = dict((v, [(low, high, kind, dev) for dummy, low, high, kind, dev in sorted(entries, key=lambda e: -e[0])])
                                 for v, entries in table.items())

    def _add_base(self, table: Json, chain: _Chain, raw: Json, seq: int) -> None:
        family, hook = table["family"], raw["hook"]
        versions: Tuple[int, ...] = (4, 6) if family in ("inet", "netdev") else ((4,) if family == "ip" else ((6,) if family == "ip6" else ()))
        if hook == "ingress":
            if family not in ("netdev", "inet"):
                return
        is_nat = raw.get("type") == "nat"
        prio = raw.get("priority") or 0
        group = _NAT_GROUP.get(hook, prio) if is_nat else prio
        entry: Entry = ((group, prio, _registered(table, raw), seq), chain, raw, is_nat)
        for version in versions:
            self.hooks.setdefault((version, hook), []).append(entry)

    def entries(self, version: int, hook: str) -> List[Entry]:
        return self.hooks.get((version, hook), [])
