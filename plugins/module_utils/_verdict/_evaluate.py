# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Static verdict for a new inbound packet over the normalized firewall model.

The walk (docs/firewall-model.md): netdev ingress, prerouting (every base chain at the hook in
priority order; nat chains as one group at the dstnat priority, the first NAT binding wins), the
routing decision (local address -> input, else forward if the host forwards), then input, or
forward and postrouting. In each base chain rules run in order with jump/goto/return and the
chain's policy; an accept ends only that base chain, a drop or reject is final. A rule whose
match cannot be decided forks the walk: if both outcomes agree the verdict stands, otherwise
it is ``unknown`` with the reason. Pure functions; imported by the controller filter too.
"""

from __future__ import annotations

import ipaddress
from typing import Any, List, Optional, Set, Tuple, Union

from ansible_collections.portproof.validate.plugins.module_utils._verdict._compile import (  # noqa: F401 pylint: disable=unused-import
    EFFECT_FREE, Compiled, FirewallError, Json, _Chain, _Rule,
)
from ansible_collections.portproof.validate.plugins.module_utils._verdict._map import MAX_CHOICES, MISS, MapError, MapLookup
from ansible_collections.portproof.validate.plugins.module_utils._verdict._match import (
    BREAK, UNKNOWN_IFACE, UNTRACKED_UNKNOWN, Chance, PacketError, TestResult, is_loopback, normalize_packet, parse_ip,
)

MAX_FORKS = 64
MAX_DEPTH = 64
_EFFECT_FREE = EFFECT_FREE
Outcome = Json  # verdict, rule, reason, final_dst, final_dport, destinations, path, assumptions


def _addr_text(version: int, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))


class Walk(object):
    """One path of a packet through the hooks; cloned when an undecided rule forks the walk."""

    def __init__(self, fw: Compiled, pkt: Json) -> None:
        self.fw = fw
        self.pkt = pkt
        self.dst: Optional[int] = pkt["dst"]
        self.dport: Optional[int] = pkt["dport"]
        self.sport: Optional[int] = pkt["sport"]
        self.orig_dport: Optional[int] = pkt["dport"]
        self.mark: Optional[int] = 0
        self.ct_mark: Optional[int] = 0 if pkt["state"] == "new" else None
        self.untracked: Optional[bool] = False  # made untracked by a notrack before conntrack; None: maybe
        self.dnat = False
        self.oif: Optional[str] = None
        self.hook: Optional[str] = None
        self.prio = 0
        self.recent: Set[Any] = set()
        self.assumptions: List[str] = []
        self.path: List[Json] = []
        self.accepted_by: Optional[Json] = None
        self.nat_bound: Set[str] = set()
        self.forwarded = False
        self.stage = 0
        self.entry = 0
        self.frames: Optional[List[List[Any]]] = None  # [chain, candidate rules, next position] per chain entered
        self.force: Optional[bool] = None
        self.choice: Optional[Tuple[Any]] = None  # (result,): the map lookup result this branch of a fork takes
        self.iface = self._iface()

    def clone(self) -> Walk:
        other = Walk.__new__(Walk)
        other.__dict__.update(self.__dict__)
        other.recent = set(self.recent)
        other.assumptions = list(self.assumptions)
        other.path = list(self.path)
        other.nat_bound = set(self.nat_bound)
        other.frames = [list(f) for f in self.frames] if self.frames is not None else None
        return other

    def _iface(self) -> Optional[str]:
        pkt = self.pkt
        if pkt["iface"] == "auto":
            return self._route_iface()
        if pkt["iface"]:
            return pkt["iface"]
        if is_loopback(pkt["version"], pkt["src"]):
            return "lo"
        if self.fw.local is None:
            self.assume("the source is not one of this host's own addresses")
            return UNKNOWN_IFACE
        return "lo" if pkt["src"] in self.fw.local_set[pkt["version"]] else UNKNOWN_IFACE

    def _route_iface(self) -> Optional[str]:
        """iface "auto": the interface the host routes the source through (reverse path)."""
        pkt = self.pkt
        if is_loopback(pkt["version"], pkt["src"]) or (self.fw.local is not None and pkt["src"] in self.fw.local_set[pkt["version"]]):
            return "lo"
        best = None
        for low, high, plen, dev in self.fw.routes.get(pkt["version"], ()) if self.fw.routes is not None else ():
            if low <= pkt["src"] <= high and (best is None or plen > best[0]):
                best = (plen, dev)
        if best is None:
            return UNKNOWN_IFACE
        self.assume("the packet arrives on %s, the interface the host routes %s through" % (best[1], pkt["src_text"]))
        return best[1]

    def reverse_path(self, accept_local: bool = False, loose: bool = False) -> Optional[str]:
        """Reverse-path check (nft fib saddr . iif oif, -m rpfilter): "pass" when the host's
        best main-table route to the source leaves through the interface the packet came in on
        (loose: when there is a route at all), "fail" when it does not (or the source is the
        host's own address), None when it cannot be told (strict: no iface named; routes not
        gathered)."""
        pkt = self.pkt
        if self.iface == "lo":
            return "pass"
        if self.fw.routes is None or (not loose and (self.iface == UNKNOWN_IFACE or pkt["iface"] in (None, "auto"))):
            return None
        version, src = pkt["version"], pkt["src"]
        own = self.fw.local is not None and src in self.fw.local_set[version]
        if self.fw.local_routes is not None:
            types = self.addr_type(src)
            own = own or (not isinstance(types, str) and "local" in types)
        self.assume("reverse path from the main routing table (no policy routing rules route the source elsewhere)")
        if own:
            return "pass" if accept_local else "fail"
        best = None
        for low, high, plen, dev in self.fw.routes.get(version, ()):
            # Of equally specific routes (fe80::/64 on every interface, multipath), one through
            # the incoming interface is the one the check finds.
            if low <= src <= high and (best is None or (plen, dev == self.iface) > (best[0], best[1] == self.iface)):
                best = (plen, dev)
        if loose:
            return "pass" if best is not None else "fail"
        return "pass" if best is not None and best[1] == self.iface else "fail"

    # --- facts the match tests ask for -------------------------------------------------------
    def assume(self, note: str) -> None:
        if note not in self.assumptions:
            self.assumptions.append(note)

    def dst_text(self) -> str:
        if self.dst is None:
            return "the host's address"
        return _addr_text(self.pkt["version"], self.dst)

    def dst_candidates(self) -> Union[str, List[int]]:
        if self.fw.local is None:
            return "the packet has no dst and the host's addresses were not gathered"
        version = self.pkt["version"]
        remote = not is_loopback(version, self.pkt["src"])
        cands = [a[1] for a in self.fw.local[version] if not (remote and is_loopback(version, a[1]))]
        if not cands:
            return "the packet has no dst and the host has no IPv%d address" % version
        return cands

    def no_oif(self) -> int:
        return BREAK

    def before_conntrack(self) -> bool:
        return self.hook == "prerouting" and self.prio < -200

    def ct_state(self) -> str:
        if self.untracked:
            return "untracked"
        if self.untracked is None:
            return UNTRACKED_UNKNOWN
        if self.before_conntrack():
            return "invalid"  # before conntrack (raw table): no connection is attached yet
        return self.pkt["state"]

    def ct_status(self) -> Union[str, Set[str]]:
        if self.untracked:
            return set()
        if self.untracked is None:
            return UNTRACKED_UNKNOWN
        if self.pkt["state"] != "new":
            return "ct status of an existing connection is not known"
        return {"dnat"} if self.dnat else set()

    def ct_direction(self) -> str:
        return "original"

    def addr_type(self, value: int, limit: Optional[str] = None) -> Union[str, Set[str]]:
        """The address types of value as the kernel's addrtype / fib type give them: a set, or
        the reason it cannot be told. The fixed ranges (IPv4 0.0.0.0/8 and 255.255.255.255
        broadcast, multicast) come first, then the longest match in the local routing table
        (local, broadcast, anycast), else unicast. ``limit`` "in"/"out": only a route through
        the packet's in/out interface counts (--limit-iface-in, fib daddr . iif)."""
        version = self.pkt["version"]
        if version == 4 and ((value >> 24) == 0 or value == 0xFFFFFFFF):
            return {"broadcast"}
        if version == 4 and (value >> 28) == 0xE:
            return {"multicast"}
        if version == 6 and (value >> 120) == 0xFF:
            return {"multicast"}
        table = self.fw.local_routes
        if table is None:
            return "address type of %s: the host's local routing table was not gathered (local_routes)" % _addr_text(version, value)
        for low, high, kind, dev in table[version]:
            if low <= value <= high:
                if limit:
                    iface = self.iface if limit == "in" else (self.oif if self.hook in ("forward", "postrouting") else None)
                    if iface is None or iface == UNKNOWN_IFACE:
                        return "address type of %s on the %s-interface: the packet's %s-interface is not known" % (
                            _addr_text(version, value), limit, limit)
                    if dev is not None and dev != iface:
                        return {"unicast"}
                return {kind} if kind in ("local", "broadcast", "anycast", "multicast") else {"unicast"}
        return {"unicast"}

    def dst_types(self, limit: Optional[str] = None) -> Union[str, Set[str]]:
        if self.dst is not None:
            return self.addr_type(self.dst, limit)
        return {"local"}

    def dst_type_match(self, values: Set[str], limit: Optional[str] = None) -> Union[bool, str]:
        types = self.dst_types(limit)
        if isinstance(types, str):
            return types
        if self.pkt["version"] == 6 and types == {"unicast"} and values & {"blackhole", "unreachable", "prohibit", "throw"}:
            return "address type %s of %s depends on the main routing table" % (",".join(sorted(values)), self.dst_text())
        return bool(types & values)

    def field(self, key: str) -> Any:
        if key == "saddr":
            return self.pkt["src"]
        if key == "daddr":
            return self.dst
        if key == "dport":
            return self.dport
        if key == "sport":
            return self.pkt["sport"]
        if key == "iifname":
            return self.iface
        if key == "oifname":
            return self.oif if self.hook in ("forward", "postrouting") else None
        return self.pkt["proto"]


def _outcome(walk: Walk, verdict: str, rule: Optional[Json], reason: str) -> Outcome:
    final_dst = walk.dst_text() if walk.dst is not None else None
    return {"verdict": verdict, "rule": rule, "reason": reason, "final_dst": final_dst, "final_dport": walk.dport,
            "destinations": [] if verdict == "unknown" else [{"dst": final_dst, "dport": walk.dport}],
            "path": walk.path, "assumptions": walk.assumptions}


def _where(ref: Json) -> str:
    return "%s %s %s" % (ref["family"], ref["table"], ref["chain"])


def _step(walk: Walk, hook: str, table: Json, chain: str, index: Optional[int], action: str) -> None:
    walk.path.append({"hook": hook, "source": table["source"], "family": table["family"], "table": table["name"],
                      "chain": chain, "index": index, "action": action})


def _nat_text(verdict: Json) -> str:
    if verdict["kind"] == "redirect":
        return "redirect to port %s" % verdict.get("port") if verdict.get("port") else "redirect"
    addr, port = verdict.get("addr"), verdict.get("port")
    return "dnat to %s%s" % (addr or "", ":%s" % port if port is not None else "")


class _Fork(Exception):
    """The walk cannot go on without a choice: a rule that may or may not match (``choices``
    None), or a map lookup with several possible results (``choices``: [(label, result)]).
    ``chance``: only chance picks the branch (statistic, numgen), so branches that reach the
    same verdict through different destinations may be merged."""

    def __init__(self, reason: str, choices: Optional[List[Tuple[str, Any]]] = None, chance: bool = False) -> None:
        Exception.__init__(self, reason)
        self.reason = reason
        self.choices = choices
        self.chance = chance


def _apply_statements(walk: Walk, statements: List[Json]) -> None:
    for st in statements:
        kind = st.get("kind")
        if kind in _EFFECT_FREE:
            continue
        if kind == "notrack":
            if walk.before_conntrack():  # once conntrack has attached a connection, notrack does nothing
                walk.untracked = True
            continue
        if walk.untracked and "ct_mark" in (st.get("key"), st.get("to"), st.get("from")):
            continue  # no connection, no connection mark to set or restore
        if kind == "set":
            key = st["key"]
            old = getattr(walk, key)
            if old is None:
                continue
            mode, value, mask = st.get("mode", "set"), st["value"], st.get("mask", 0xFFFFFFFF)
            if mode == "xmark":
                new = (old & ~mask & 0xFFFFFFFF) ^ value
            elif mode == "set":
                new = (old & ~mask & 0xFFFFFFFF) | value
            elif mode == "or":
                new = old | value
            elif mode == "and":
                new = old & value
            else:
                new = old ^ value
            setattr(walk, key, new)
        elif kind == "copy":
            setattr(walk, st["to"], getattr(walk, st["from"]))
        else:
            walk.mark = None
            walk.ct_mark = None


def _uncertain_statements(walk: Walk, statements: List[Json]) -> None:
    """A rule that may or may not have matched and only changes state: that state is now unknown."""
    for st in statements:
        if st.get("kind") == "notrack":
            if walk.before_conntrack() and walk.untracked is False:
                walk.untracked = None
        elif st.get("kind") not in _EFFECT_FREE:
            if st.get("key") == "ct_mark" or st.get("to") == "ct_mark":
                walk.ct_mark = None
            else:
                walk.mark = None


def _rule_matches(walk: Walk, chain: _Chain, rule: _Rule) -> TestResult:
    if walk.force is not None:
        forced, walk.force = walk.force, None
        return forced
    unknown: Optional[TestResult] = None
    for test in chain.tests(rule):
        result = test(walk)
        if result is True:
            continue
        if result is False or result is BREAK:
            return False
        if unknown is None or (isinstance(unknown, Chance) and not isinstance(result, Chance)):
            unknown = result  # a reason that is not chance alone wins: the fork is then not merged
    return True if unknown is None else unknown


def _lookup_of(rule: _Rule) -> Union[MapLookup, str]:
    """The compiled MapLookup of a vmap or DNAT map rule (cached on the rule)."""
    if rule.vmap is None:
        verdict: Json = rule.verdict or {}
        spec: Any = verdict if verdict.get("kind") == "vmap" else verdict.get("map")
        try:
            pairs = spec.get("map") if verdict.get("kind") == "vmap" else spec.get("elements")
            if verdict.get("kind") == "vmap" and not all(isinstance(p[1], dict) and "kind" in p[1] for p in pairs or []):
                raise MapError("a verdict map value is not a verdict")
            rule.vmap = MapLookup(spec.get("keys") or [], pairs or [], spec.get("mod"), spec.get("offset"), spec.get("source"))
        except (MapError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
            rule.vmap = "the map is not in the model's shape (%s)" % exc
    return rule.vmap


def _map_result(walk: Walk, rule: _Rule) -> Tuple[Any, Optional[str]]:
    """The map lookup's result for this walk (a target or MISS), or a reason string; raises _Fork
    when several results are possible."""
    if walk.choice is not None:
        chosen, walk.choice = walk.choice[0], None
        return chosen, None
    lookup = _lookup_of(rule)
    if isinstance(lookup, str):
        return None, "map not evaluated: %s" % lookup
    results, reason, chance = lookup.resolve(walk)
    if not results:
        return None, reason
    if len(results) == 1:
        return results[0], None
    if len(results) > MAX_CHOICES:
        return None, "%s (more than %d possible results)" % (reason, MAX_CHOICES)
    where = "%s rule %s: %s" % (_where(rule.ref), rule.ref["index"], reason)
    raise _Fork(where, [("if the lookup gives %s" % _result_text(r), r) for r in results], chance)


def _result_text(result: Any) -> str:
    if result == MISS:
        return "no element"
    if isinstance(result, dict):
        kind = result.get("kind")
        return "%s %s" % (kind, result["chain"]) if kind in ("jump", "goto") else str(kind)
    if isinstance(result, list):
        return " . ".join(str(v) for v in result)
    return str(result)


def _map_dnat(verdict: Json, result: Any) -> Json:
    """The DNAT verdict a DNAT map's value gives: an address, or [address, port]."""
    if isinstance(result, list) and len(result) == 2:
        return {"kind": "dnat", "addr": result[0], "port": result[1]}
    return {"kind": "dnat", "addr": result, "port": verdict.get("port")}


def _run_entry(walk: Walk, hook: str, chain0: _Chain, raw0: Json, is_nat: bool) -> Union[str, Outcome]:
    """Run one base chain. Returns 'accept' | 'nat' | a final outcome dict; may raise _Fork."""
    table = chain0.table
    if walk.frames is None:
        walk.frames = [[chain0, chain0.candidates(walk), 0]]
    frames = walk.frames
    while True:
        if not frames:
            policy = raw0.get("policy") or "accept"
            _step(walk, hook, table, chain0.name, None, "policy %s" % policy)
            walk.frames = None
            if policy == "accept":
                return "accept"
            return _outcome(walk, "drop" if policy == "drop" else policy, None,
                            "dropped by the policy of %s %s %s" % (table["family"], table["name"], chain0.name))
        frame = frames[-1]
        chain, cands, pos = frame
        if pos >= len(cands):
            frames.pop()
            continue
        rule = cands[pos]
        frame[2] = pos + 1
        if rule.inert:
            continue
        matched = _rule_matches(walk, chain, rule)
        if matched is False:
            continue
        if matched is not True:
            if rule.verdict is None:
                _uncertain_statements(walk, rule.statements)
                continue
            frame[2] = pos  # resume at this rule in both branches
            raise _Fork("%s rule %s: %s" % (_where(rule.ref), rule.ref["index"], matched), chance=isinstance(matched, Chance))
        verdict = rule.verdict
        if verdict is not None and (verdict["kind"] == "vmap" or (verdict["kind"] == "dnat" and verdict.get("map"))):
            frame[2] = pos  # a fork resumes at this rule, as matched, with the map's result chosen
            result, problem = _map_result(walk, rule)
            frame[2] = pos + 1
            if problem:
                walk.frames = None
                return _outcome(walk, "unknown", rule.ref, "%s rule %s: %s" % (_where(rule.ref), rule.ref["index"], problem))
            if result == MISS:
                continue  # vmap: no element, the next rule; a DNAT map without an element breaks the rule
            verdict = result if verdict["kind"] == "vmap" else _map_dnat(verdict, result)
        _apply_statements(walk, rule.statements)
        if verdict is None:
            if any(st.get("kind") not in _EFFECT_FREE for st in rule.statements):
                _step(walk, hook, table, chain.name, rule.ref["index"], "set " + ", ".join(
                    st.get("key") or st.get("to") or st.get("name") or st["kind"] for st in rule.statements
                    if st.get("kind") not in _EFFECT_FREE))
            continue
        kind = verdict["kind"]
        action = kind if kind not in ("jump", "goto") else "%s %s" % (kind, verdict["chain"])
        if kind in ("dnat", "redirect"):
            action = _nat_text(verdict)
        _step(walk, hook, table, chain.name, rule.ref["index"], action)
        if kind == "accept":
            walk.frames = None
            walk.accepted_by = rule.ref
            return "accept"
        if kind in ("drop", "reject"):
            walk.frames = None
            what = "dropped" if kind == "drop" else "rejected"
            return _outcome(walk, kind, rule.ref, "%s by %s rule %s" % (what, _where(rule.ref), rule.ref["index"]))
        if kind == "return":
            frames.pop()
            continue
        if kind in ("jump", "goto"):
            target = walk.fw.chains[id(table)].get(verdict["chain"])
            if target is None:
                walk.frames = None
                return _outcome(walk, "unknown", rule.ref, "%s rule %s: chain %s does not exist" % (
                    _where(rule.ref), rule.ref["index"], verdict["chain"]))
            if kind == "goto":
                frames.pop()
            if len(frames) >= MAX_DEPTH:
                walk.frames = None
                return _outcome(walk, "unknown", rule.ref, "chain jumps nest deeper than %d" % MAX_DEPTH)
            frames.append([target, target.candidates(walk), 0])
            continue
        if kind in ("dnat", "redirect", "snat", "masquerade") and is_nat:
            walk.frames = None
            if kind in ("dnat", "redirect"):
                problem = _apply_nat(walk, verdict)
                if problem:
                    return _outcome(walk, "unknown", rule.ref, "%s rule %s: %s" % (_where(rule.ref), rule.ref["index"], problem))
            return "nat"
        walk.frames = None
        reason = verdict.get("reason") or "%s is not evaluated here" % kind
        return _outcome(walk, "unknown", rule.ref, "%s rule %s: %s" % (_where(rule.ref), rule.ref["index"], reason))


def _apply_nat(walk: Walk, verdict: Json) -> Optional[str]:
    port = verdict.get("port")
    if port is not None and not isinstance(port, int):
        if str(port).isdigit():
            port = int(port)
        else:
            return "NAT to the port range %s: the chosen port is not known" % port
    if verdict["kind"] == "redirect":
        found = _redirect_address(walk)
        addr: Optional[int] = None
        if isinstance(found, str):
            if port is None or port == walk.pkt["dport"] or _NO_USABLE in found:
                return found
            # Another port: NAT is recorded whichever of the interface's addresses it goes to.
        else:
            addr = found
        if addr == walk.dst and port in (None, walk.pkt["dport"]):
            # The destination stays as it was: nf_nat_setup_info records no NAT on the
            # connection (no "ct status dnat").
            return None
        if walk.dst is None and port in (None, walk.pkt["dport"]):
            return "REDIRECT to the port the packet has: whether it changes the destination depends on %s" % (
                "which of the host's addresses the packet is sent to")
        walk.dst = addr
    elif verdict.get("addr"):
        if "-" in str(verdict["addr"]):
            return "DNAT to the address range %s: the chosen address is not known" % verdict["addr"]
        try:
            version, value = parse_ip(verdict["addr"], "DNAT address")
        except PacketError as exc:
            return str(exc)
        if version != walk.pkt["version"]:
            return "DNAT to %s does not apply to IPv%d" % (verdict["addr"], walk.pkt["version"])
        walk.dst = value
    if port is not None and walk.pkt["dport"] is not None:
        walk.dport = port
    walk.dnat = True
    return None


_NO_USABLE = "it has no usable"


def _redirect_address(walk: Walk) -> Union[int, str]:
    """The address REDIRECT sends to (nf_nat_redirect.c), or why it is not known. Locally
    generated packets (lo): 127.0.0.1 / ::1. IPv4: the first address of the incoming
    interface (a primary one: secondaries follow the primaries); IPv6: the interface's first
    address that is not tentative (optimistic ones count) nor IPv4-mapped; kernels since 6.6
    take only one of the destination's scope when that is link- or site-local, so where the
    two rules differ the address is not known."""
    version = walk.pkt["version"]
    if walk.iface == "lo":
        return 0x7F000001 if version == 4 else 1
    if walk.iface == UNKNOWN_IFACE:
        return "REDIRECT goes to the first address of the incoming interface: the packet has no iface"
    if walk.fw.local is None:
        return "REDIRECT goes to the first address of %s: the host's addresses were not gathered" % walk.iface
    addrs = walk.fw.iface_addrs[version].get(walk.iface) or []
    if any(flags is None for dummy, flags in addrs):
        return ("REDIRECT goes to the first address of %s: local_addresses do not say which addresses are secondary "
                "or tentative" % walk.iface)
    if version == 4:
        usable = [value for value, flags in addrs if flags is not None and not flags[0]]
    else:
        usable = [value for value, flags in addrs if flags is not None and not flags[1] and value >> 32 != 0xFFFF]
        scope = _ipv6_scope(walk.dst) if walk.dst is not None else None
        if scope:
            scoped = [value for value in usable if _ipv6_scope(value) == scope]
            if scoped[:1] != usable[:1]:
                return ("REDIRECT of a packet to the %s address %s: which address of %s it goes to depends on the "
                        "kernel version" % (scope, walk.dst_text(), walk.iface))
    if not usable:
        return "REDIRECT goes to the first address of %s: %s IPv%d address in the host's facts" % (
            walk.iface, _NO_USABLE, version)
    return usable[0]


def _ipv6_scope(value: int) -> Optional[str]:
    """The scope ipv6_addr_scope() filters REDIRECT's address by: None for global addresses."""
    if value == 1:
        return "loopback"
    if value >> 118 == 0x3FA:  # fe80::/10
        return "link-local"
    if value >> 118 == 0x3FB:  # fec0::/10
        return "site-local"
    return None


_STAGES = ("ingress", "prerouting", "route", "input", "forward", "postrouting", "done")


def _route(walk: Walk) -> Union[str, Outcome]:
    """After prerouting: local delivery (input) or forwarding. Returns next stage or an outcome."""
    version = walk.pkt["version"]
    fam = "ipv%d" % version
    if walk.dst is None:
        walk.path.append({"hook": "routing", "action": "local delivery (the packet is addressed to the host)"})
        return "input"
    if is_loopback(version, walk.dst):
        if walk.iface != "lo":
            walk.assume("route_localnet is off")
            return _outcome(walk, "drop", None, "routing: a packet from outside to loopback address %s is dropped as "
                            "martian" % walk.dst_text())
        walk.path.append({"hook": "routing", "action": "local delivery to %s" % walk.dst_text()})
        return "input"
    if walk.fw.local is None:
        return _outcome(walk, "unknown", None, "routing: whether %s is one of the host's addresses is not known "
                        "(local_addresses were not gathered)" % walk.dst_text())
    local = walk.dst in walk.fw.local_set[version]
    if not local and walk.fw.local_routes is not None:
        # The local routing table also delivers its broadcast and anycast addresses, and whole
        # prefixes routed "local" (AnyIP).
        types = walk.addr_type(walk.dst)  # a set: the local routing table was gathered
        local = not isinstance(types, str) and bool(types & {"local", "broadcast", "anycast"})
    if local:
        walk.path.append({"hook": "routing", "action": "local delivery to %s" % walk.dst_text()})
        return "input"
    forwarding = walk.fw.forwarding.get(fam)
    if forwarding is None:
        return _outcome(walk, "unknown", None, "routing: %s is not a local address and whether the host forwards %s "
                        "is not known" % (walk.dst_text(), fam))
    if not forwarding:
        return _outcome(walk, "drop", None, "routing: %s is not a local address and %s forwarding is off" % (
            walk.dst_text(), fam))
    best = None
    for iface, dummy, low, high, plen in walk.fw.local[version]:
        if low <= walk.dst <= high and (best is None or plen > best[1]):
            best = (iface, plen)
    walk.oif = best[0] if best else None
    walk.forwarded = True
    walk.path.append({"hook": "routing", "action": "forward to %s%s" % (walk.dst_text(), " via %s" % walk.oif if walk.oif else "")})
    return "forward"


def _hook_pass(walk: Walk, hook: str) -> Optional[Outcome]:
    """Run every base chain of hook from walk.entry on. Returns None (passed) or an outcome."""
    entries = walk.fw.entries(walk.pkt["version"], hook)
    walk.hook = hook
    while walk.entry < len(entries):
        dummy, chain, raw, is_nat = entries[walk.entry]
        if walk.frames is None:
            if is_nat and (hook in walk.nat_bound or walk.pkt["state"] != "new" or walk.untracked):
                walk.entry += 1  # nat sees only the first packet of a tracked connection
                continue
            if is_nat and walk.untracked is None:
                return _outcome(walk, "unknown", None, "%s: whether the nat chains see the packet is not known" % UNTRACKED_UNKNOWN)
            device = raw.get("device")
            if device:
                if walk.force is not None:
                    inside, walk.force = walk.force, None
                elif device == "unknown" or walk.iface == UNKNOWN_IFACE:
                    raise _Fork("%s %s %s: ingress chain of device %s, and the packet has no iface" % (
                        chain.table["family"], chain.table["name"], chain.name,
                        "(not known)" if device == "unknown" else ", ".join(device)))
                else:
                    inside = walk.iface in device
                if not inside:
                    walk.entry += 1
                    continue
        walk.prio = raw.get("priority") or 0
        result = _run_entry(walk, hook, chain, raw, is_nat)
        if isinstance(result, dict):
            return result
        if result == "nat":
            walk.nat_bound.add(hook)
        walk.entry += 1
    walk.entry = 0
    return None


def _drive(walk: Walk) -> Outcome:
    while True:
        stage = _STAGES[walk.stage]
        if stage == "done":
            if walk.forwarded:
                where = "forwarded to %s%s" % (walk.dst_text(), " via %s" % walk.oif if walk.oif else "")
            else:
                where = "delivered locally"
            ref = walk.accepted_by
            reason = "accepted by %s rule %s, %s" % (_where(ref), ref["index"], where) if ref else \
                "accepted (no rule stops it; the base chains' policies accept), %s" % where
            return _outcome(walk, "accept", ref, reason)
        if stage == "route":
            result = _route(walk)
            if isinstance(result, dict):
                return result
            walk.stage = _STAGES.index(result)
            continue
        outcome = _hook_pass(walk, stage)
        if outcome is not None:
            return outcome
        if stage == "input" or stage == "postrouting":
            walk.stage = _STAGES.index("done")
        else:
            walk.stage += 1


def _dest_key(out: Outcome) -> List[Tuple[str, int]]:
    return sorted((d["dst"] or "", d["dport"] or 0) for d in out["destinations"])


def _same(a: Outcome, b: Outcome) -> bool:
    return (a["verdict"], a["final_dst"], a["final_dport"], _dest_key(a)) == \
        (b["verdict"], b["final_dst"], b["final_dport"], _dest_key(b))


def _summary(out: Outcome) -> str:
    if out["verdict"] == "unknown":
        return "unknown (%s)" % out["reason"]
    rule = out["rule"]
    where = "%s rule %s" % (_where(rule), rule["index"]) if rule else "no rule (policy or routing)"
    to = ""
    if out["verdict"] == "accept":
        to = " to %s" % ", ".join("%s port %s" % (d["dst"] or "the host", d["dport"]) for d in out["destinations"])
    return "%s by %s%s" % (out["verdict"], where, to)


def _branches(walk: Walk, fork: _Fork) -> List[Tuple[str, Walk]]:
    """[(label, walk)] of a fork: the rule matches or not; or each result of a map lookup."""
    if fork.choices is None:
        yes = walk.clone()
        yes.force = True
        walk.force = False
        return [("if it matches", yes), ("if not", walk)]
    out: List[Tuple[str, Walk]] = []
    for label, result in fork.choices:
        branch = walk.clone()
        branch.force = True  # the rule matched; resume at it with the lookup's result chosen
        branch.choice = (result,)
        out.append((label, branch))
    return out


def _merge(walk: Walk, fork: _Fork, outs: List[Tuple[str, Outcome]], fork_path: List[Json]) -> Outcome:
    """One outcome for the branches of a fork."""
    results = [out for dummy, out in outs]
    last = results[-1]
    assumptions: List[str] = []
    for out in results:
        assumptions.extend(a for a in out["assumptions"] if a not in assumptions)
    decided = all(out["verdict"] != "unknown" for out in results)
    if decided and all(_same(out, last) for out in results):
        merged = dict(last)
        merged["assumptions"] = assumptions
        others = [(label, out) for label, out in outs[:-1] if out["rule"] != last["rule"]]
        if others:
            merged["reason"] = "%s (undecided: %s; %s)" % (last["reason"], fork.reason, "; ".join(
                "%s: %s" % ("had it matched" if label == "if it matches" else label, _summary(out)) for label, out in others))
        return merged
    if decided and fork.chance and len(set(out["verdict"] for out in results)) == 1:
        # Load balancing: chance picks the branch, and every branch reaches the same verdict.
        merged = dict(results[0])
        destinations: List[Json] = []
        for out in results:
            destinations.extend(d for d in out["destinations"] if d not in destinations)
        merged.update(destinations=destinations, assumptions=assumptions)
        if len(destinations) > 1:
            merged["final_dst"] = merged["final_dport"] = None
        if any(out["rule"] != merged["rule"] for out in results):
            merged["rule"] = None
        merged["reason"] = "%s in every branch (%s); destinations: %s" % (
            {"accept": "accepted", "drop": "dropped", "reject": "rejected"}.get(merged["verdict"], merged["verdict"]),
            fork.reason, ", ".join("%s port %s" % (d["dst"] or "the host", d["dport"]) for d in destinations))
        return merged
    if all(out["verdict"] == "unknown" for out in results) and all(out["reason"] == last["reason"] for out in results):
        return last
    reason = "%s; %s" % (fork.reason, "; ".join("%s: %s" % (label, _summary(out)) for label, out in outs))
    result = _outcome(walk, "unknown", None, reason)
    result["path"] = fork_path + [{"hook": walk.hook, "action": "undecided: %s" % fork.reason}]
    result["final_dst"] = None
    result["final_dport"] = None
    return result


def _run(walk: Walk, budget: List[int]) -> Outcome:
    try:
        return _drive(walk)
    except _Fork as fork:
        budget[0] -= 1
        if budget[0] < 0:
            return _outcome(walk, "unknown", None, "%s (and too many other undecided matches to explore)" % fork.reason)
        fork_path = list(walk.path)
        outs = [(label, _run(branch, budget)) for label, branch in _branches(walk, fork)]
        return _merge(walk, fork, outs, fork_path)


def evaluate(compiled: Compiled, packet: Json) -> Outcome:
    """Verdict dict for one packet over a Compiled firewall (raises PacketError for bad input)."""
    pkt = normalize_packet(packet)
    walk = Walk(compiled, pkt)
    if compiled.incomplete:
        return _outcome(walk, "unknown", None, "the firewall facts are incomplete: %s" % "; ".join(compiled.incomplete))
    out = _run(walk, [MAX_FORKS])
    out = dict(out)
    out["rule"] = dict(out["rule"]) if out["rule"] else None
    return out


def firewall_verdict(firewall: Union[Json, Compiled], packet: Union[Json, List[Json]]) -> Union[Outcome, List[Outcome]]:
    """Verdict for one packet dict, or a list of verdicts for a list of packets (compiled once)."""
    compiled = firewall if isinstance(firewall, Compiled) else Compiled(firewall)
    if isinstance(packet, list):
        return [evaluate(compiled, p) for p in packet]
    return evaluate(compiled, packet)
