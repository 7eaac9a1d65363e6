# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Port mappings written as NAT rules: DNAT and REDIRECT, read from the normalized firewall model.

Every path from a ``nat`` base chain on the ``prerouting`` or ``output`` hook (iptables' nat
PREROUTING/OUTPUT, nftables' ``type nat`` chains) is followed through jumps, gotos and verdict
maps down to the DNAT/REDIRECT rules it reaches. Along a path the protocol, destination port and
destination address are narrowed (a jump on ``--dport 8080`` into a chain shared by several
mappings reaches only the 8080 rule); every other match on the path is kept as a condition.
What an earlier accept/drop/return/goto/NAT rule of a chain on the path takes first is left out:
the whole rule, or the ports of a range that the earlier rule takes. One mapping is one (family, protocol, host address, host port) leading to one target;
the rules and paths that make it are its evidence. Docker, netavark (Podman), kube-proxy,
firewalld and CNI rules need nothing special: they are recognised only to name the ``manager``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple, Union

from ansible_collections.portproof.validate.plugins.module_utils._intervals import Intervals, address_interval, port_intervals, show_interval

SUBSET = "mappings"
PORT_PROTOS = ("tcp", "udp", "sctp", "udplite", "dccp")
ANY_ADDRESS = {"ipv4": "0.0.0.0", "ipv6": "::"}
EXPAND_LIMIT = 1024  # host port ranges up to this size become one mapping per port
_INDEX_LIMIT = 64  # a path narrowed to at most this many ports looks rules up by port
_TABLE_FAMILIES = {"ip": ("ipv4",), "ip6": ("ipv6",), "inet": ("ipv4", "ipv6")}
_VERSION = {"ipv4": 4, "ipv6": 6}
_NAT_HOOKS = ("prerouting", "output")
_PRE_EMPTING = ("accept", "drop", "reject", "return", "goto", "dnat", "redirect")
_MAX_DEPTH = 40
_MANAGERS = (("NETAVARK", "netavark"), ("CNI-", "cni"), ("KUBE-", "kube-proxy"), ("DOCKER", "docker"),
             ("PRE_", "firewalld"), ("nat_PRE_", "firewalld"))
_NETAVARK_ID = re.compile(r"dnat name: \S+ id: ([0-9a-f]{64})")
Json = Dict[str, Any]
Net = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
RulePorts = Union[None, bool, Intervals]  # a rule's dport matches: None when it has none, False when unreadable
Trail = List[Tuple[str, Json]]  # (chain name, rule) of each jump on the way


class _State(object):
    """What a packet must be to have come this far: families, protocols, ports, addresses, conditions."""

    __slots__ = ("families", "protos", "ports", "nets", "conditions")

    def __init__(self, families: Iterable[str], protos: Optional[FrozenSet[str]] = None, ports: Optional[Intervals] = None,
                 nets: Optional[Tuple[Net, ...]] = None, conditions: Iterable[Json] = ()) -> None:
        self.families = tuple(families)
        self.protos = protos          # frozenset of protocol names, None = any
        self.ports = ports            # Intervals of destination ports, None = any
        self.nets = nets              # tuple of ip_network destination addresses, None = any
        self.conditions = tuple(conditions)

    def replace(self, **changes: Any) -> _State:
        values = dict((name, getattr(self, name)) for name in self.__slots__)
        values.update(changes)
        return _State(**values)

    def key(self) -> Tuple[Any, ...]:
        return (self.families, self.protos, self.ports, self.nets, self.conditions)

    def with_condition(self, match: Json) -> _State:
        return self if match in self.conditions else self.replace(conditions=self.conditions + (match,))


def _nets(values: List[Any]) -> List[Net]:
    """The networks of address values: a range becomes the CIDRs that cover it exactly."""
    nets: List[Net] = []
    for value in values:
        version, first, last = address_interval(value)
        if version == 4:
            nets.extend(ipaddress.summarize_address_range(ipaddress.IPv4Address(first), ipaddress.IPv4Address(last)))
        else:
            nets.extend(ipaddress.summarize_address_range(ipaddress.IPv6Address(first), ipaddress.IPv6Address(last)))
    return nets


def _intersect_nets(a: Sequence[Net], b: Sequence[Net]) -> Tuple[Net, ...]:
    out: List[Net] = []
    for x in a:
        for y in b:
            if x.version != y.version:
                continue
            if x.subnet_of(y) and x not in out:  # type: ignore[arg-type]  # same version, checked above
                out.append(x)
            elif y.subnet_of(x) and y not in out:  # type: ignore[arg-type]
                out.append(y)
    return tuple(out)


def _with_families(state: _State, families: Iterable[str]) -> Optional[_State]:
    kept = tuple(f for f in state.families if f in families)
    if not kept:
        return None
    nets = state.nets
    if nets is not None:
        nets = tuple(n for n in nets if n.version in [_VERSION[f] for f in kept])
        if not nets:
            return None
    return state.replace(families=kept, nets=nets)


_FIELDS = {"l4proto": "protos", "dport": "ports", "daddr": "nets"}


def narrow(state: _State, match: Json) -> Optional[_State]:
    """STATE further limited by one model match, or None when no packet can satisfy both."""
    key = match.get("key")
    if match.get("op") == "eq" and key in _FIELDS and getattr(state, _FIELDS[key]) is None:
        # The first positive match on a field: negations seen before it now apply to known values.
        pending = [c for c in state.conditions if c.get("key") == key and c.get("op") == "ne"]
        if pending:
            narrowed = _narrow_one(state.replace(conditions=[c for c in state.conditions if c not in pending]), match)
            for condition in pending:
                if narrowed is None:
                    break
                narrowed = _narrow_one(narrowed, condition)
            return narrowed
    return _narrow_one(state, match)


def _narrow_one(state: _State, match: Json) -> Optional[_State]:
    key, op, values = match.get("key"), match.get("op"), match.get("values")
    if op not in ("eq", "ne") or not isinstance(values, list) or not values:
        return state.with_condition(match)
    try:
        if key == "l4proto":
            names = frozenset(str(v) for v in values)
            if op == "eq":
                protos = names if state.protos is None else state.protos & names
            elif state.protos is None:
                return state.with_condition(match)
            else:
                protos = state.protos - names
            return state.replace(protos=protos) if protos else None
        if key == "dport":
            wanted = port_intervals(values)
            if op == "eq":
                ports = wanted if state.ports is None else state.ports.intersect(wanted)
            elif state.ports is None:
                return state.with_condition(match)
            else:
                ports = state.ports.subtract(wanted)
            return state.replace(ports=ports) if ports else None
        if key == "daddr":
            return _narrow_daddr(state, match, op, _nets(values))
        if key == "nfproto":
            families = set(str(v) for v in values)
            return _with_families(state, [f for f in state.families if (f in families) == (op == "eq")])
    except (ValueError, TypeError):
        pass  # a value this layer does not model: keep the match as a condition
    return state.with_condition(match)


def _narrow_daddr(state: _State, match: Json, op: str, nets: Sequence[Net]) -> Optional[_State]:
    if op == "eq":
        if state.nets is None:
            kept = tuple(n for n in nets if n.version in [_VERSION[f] for f in state.families])
        else:
            kept = _intersect_nets(state.nets, nets)
        if not kept:
            return None
        return _with_families(state.replace(nets=kept), [f for f in state.families if _VERSION[f] in [n.version for n in kept]])
    if state.nets is None:
        return state.with_condition(match)
    kept = tuple(n for n in state.nets if not any(n.version == x.version and n.subnet_of(x) for x in nets))  # type: ignore[arg-type]
    if not kept:
        return None
    state = state.replace(nets=kept)
    if any(n.version == x.version and n.overlaps(x) for n in kept for x in nets):
        state = state.with_condition(match)
    return state


def _narrow_all(state: _State, matches: List[Json]) -> Optional[_State]:
    for match in matches:
        narrowed = narrow(state, match)
        if narrowed is None:
            return None
        state = narrowed
    return state


def _pre_empt(out: _Collector, rule: Json, state: _State) -> Optional[_State]:
    """STATE less the packets RULE (an earlier accept/drop/return/goto/NAT rule) takes first; None if it takes all.

    Only a rule that matches every packet of STATE, apart from the destination port, takes any:
    its ports are taken out of STATE's (kept as a condition when STATE's ports are not known), and
    after a rule on ``dport != X`` only X is left.
    """
    ports = out.rule_ports(rule)
    negated = None
    for match in rule.get("match") or []:
        key = match.get("key")
        if key == "dport" and match.get("op") == "eq" and ports is not False:
            continue
        if key in ("l4proto", "dport", "daddr", "nfproto"):
            narrowed = narrow(state, match)
            if narrowed is None:
                return state
            if narrowed.key() != state.key():
                if key != "dport" or negated is not None or ports is not None:
                    return state
                negated = match  # `dport != X`: the rule takes every port but X
        elif match not in state.conditions:
            return state
    if negated is not None:
        return narrow(state, dict(negated, op="eq"))
    if not isinstance(ports, Intervals):
        # no dport match, or unreadable ones that every packet of STATE has passed already
        return None
    if state.ports is None:
        return state.with_condition({"key": "dport", "op": "ne", "values": [show_interval(i) for i in ports]})
    rest = state.ports.subtract(ports)
    if not rest:
        return None
    return state if rest == state.ports else state.replace(ports=rest)


def _nat_problem(rule: Json) -> Optional[str]:
    verdict = rule.get("verdict") or {}
    if verdict.get("kind") == "unsupported" and verdict.get("name") in ("dnat", "redirect"):
        return verdict.get("reason")
    if verdict.get("kind") == "dnat" and verdict.get("map") and not set(verdict["map"].get("keys") or ["?"]) <= set(_FIELDS):
        return "DNAT through a map on %s: the target is not chosen by the destination" % " . ".join(verdict["map"].get("keys") or [])
    for match in rule.get("match") or []:
        if match.get("key") == "unsupported" and "NAT target" in str(match.get("reason")):
            return match["reason"]
    return None


def _show_net(net: Net) -> str:
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _expand(ports: Intervals) -> List[Union[int, str]]:
    out: List[Union[int, str]] = []
    for low, high in ports:
        if high - low < EXPAND_LIMIT:
            out.extend(range(low, high + 1))
        else:
            out.append("%d-%d" % (low, high))
    return out


def target_port(spec: Union[None, int, str], host_port: Union[None, int, str]) -> Union[None, int, str]:
    """Where HOST_PORT goes for a NAT port spec: int, None (unchanged), "a-b", or iptables' "a-b/base" (shifted)."""
    if spec is None:
        return host_port
    if isinstance(spec, int):
        return spec
    text = str(spec)
    shift = None
    if "/" in text:
        text, base = text.split("/", 1)
        shift = int(base) if base.isdigit() else None
    first, _sep, last = text.partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        return str(spec)
    low, high = int(first), int(last or first)
    if shift is not None and isinstance(host_port, int):
        return low + (host_port - shift)
    return low if low == high else "%d-%d" % (low, high)


class _Collector(object):
    """The mappings and problems found, and per-run indexes that keep long chains linear."""

    def __init__(self) -> None:
        self.items: Dict[Tuple[Any, ...], Json] = {}
        self.problems: List[Json] = []
        self._rule_ports: Dict[int, RulePorts] = {}
        self._chain_index: Dict[int, Tuple[Dict[int, List[int]], List[int]]] = {}

    def rule_ports(self, rule: Json) -> RulePorts:
        """Destination ports a rule's positive dport matches allow: None when it has none, False when unreadable."""
        key = id(rule)
        if key not in self._rule_ports:
            ports: RulePorts = None
            for match in rule.get("match") or []:
                if match.get("key") == "dport" and match.get("op") == "eq":
                    try:
                        wanted = port_intervals(match.get("values") or [])
                    except (TypeError, ValueError):
                        ports = False
                        break
                    ports = ports.intersect(wanted) if isinstance(ports, Intervals) else wanted
            self._rule_ports[key] = ports
        return self._rule_ports[key]

    def positions(self, chain: Json, state: _State) -> Sequence[int]:
        """Positions of the rules of CHAIN that a packet of STATE can match, by destination port.

        A chain shared by many mappings (netavark's, firewalld's) is entered once per host port;
        looking only at the rules for that port keeps the walk linear in the number of rules.
        """
        rules = chain["rules"]
        if state.ports is None or state.ports.size() > _INDEX_LIMIT:
            return range(len(rules))
        index = self._chain_index.get(id(chain))
        if index is None:
            index = self._chain_index[id(chain)] = ({}, [])
            for position, rule in enumerate(rules):
                ports = self.rule_ports(rule)
                if not isinstance(ports, Intervals) or not ports or ports.size() > _INDEX_LIMIT:
                    index[1].append(position)
                    continue
                for low, high in ports:
                    for port in range(low, high + 1):
                        index[0].setdefault(port, []).append(position)
        found = set(index[1])
        for low, high in state.ports:
            for port in range(low, high + 1):
                found.update(index[0].get(port, ()))
        return sorted(found)

    def problem(self, table: Json, chain: Json, rule: Json, reason: str) -> None:
        tool = "nftables" if table["source"] == "nftables" else "iptables"
        entry = {"subset": SUBSET, "tool": tool,
                 "reason": "%s %s table %s, chain %s, rule %s (%s): %s; the mappings it makes are not reported"
                           % (table["source"], table["family"], table["name"], chain["name"], rule.get("index"),
                              rule.get("text"), reason)}
        if entry not in self.problems:
            self.problems.append(entry)

    def emit(self, table: Json, chain: Json, rule: Json, state: _State, trail: Trail, hook: str) -> None:
        verdict = rule["verdict"]
        addr = verdict.get("addr") if verdict["kind"] == "dnat" else None
        families: Sequence[str] = state.families
        if addr:
            families = [f for f in families if f == ("ipv6" if ":" in str(addr) else "ipv4")]
        path = {"hook": hook, "chains": [name for name, dummy in trail] + [chain["name"]],
                "conditions": list(state.conditions),
                "comments": [r.get("comment") for dummy, r in trail + [(None, rule)] if r.get("comment")]}
        evidence = {"source": table["source"], "family": table["family"], "table": table["name"], "chain": chain["name"],
                    "index": rule.get("index"), "text": rule.get("text"), "paths": [path]}
        for family in families:
            if state.nets is None:
                host_ips = [ANY_ADDRESS[family]]
            else:
                host_ips = [_show_net(n) for n in state.nets if n.version == _VERSION[family]]
            for proto in sorted(state.protos) if state.protos is not None else [None]:
                ports = _expand(state.ports) if proto in PORT_PROTOS and state.ports is not None else [None]
                for host_ip in host_ips:
                    for host_port in ports:
                        self._add(family, proto, host_ip, host_port, verdict, addr, evidence, table, path)

    def _add(self, family: str, proto: Optional[str], host_ip: str, host_port: Union[None, int, str], verdict: Json,
             addr: Optional[str], evidence: Json, table: Json, path: Json) -> None:
        key = (family, proto, host_ip, host_port, verdict["kind"], addr, target_port(verdict.get("port"), host_port))
        item = self.items.get(key)
        if item is None:
            source = "nftables" if table["source"] == "nftables" else "iptables"
            item = self.items[key] = {
                "proto": proto, "family": family, "host_ip": host_ip, "host_port": host_port,
                "target_ip": addr, "target_port": key[6], "kind": verdict["kind"], "source": source,
                "sources": [source], "manager": None, "rules": [],
            }
        source = "nftables" if table["source"] == "nftables" else "iptables"
        if source not in item["sources"]:
            item["sources"].append(source)
        for entry in item["rules"]:
            if all(entry[k] == evidence[k] for k in ("source", "family", "table", "chain", "index")):
                if path not in entry["paths"]:
                    entry["paths"].append(path)
                break
        else:
            item["rules"].append(dict(evidence, paths=list(evidence["paths"])))
        if item["manager"] is None:
            item["manager"] = _manager(table["name"], path["chains"])


def _manager(table_name: str, chains: List[str]) -> Optional[str]:
    if table_name == "firewalld":
        return "firewalld"
    for name in chains:
        for prefix, manager in _MANAGERS:
            if name.startswith(prefix):
                return manager
    return None


def netavark_container_id(item: Json) -> Optional[str]:
    """The container ID netavark wrote into the comments on the mapping's path, or None."""
    for rule in item.get("rules") or []:
        for path in rule["paths"]:
            for comment in path["comments"]:
                found = _NETAVARK_ID.search(comment)
                if found:
                    return found.group(1)
    return None


class _Prior(object):
    """The pre-empting rules met so far in one chain, looked up by destination port."""

    __slots__ = ("out", "by_port", "others", "ported")

    def __init__(self, out: _Collector) -> None:
        self.out = out
        self.by_port: Dict[int, List[Json]] = {}
        self.others: List[Json] = []  # rules of any port, of many ports, or unreadable ports
        self.ported: List[Json] = []  # the rules in by_port

    def add(self, rule: Json) -> None:
        ports = self.out.rule_ports(rule)
        if not isinstance(ports, Intervals) or not ports or ports.size() > _INDEX_LIMIT:
            self.others.append(rule)
            return
        self.ported.append(rule)
        for low, high in ports:
            for port in range(low, high + 1):
                self.by_port.setdefault(port, []).append(rule)

    def pre_empt(self, state: _State) -> Optional[_State]:
        if state.ports is not None and state.ports.size() <= _INDEX_LIMIT:
            candidates: List[Json] = list(self.others)
            seen: Set[int] = set()
            for low, high in state.ports:
                for port in range(low, high + 1):
                    for rule in self.by_port.get(port, ()):
                        if id(rule) not in seen:
                            seen.add(id(rule))
                            candidates.append(rule)
        else:
            candidates = self.others + self.ported
        left: Optional[_State] = state
        for rule in candidates:
            left = _pre_empt(self.out, rule, state)
            if left is None:
                return None
            state = left
        return state


def _walk(out: _Collector, table: Json, chains: Dict[str, Json], chain: Json, state: _State, trail: Trail,
          blockers: List[_Prior], hook: str) -> None:
    prior = _Prior(out)
    before = blockers + [prior]
    for position in out.positions(chain, state):
        rule = chain["rules"][position]
        verdict = rule.get("verdict") or {}
        kind = verdict.get("kind")
        problem = _nat_problem(rule) if kind in (None, "unsupported", "dnat") else None
        if kind in ("jump", "goto", "vmap", "dnat", "redirect") or problem:
            narrowed = _narrow_all(state, rule.get("match") or [])
            # `before` holds this chain's pre-empting rules met so far: the walk is depth first,
            # so a chain jumped to sees exactly the rules before the jump.
            for earlier in before:
                if narrowed is None:
                    break
                narrowed = earlier.pre_empt(narrowed)
            if narrowed is not None:
                if problem:
                    out.problem(table, chain, rule, problem)
                elif kind == "dnat" and verdict.get("map"):
                    _emit_map(out, table, chain, rule, narrowed, trail, hook)
                elif kind in ("dnat", "redirect"):
                    out.emit(table, chain, rule, narrowed, trail, hook)
                else:
                    _follow(out, table, chains, chain, rule, narrowed, trail, before, hook)
        if kind in _PRE_EMPTING:
            prior.add(rule)


def _emit_map(out: _Collector, table: Json, chain: Json, rule: Json, state: _State, trail: Trail, hook: str) -> None:
    """A DNAT whose target a map looks up by protocol, destination address and port
    (``dnat to ip daddr . tcp dport map @m``): one mapping per element."""
    spec = rule["verdict"]["map"]
    keys = spec.get("keys") or []
    for pair in spec.get("elements") or []:
        value, target = pair[0], pair[1]
        values = value if len(keys) > 1 and isinstance(value, list) else [value]
        narrowed = _narrow_all(state, [{"key": k, "op": "eq", "values": [v]} for k, v in zip(keys, values)])
        if narrowed is None:
            continue
        addr, port = (target[0], target[1]) if isinstance(target, list) and len(target) == 2 else (target, rule["verdict"].get("port"))
        out.emit(table, chain, dict(rule, verdict={"kind": "dnat", "addr": addr, "port": port}), narrowed, trail, hook)


def _follow(out: _Collector, table: Json, chains: Dict[str, Json], chain: Json, rule: Json, state: _State, trail: Trail,
            blockers: List[_Prior], hook: str) -> None:
    """Continue into the chain(s) a jump, goto or verdict map leads to."""
    verdict = rule["verdict"]
    targets = []
    if verdict["kind"] in ("jump", "goto"):
        targets.append((verdict.get("chain"), state))
    else:
        keys = verdict.get("keys") or []
        for pair in verdict.get("map") or []:
            value, target = pair[0], pair[1] if len(pair) > 1 else {}
            if (target or {}).get("kind") not in ("jump", "goto"):
                continue
            values = value if len(keys) > 1 and isinstance(value, list) else [value]
            matches = [{"key": k, "op": "eq", "values": [v]} for k, v in zip(keys, values)]
            narrowed = _narrow_all(state, matches)
            if narrowed is not None:
                targets.append((target.get("chain"), narrowed))
    step = trail + [(chain["name"], rule)]
    for name, narrowed in targets:
        if name in chains and len(step) < _MAX_DEPTH and name not in [n for n, dummy in step]:
            _walk(out, table, chains, chains[name], narrowed, step, blockers, hook)


def _sort_key(item: Json) -> Tuple[Any, ...]:
    def num(value: Any) -> Tuple[int, int, str]:
        return (0, value, "") if isinstance(value, int) else (1, 0, str(value))
    return (num(item["host_port"]), str(item["proto"]), str(item["family"]), str(item["host_ip"]),
            str(item["target_ip"]), num(item["target_port"]), item["kind"])


def nat_mappings(firewall: Optional[Json]) -> Tuple[List[Json], List[Json]]:
    """(mappings, problems) made by the DNAT/REDIRECT rules of a firewall model (gather_firewall's dict).

    A mapping: proto (None for every protocol), family, host_ip (0.0.0.0 / :: for every address,
    a CIDR when the rule names a network), host_port (None for every port; "a-b" for a range
    wider than EXPAND_LIMIT), target_ip (None for REDIRECT or a port-only DNAT), target_port,
    kind (dnat|redirect), source (iptables|nftables), sources, manager, rules (evidence).
    ``problems`` are unavailable entries for NAT rules whose target cannot be read.
    """
    out = _Collector()
    for table in (firewall or {}).get("tables") or []:
        families = _TABLE_FAMILIES.get(table.get("family"))
        if not families:
            continue
        chains = dict((c["name"], c) for c in table["chains"])
        for chain in table["chains"]:
            if chain.get("type") == "nat" and chain.get("hook") in _NAT_HOOKS:
                _walk(out, table, chains, chain, _State(families), [], [], chain["hook"])
    return sorted(out.items.values(), key=_sort_key), out.problems
