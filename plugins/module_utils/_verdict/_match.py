# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Packets and matches for the firewall verdict (docs/firewall-model.md).

``normalize_packet`` checks the user's packet. ``compile_match`` turns one model match into a
test ``f(walk) -> True | False | str`` where a string is the reason the match cannot be decided.
``walk`` is the evaluator's per-path state (see _evaluate.py): ``walk.pkt`` the packet,
``walk.dst``/``walk.dport`` the destination after NAT, ``walk.mark`` ... Some matches are
decided under stated assumptions (rate limits not reached, reverse path valid, no IPsec); they
record the assumption on the walk.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Set, Tuple, Union

from ansible_collections.portproof.validate.plugins.module_utils._intervals import Intervals, address_interval, one_address, port_intervals
from ansible_collections.portproof.validate.plugins.module_utils._intervals import port_interval  # noqa: F401 pylint: disable=unused-import

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.portproof.validate.plugins.module_utils._verdict._compile import Compiled
    from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import Walk

Json = Dict[str, Any]
TestResult = Union[bool, int, str]  # True, False, BREAK (0), or why the match is undecided (a Chance when only chance decides)
Test = Callable[["Walk"], TestResult]
Builder = Callable[[Json, "Compiled"], Test]

PROTOS = ("tcp", "udp", "icmp", "ipv6-icmp", "sctp", "udplite", "dccp")
PORT_PROTOS = ("tcp", "udp", "sctp", "udplite", "dccp")
STATES = ("new", "established", "related", "invalid", "untracked")
PACKET_KEYS = ("src", "dst", "proto", "dport", "sport", "iface", "state")
_PROTO_ALIASES = {"icmpv6": "ipv6-icmp", "ipv6-icmp": "ipv6-icmp", "6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp"}
_LOOPBACK = {4: (0x7F000000, 0x7FFFFFFF), 6: (1, 1)}
_ICMP_ECHO = {"echo-request": 8, "echoreq": 8, "ping": 8}
_ICMPV6_ECHO = {"echo-request": 128, "echoreq": 128, "ping": 128}
UNKNOWN_IFACE = "\0other"  # the packet came in on some interface that is not loopback
BREAK = 0  # a test result that fails the rule whatever its operator (nft NFT_BREAK)
UNTRACKED_UNKNOWN = "an earlier undecided rule may have made the packet untracked (notrack)"


class Chance(str):
    """An undecided test result that only chance decides (statistic, numgen): when every branch
    of its fork reaches the same verdict, that verdict stands with every destination listed."""


class PacketError(ValueError):
    """The packet given to firewall_verdict is not valid; the message names the key."""


def parse_ip(value: Any, what: str) -> Tuple[int, int]:
    text = str(value).strip()
    if "/" not in text:
        one = one_address(text)
        if one is not None:
            return one
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise PacketError("%s: %r is not an IP address" % (what, value))
    return addr.version, int(addr)


def normalize_packet(packet: Any) -> Json:
    """Checked copy of the user's packet: {family, version, src, dst, proto, dport, sport, iface, state}."""
    if not isinstance(packet, dict):
        raise PacketError("packet must be a dict with src, dport (and optionally dst, proto, sport, iface, state), got %s"
                          % type(packet).__name__)
    extra = sorted(set(packet) - set(PACKET_KEYS))
    if extra:
        raise PacketError("packet has unknown keys %s (allowed: %s)" % (", ".join(map(str, extra)), ", ".join(PACKET_KEYS)))
    if packet.get("src") in (None, ""):
        raise PacketError("packet is missing 'src' (the source address)")
    version, src = parse_ip(packet["src"], "packet src")
    dst: Optional[int] = None
    if packet.get("dst") not in (None, ""):
        dst_version, dst = parse_ip(packet["dst"], "packet dst")
        if dst_version != version:
            raise PacketError("packet src %s and dst %s are not the same IP version" % (packet["src"], packet["dst"]))
    proto = str(packet.get("proto") or "tcp").lower()
    proto = _PROTO_ALIASES.get(proto, proto)
    if proto not in PROTOS:
        raise PacketError("packet proto %r is not one of %s" % (packet.get("proto"), ", ".join(PROTOS)))
    if proto == "icmp" and version == 6:
        proto = "ipv6-icmp"
    ports: Dict[str, Optional[int]] = {}
    for key in ("dport", "sport"):
        value = packet.get(key)
        if value in (None, ""):
            if key == "dport" and proto in PORT_PROTOS:
                raise PacketError("packet is missing 'dport' (needed for proto %s)" % proto)
            ports[key] = None
            continue
        try:
            port = int(value)
        except (TypeError, ValueError):
            raise PacketError("packet %s %r is not a port number" % (key, value))
        if not 0 < port < 65536 or isinstance(value, bool):
            raise PacketError("packet %s %r is not a port number between 1 and 65535" % (key, value))
        ports[key] = port if proto in PORT_PROTOS else None
    state = str(packet.get("state") or "new").lower()
    if state not in STATES:
        raise PacketError("packet state %r is not one of %s" % (packet.get("state"), ", ".join(STATES)))
    iface = packet.get("iface")
    if iface is not None and (not isinstance(iface, str) or not iface):
        raise PacketError("packet iface must be an interface name, got %r" % (iface,))
    return {"family": "ipv%d" % version, "version": version, "src": src, "src_text": str(ipaddress.ip_address(src)),
            "dst": dst, "proto": proto, "dport": ports["dport"], "sport": ports["sport"], "iface": iface, "state": state}


def is_loopback(version: int, value: int) -> bool:
    low, high = _LOOPBACK[version]
    return low <= value <= high


def addr_sets(values: Iterable[Any]) -> Dict[int, Intervals]:
    """{4: Intervals, 6: Intervals} for address values."""
    pairs: Dict[int, List[Tuple[int, int]]] = {4: [], 6: []}
    for value in values:
        version, low, high = address_interval(value)
        pairs[version].append((low, high))
    return {4: Intervals(pairs[4]), 6: Intervals(pairs[6])}


class Names(object):
    """Interface names with nft (``eth*``) / iptables (``eth+``, normalized to ``*``) wildcards."""

    __slots__ = ("exact", "prefixes")

    def __init__(self, values: Iterable[Any]) -> None:
        self.exact: Set[str] = set()
        self.prefixes: List[str] = []
        for value in values:
            text = str(value)
            if text.endswith("*") and not text.endswith("\\*"):
                self.prefixes.append(text[:-1])
            else:
                self.exact.add(text.replace("\\*", "*"))

    def __contains__(self, name: Optional[str]) -> bool:
        return name is not None and (name in self.exact or any(name.startswith(p) for p in self.prefixes))

    def only_loopback(self) -> bool:
        return self.exact <= {"lo"} and not self.prefixes


def _negate(result: TestResult, op: str) -> TestResult:
    if op == "ne" and result is True:
        return False
    if op == "ne" and result is False:
        return True
    return result


def _over_candidates(cands: List[int], test: Callable[[int], TestResult], what: str) -> TestResult:
    """Evaluate test over the candidate destination addresses; decided only if all agree."""
    results = set(test(c) for c in cands)
    if len(results) == 1:
        return results.pop()
    return "%s: the packet has no dst and the rule matches only some of the host's addresses" % what


def compile_match(match: Json, ctx: Compiled) -> Test:
    """Test function for one model match. ``ctx`` is the compile context (see _compile.Compiled)."""
    key = match["key"]
    op = match.get("op", "eq")
    builder = _BUILDERS.get(key)
    if builder is None:
        reason = match.get("reason") or "match %s is not evaluated" % key
        text = match.get("text")
        msg = "%s (%s)" % (reason, text) if text and text not in reason else reason
        return lambda walk: msg
    try:
        test = builder(match, ctx)
    except (TypeError, ValueError) as exc:
        shape = "match %s %r is not in the model's shape (%s)" % (key, match.get("values"), exc)
        return lambda walk: shape
    if op == "ne":
        return lambda walk: _negate(test(walk), "ne")
    return test


def _addr(side: str) -> Builder:
    def build(match: Json, ctx: Compiled) -> Test:
        sets = addr_sets(match["values"])

        def test(walk: Walk) -> TestResult:
            version = walk.pkt["version"]
            members = sets[version]
            if side == "s":
                return walk.pkt["src"] in members
            if walk.dst is not None:
                return walk.dst in members
            cands = walk.dst_candidates()
            if isinstance(cands, str):
                return cands
            return _over_candidates(cands, lambda c: c in members, "destination address match")
        return test
    return build


def _original_daddr(match: Json, ctx: Compiled) -> Test:
    sets = addr_sets(match["values"])

    def test(walk: Walk) -> TestResult:
        members = sets[walk.pkt["version"]]
        if walk.pkt["dst"] is not None:
            return walk.pkt["dst"] in members
        cands = walk.dst_candidates()
        if isinstance(cands, str):
            return cands
        return _over_candidates(cands, lambda c: c in members, "original destination match")
    return test


def _iface(direction: str) -> Builder:
    def build(match: Json, ctx: Compiled) -> Test:
        names = Names(match["values"])

        def test(walk: Walk) -> TestResult:
            if direction == "out":
                if walk.hook in ("prerouting", "input", "ingress"):
                    return walk.no_oif()
                if walk.oif is None:
                    return "out-interface match: the route to %s is not known (no local network contains it)" % walk.dst_text()
                return walk.oif in names
            iface = walk.iface
            if iface == UNKNOWN_IFACE:
                if names.only_loopback():
                    return False
                return "in-interface match (%s): the packet has no iface" % ", ".join(sorted(map(str, match["values"])))
            return iface in names
        return test
    return build


def _simple(attr: str) -> Builder:
    def build(match: Json, ctx: Compiled) -> Test:
        values = set(str(v).lower() for v in match["values"])
        return lambda walk: getattr(walk, attr)() in values
    return build


def _l4proto(match: Json, ctx: Compiled) -> Test:
    values = set(_PROTO_ALIASES.get(str(v).lower(), str(v).lower()) for v in match["values"])
    return lambda walk: walk.pkt["proto"] in values


def _ports(attr: str) -> Builder:
    def build(match: Json, ctx: Compiled) -> Test:
        ports = port_intervals(match["values"])

        def test(walk: Walk) -> TestResult:
            port = getattr(walk, attr)
            if port is None:
                if attr == "sport" and walk.pkt["proto"] in PORT_PROTOS:
                    return "source port match: the packet has no sport"
                return False
            return port in ports
        return test
    return build


def _either_port(match: Json, ctx: Compiled) -> Test:
    ports = port_intervals(match["values"])

    def test(walk: Walk) -> TestResult:
        if walk.dport is not None and walk.dport in ports:
            return True
        if walk.pkt["sport"] is None:
            return "multiport --ports match: the packet has no sport"
        return walk.pkt["sport"] in ports
    return test


def _ct_state(match: Json, ctx: Compiled) -> Test:
    values = set(str(v).lower() for v in match["values"])

    def test(walk: Walk) -> TestResult:
        state = walk.ct_state()
        if state not in STATES:
            return state  # why the state is not known
        return state in values
    return test


def _ct_status(match: Json, ctx: Compiled) -> Test:
    values = set(str(v).lower() for v in match["values"])

    def test(walk: Walk) -> TestResult:
        status = walk.ct_status()
        if isinstance(status, str):
            return status
        return bool(status & values)
    return test


def _mark(attr: str) -> Builder:
    def build(match: Json, ctx: Compiled) -> Test:
        mask = match.get("mask", 0xFFFFFFFF)
        values = set(int(v) for v in match["values"])

        def test(walk: Walk) -> TestResult:
            if attr == "ct_mark" and walk.untracked is not False:
                # an untracked packet has no connection, so no connection mark to match
                return False if walk.untracked else "ct mark match: %s" % UNTRACKED_UNKNOWN
            value = getattr(walk, attr)
            if value is None:
                return "%s match: an earlier undecided rule may have changed the %s" % (attr, attr.replace("_", " "))
            return (value & mask) in values
        return test
    return build


def _addr_type(side: str) -> Builder:
    def build(match: Json, ctx: Compiled) -> Test:
        values = set(str(v).lower() for v in match["values"])
        limit = match.get("iface")

        def test(walk: Walk) -> TestResult:
            if side == "s":
                types = walk.addr_type(walk.pkt["src"], limit)
                return types if isinstance(types, str) else bool(types & values)
            return walk.dst_type_match(values, limit)
        return test
    return build


def _tcp_flags(match: Json, ctx: Compiled) -> Test:
    mask = set(str(f).lower() for f in match.get("mask", []))
    comps = [set(str(f).lower() for f in comp) for comp in match["values"]]

    def test(walk: Walk) -> TestResult:
        if walk.pkt["proto"] != "tcp":
            return False
        if walk.pkt["state"] != "new":
            return "TCP flags match: only the first packet (SYN) of a new connection is evaluated"
        flags = {"syn"} & mask
        return any(flags == (comp & mask) for comp in comps)
    return test


def _icmp(version: int) -> Builder:
    echo = _ICMP_ECHO if version == 4 else _ICMPV6_ECHO

    def build(match: Json, ctx: Compiled) -> Test:
        values = set()
        for value in match["values"]:
            text = str(value).lower()
            values.add(echo.get(text, int(text) if text.isdigit() else text))

        def test(walk: Walk) -> bool:
            if walk.pkt["proto"] not in ("icmp", "ipv6-icmp"):
                return False
            return echo["echo-request"] in values
        return test
    return build


# ICMP codes named as nft prints them; an echo request (the ICMP packet the walk models) has code 0.
_ICMP_CODE_ZERO = ("0", "no-route", "net-unreachable")


def icmp_value(key: str, value: Any) -> Union[int, str]:
    """An ICMP type or code of a rule, normalized: the echo request type as 8 / 128, code 0 as 0."""
    text = str(value).lower()
    if key.endswith("_code"):
        return 0 if text in _ICMP_CODE_ZERO else text
    echo = _ICMP_ECHO if key == "icmp_type" else _ICMPV6_ECHO
    return echo.get(text, int(text) if text.isdigit() else text)


def _icmp_code(match: Json, ctx: Compiled) -> Test:
    values = set(icmp_value(match["key"], v) for v in match["values"])
    return lambda walk: walk.pkt["proto"] in ("icmp", "ipv6-icmp") and 0 in values


def _concat(match: Json, ctx: Compiled) -> Test:
    keys = match["keys"]
    builders: List[Tuple[str, List[Any]]] = []
    for pos, key in enumerate(keys):
        if key in ("saddr", "daddr"):
            builders.append((key, [addr_sets([e[pos]]) for e in match["values"]]))
        elif key in ("dport", "sport"):
            builders.append((key, [port_intervals([e[pos]]) for e in match["values"]]))
        elif key in ("iifname", "oifname"):
            builders.append((key, [Names([e[pos]]) for e in match["values"]]))
        elif key == "l4proto":
            builders.append((key, [set([_PROTO_ALIASES.get(str(e[pos]), str(e[pos]))]) for e in match["values"]]))
        elif key in ("icmp_type", "icmpv6_type", "icmp_code", "icmpv6_code"):
            builders.append((key, [set([icmp_value(key, e[pos])]) for e in match["values"]]))
        else:
            return lambda walk: "concatenation with %s is not evaluated" % key
    count = len(match["values"])

    def test(walk: Walk) -> TestResult:
        fields: List[Any] = []
        for key, dummy in builders:
            value = walk.field(key)
            if key.startswith("icmp"):
                value = _icmp_field(walk, key)
            elif isinstance(value, str) and key not in ("iifname", "oifname", "l4proto"):
                return value
            if key == "iifname" and value == UNKNOWN_IFACE:
                return "concatenation with iifname: the packet has no iface"
            if key == "daddr" and value is None:
                return "concatenation with daddr: the packet has no dst"
            if value is None:
                return False if key != "sport" else "concatenation with sport: the packet has no sport"
            fields.append(value)
        version = walk.pkt["version"]
        for i in range(count):
            ok = True
            for (key, per_elem), value in zip(builders, fields):
                member = per_elem[i]
                if key in ("saddr", "daddr"):
                    member = member[version]
                if value not in member:
                    ok = False
                    break
            if ok:
                return True
        return False
    return test


def _random(match: Json, ctx: Compiled) -> Test:
    share = float(match.get("share", 0.5))
    what = "statistic mode %s: matches %s of the packets by chance" % (match.get("mode", "random"), "%g" % share)

    def test(walk: Walk) -> TestResult:
        if share >= 1:
            return True
        if share <= 0:
            return False
        return Chance(what)
    return test


def _icmp_field(walk: Walk, key: str) -> Optional[int]:
    """The echo request's ICMP type (8, 128) or code (0) for a concatenation; None if not ICMP."""
    proto = walk.pkt["proto"]
    if proto != ("icmp" if key.startswith("icmp_") else "ipv6-icmp"):
        return None
    if key.endswith("_code"):
        return 0
    return _ICMP_ECHO["echo-request"] if key == "icmp_type" else _ICMPV6_ECHO["echo-request"]


def _limit(match: Json, ctx: Compiled) -> Test:
    over = match.get("op") == "over"

    def test(walk: Walk) -> bool:
        walk.assume("rate limits are not reached (the source is not flooding)")
        return not over
    return test


def _recent(match: Json, ctx: Compiled) -> Test:
    mode, name, hitcount, neg = match.get("mode"), match.get("name"), match.get("hitcount"), match.get("neg")

    def test(walk: Walk) -> TestResult:
        walk.assume("the source sent no earlier packets (recent/limit lists are empty)")
        if mode == "set":
            walk.recent.add(name)
            result = True
        elif mode == "remove":
            result = name in walk.recent
            walk.recent.discard(name)
        else:
            result = name in walk.recent and (hitcount or 1) <= 1
        return not result if neg else result
    return test


def _connlimit(match: Json, ctx: Compiled) -> Test:
    above = match.get("op") == "above"

    def test(walk: Walk) -> bool:
        walk.assume("connection limits are not reached")
        return not above
    return test


def _rpfilter(match: Json, ctx: Compiled) -> Test:
    values = set(match["values"])
    loose, accept_local = match.get("loose"), match.get("accept_local")

    def test(walk: Walk) -> bool:
        result = walk.reverse_path(bool(accept_local), bool(loose))
        if result is None:
            walk.assume("reverse-path filter passes (the packet arrives on the interface its source is routed through)")
            return "pass" in values
        return result in values
    return test


def _ipsec(match: Json, ctx: Compiled) -> Test:
    values = set(match["values"])

    def test(walk: Walk) -> bool:
        walk.assume("the packet is not IPsec-protected")
        return "none" in values
    return test


def _exthdr(match: Json, ctx: Compiled) -> Test:
    def test(walk: Walk) -> TestResult:
        walk.assume("the packet carries no IPv6 extension headers")
        return BREAK
    return test


def _nfproto(match: Json, ctx: Compiled) -> Test:
    values = set(str(v).lower() for v in match["values"])
    return lambda walk: walk.pkt["family"] in values


def _ethertype(match: Json, ctx: Compiled) -> Test:
    values = set(str(v).lower() for v in match["values"])
    return lambda walk: ("ip" if walk.pkt["version"] == 4 else "ip6") in values


def _pkttype(match: Json, ctx: Compiled) -> Test:
    values = set(str(v).lower() for v in match["values"])

    def test(walk: Walk) -> TestResult:
        types = walk.dst_types()
        if isinstance(types, str):
            return types
        if "broadcast" in types:
            kind = {"broadcast"}
        elif "multicast" in types:
            kind = {"multicast"}
        else:
            kind = {"host", "unicast"}
        return bool(kind & values)
    return test


_BUILDERS = {
    "saddr": _addr("s"), "daddr": _addr("d"),
    "iifname": _iface("in"), "oifname": _iface("out"),
    "l4proto": _l4proto, "nfproto": _nfproto, "ethertype": _ethertype,
    "dport": _ports("dport"), "sport": _ports("sport"), "port": _either_port,
    "ct_state": _ct_state, "ct_status": _ct_status,
    "ct_direction": _simple("ct_direction"),
    "ct_original_daddr": _original_daddr, "ct_original_dport": _ports("orig_dport"),
    "mark": _mark("mark"), "ct_mark": _mark("ct_mark"),
    "daddr_type": _addr_type("d"), "saddr_type": _addr_type("s"),
    "tcp_flags": _tcp_flags, "icmp_type": _icmp(4), "icmpv6_type": _icmp(6),
    "icmp_code": _icmp_code, "icmpv6_code": _icmp_code,
    "fragment": lambda m, c: (lambda walk: False),
    "pkttype": _pkttype,
    "limit": _limit, "recent": _recent, "connlimit": _connlimit,
    "rpfilter": _rpfilter, "ipsec": _ipsec, "ipv6_exthdr": _exthdr,
    "concat": _concat, "random": _random,
}
