# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The rules of an nft script (one statement of a chain, as words) -> the ``expr`` list that
``nft -j list ruleset`` prints for them: matches (single selectors, concatenations ``a . b``, flag
masks ``tcp flags a / b`` and ``& (a|b) == c``), verdict maps, limit, counter, log, comment, verdicts
and, in nat chains, NAT statements (the subset of _nft_script.py); set and map elements as nft
lists them (a one-element anonymous set is its element, flag lists in bit order). Anything else
raises NftScriptError naming file and line."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._firewall._nft_words import NftScriptError, Token, shown

Json = Dict[str, Any]
VERDICTS = ("accept", "drop", "return", "continue")
_INTERFACE_KEYS = ("iif", "iifname", "oif", "oifname")
_META_KEYS = _INTERFACE_KEYS + ("l4proto", "nfproto", "pkttype")
_MULTI_FAMILY = ("inet", "netdev", "bridge")  # tables that see both IPv4 and IPv6
# names nft lists protocol numbers and ICMP types by (others stay numbers)
_PROTOCOLS = {"icmpv6": "ipv6-icmp", "1": "icmp", "2": "igmp", "6": "tcp", "17": "udp", "33": "dccp", "47": "gre", "50": "esp",
              "51": "ah", "58": "ipv6-icmp", "132": "sctp", "136": "udplite"}
_ICMP_TYPES = {
    "icmp": {0: "echo-reply", 3: "destination-unreachable", 4: "source-quench", 5: "redirect", 8: "echo-request",
             9: "router-advertisement", 10: "router-solicitation", 11: "time-exceeded", 12: "parameter-problem",
             13: "timestamp-request", 14: "timestamp-reply", 15: "info-request", 16: "info-reply",
             17: "address-mask-request", 18: "address-mask-reply"},
    "icmpv6": {1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded", 4: "parameter-problem",
               128: "echo-request", 129: "echo-reply", 130: "mld-listener-query", 131: "mld-listener-report",
               132: "mld-listener-done", 133: "nd-router-solicit", 134: "nd-router-advert", 135: "nd-neighbor-solicit",
               136: "nd-neighbor-advert", 137: "nd-redirect", 138: "router-renumbering", 141: "ind-neighbor-solicit",
               142: "ind-neighbor-advert", 143: "mld2-listener-report"},
}
# a payload match implies these earlier matches, which nft leaves out of its listing (dependency removal)
_IMPLIED = {"tcp": [("l4proto", "tcp")], "udp": [("l4proto", "udp")],
            "icmp": [("l4proto", "icmp"), ("nfproto", "ipv4")], "icmpv6": [("l4proto", "ipv6-icmp"), ("nfproto", "ipv6")],
            "ip": [("nfproto", "ipv4")], "ip6": [("nfproto", "ipv6")]}


_FLAGS = {  # flag types: names in bit order (nft lists a comma list of them in that order)
    "tcp_flags": ("fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr"),
    "ct_state": ("invalid", "established", "related", "new", "untracked"),
    "ct_status": ("expected", "seen-reply", "assured", "confirmed", "snat", "dnat", "dying"),
}
_WORDS = {"fib_type": ("unspec", "unicast", "local", "broadcast", "anycast", "multicast", "blackhole", "unreachable", "prohibit"),
          "pkttype": ("host", "unicast", "broadcast", "multicast", "other"), "nfproto": ("ipv4", "ipv6"),
          "fib_oif": ("missing", "exists")}
_FIB_FLAGS = ("saddr", "daddr", "mark", "iif", "oif")  # in nft's bit order
_RATE_UNITS = ("second", "minute", "hour", "day", "week")
_BYTE_UNITS = ("bytes", "kbytes", "mbytes")
Kinds = Any  # a value kind ("addr", "port", ...) or a list of them (a concatenation)


def _groups(words: List[Token], at: Token) -> List[List[Token]]:
    """The elements of a value (one word, a comma list, an anonymous set with nested sets
    flattened): lists of words, split at the commas."""
    groups: List[List[Token]] = [[]]
    for word in words:
        if not word.quoted and word.text in ("{", "}"):
            continue
        if not word.quoted and word.text == ",":
            groups.append([])
        else:
            groups[-1].append(word)
    groups = [g for g in groups if g]
    if not groups:
        raise NftScriptError("%s: an empty value is not understood" % at.where())
    return groups


def _verdict(words: List[Token], at: Token) -> Json:
    texts = [w.text for w in words]
    if len(texts) == 1 and texts[0] in VERDICTS:
        return {texts[0]: None}
    if len(texts) == 2 and texts[0] in ("jump", "goto"):
        return {texts[0]: {"target": texts[1]}}
    raise NftScriptError("%s: verdict %s not understood" % (at.where(), shown(words)))


def _key(words: List[Token], kinds: Kinds, at: Token) -> Any:
    """One element (or map key): a value, or A . B . C for a concatenation of KINDS."""
    if not isinstance(kinds, list):
        if len(words) != 1:
            raise NftScriptError("%s: value %s not understood" % (at.where(), shown(words)))
        return _scalar(words[0], kinds)
    parts = [words[i] for i in range(0, len(words), 2)]
    if len(words) != 2 * len(kinds) - 1 or any(w.text != "." or w.quoted for w in words[1::2]):
        raise NftScriptError("%s: value %s not understood (a concatenation of %d values)" % (at.where(), shown(words), len(kinds)))
    return {"concat": [_scalar(w, k) for w, k in zip(parts, kinds)]}


class Values(object):
    """The value of a match: one word, a comma list, an anonymous set {a, b} (nested sets flattened),
    @set; elements may be concatenations (a . b) and, in maps, KEY : VALUE pairs."""

    def __init__(self, words: List[Token], at: Token) -> None:
        self.words, self.at = words, at

    def elements(self, kind: Kinds, data: Optional[str] = None) -> List[Any]:
        out: List[Any] = []
        for group in _groups(self.words, self.at):
            if data is None:
                out.append(_key(group, kind, self.at))
                continue
            colons = [n for n, w in enumerate(group) if w.text == ":" and not w.quoted]
            if len(colons) != 1:
                raise NftScriptError("%s: map element %s not understood (KEY : VALUE)" % (self.at.where(), shown(group)))
            key, value = group[:colons[0]], group[colons[0] + 1:]
            out.append([_key(key, kind, self.at), _verdict(value, self.at) if data == "verdict" else _key(value, data, self.at)])
        return out

    def json(self, kind: Kinds) -> Any:
        if self.words and self.words[0].text == "{" and not self.words[0].quoted:
            if self.words[-1].text != "}":
                raise NftScriptError("%s: a set value is not closed" % self.at.where())
            elements = self.elements(kind)
            if len(elements) == 1 and not isinstance(kind, list):
                return elements[0]  # nft lists { x } as x (not a concatenation)
            return {"set": merged(elements, kind)}
        if len(self.words) == 1 and self.words[0].text.startswith("@") and not self.words[0].quoted:
            return self.words[0].text
        if len(self.words) == 1:
            return _key(self.words, kind, self.at)
        if kind in _FLAGS and all(w.text == "," for w in self.words[1::2]):  # ct state established,related
            return _flag_list(self.words[::2], kind)
        raise NftScriptError("%s: value %s not understood" % (self.at.where(), shown(self.words)))


def _bounds(element: Any) -> Tuple[int, int, int]:
    """(IP version or 0 for a port, low, high) of an address, prefix, range or port."""
    if isinstance(element, int):
        return 0, element, element
    if isinstance(element, dict) and "range" in element:
        low, high = element["range"]
        if isinstance(low, int):
            return 0, low, high
        first, last = ipaddress.ip_address(low), ipaddress.ip_address(high)
        return first.version, int(first), int(last)
    net = ipaddress.ip_network("%s/%s" % (element["prefix"]["addr"], element["prefix"]["len"]) if isinstance(element, dict) else element)
    return net.version, int(net.network_address), int(net.broadcast_address)


def _interval(version: int, low: int, high: int) -> Any:
    """An interval as nft lists it: one value, a prefix when it is one, else a range."""
    if version == 0:
        return low if low == high else {"range": [low, high]}
    first, last = ipaddress.ip_address(low if version == 4 else ipaddress.IPv6Address(low)), \
        ipaddress.ip_address(high if version == 4 else ipaddress.IPv6Address(high))
    if low == high:
        return _shown(first)
    nets: List[Any] = list(ipaddress.summarize_address_range(first, last))
    if len(nets) == 1:
        return {"prefix": {"addr": _shown(nets[0].network_address), "len": nets[0].prefixlen}}
    return {"range": [_shown(first), _shown(last)]}


def merged(elements: List[Any], kind: Any) -> List[Any]:
    """Elements of an interval set as nft stores them: when one is a prefix or a range, overlapping
    and adjacent ones merge (anonymous sets always, named ones with auto-merge)."""
    if kind not in ("addr", "port") or not any(isinstance(e, dict) for e in elements):
        return elements
    spans = sorted(_bounds(e) for e in elements)
    out: List[List[int]] = []
    for version, low, high in spans:
        if out and out[-1][0] == version and low <= out[-1][2] + 1:
            out[-1][2] = max(out[-1][2], high)
        else:
            out.append([version, low, high])
    return [_interval(*span) for span in out]


def _flag_list(words: List[Token], kind: str) -> Any:
    """Flags (a comma list, or a|b) in nft's bit order: a list, or one name."""
    names = sorted(set(_scalar(w, kind) for w in words), key=_FLAGS[kind].index)
    return names[0] if len(names) == 1 else names


def _port(text: str, at: Token) -> int:
    if text.isdigit():
        value = int(text)
    else:
        try:
            value = socket.getservbyname(text)
        except (OSError, socket.error):
            raise NftScriptError("%s: port %s not understood" % (at.where(), text))
    if not 0 <= value <= 65535:
        raise NftScriptError("%s: port %s out of range" % (at.where(), text))
    return value


def _shown(address: Any) -> str:
    """An address as nft prints it (an IPv4-mapped IPv6 address as ::ffff:a.b.c.d)."""
    mapped = getattr(address, "ipv4_mapped", None)
    return "::ffff:%s" % mapped if mapped is not None else str(address)


def _address(text: str, at: Token) -> Any:
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            if net.prefixlen == net.max_prefixlen:
                return _shown(net.network_address)
            return {"prefix": {"addr": _shown(net.network_address), "len": net.prefixlen}}
        if "-" in text:
            low, high = text.split("-", 1)
            return {"range": [_shown(ipaddress.ip_address(low)), _shown(ipaddress.ip_address(high))]}
        return _shown(ipaddress.ip_address(text))
    except ValueError:
        raise NftScriptError("%s: address %s not understood (host names are not resolved)" % (at.where(), text))


def _scalar(word: Token, kind: str) -> Any:
    text = word.text
    if word.quoted or kind in ("name", "word"):
        return text
    if text.startswith("@") or text.startswith("$"):
        raise NftScriptError("%s: %s inside a set not understood" % (word.where(), text))
    if kind == "addr":
        return _address(text, word)
    if kind == "port":
        if "-" in text:
            low, high = text.split("-", 1)
            return {"range": [_port(low, word), _port(high, word)]}
        return _port(text, word)
    if kind == "proto" and "-" in text and all(part.isdigit() for part in text.split("-", 1)):
        return {"range": [int(part) for part in text.split("-", 1)]}
    if kind == "proto":
        return _PROTOCOLS.get(text, int(text) if text.isdigit() else text)
    if kind in _ICMP_TYPES:
        return _ICMP_TYPES[kind].get(int(text), int(text)) if text.isdigit() else text
    if kind == "fib_oif" and text in ("missing", "exists"):
        return text == "exists"
    if kind in _FLAGS or kind in _WORDS:
        names = _FLAGS.get(kind) or _WORDS[kind]
        if text not in names:
            raise NftScriptError("%s: %s is not a %s value (%s)" % (word.where(), text, kind.replace("_", " "), ", ".join(names)))
    return text


def _nat(words: List[Token], i: int, family: str, expr: List[Json]) -> int:
    """masquerade, snat/dnat [ip|ip6] to ADDR[:PORT], redirect to [:]PORT at words[i] -> next index."""
    kind = words[i].text
    if kind == "masquerade":
        expr.append({"masquerade": None})
        return i + 1
    body: Json = {}
    at = i + 1
    if kind in ("snat", "dnat") and family == "inet":
        if at < len(words) and words[at].text in ("ip", "ip6"):
            body["family"] = words[at].text
            at += 1
        else:  # nft takes the family from an earlier meta nfproto or ip/ip6 match of the rule
            body["family"] = _context(expr)
        if body["family"] is None:
            raise NftScriptError("%s: %s in an inet table without ip or ip6 not understood" % (words[i].where(), kind))
    if at < len(words) and words[at].text == "to":
        at += 1
    if at >= len(words) or (kind != "redirect" and words[at].text[:1] not in "0123456789[:" and ":" not in words[at].text):
        raise NftScriptError("%s: %s without 'to ...' not understood" % (words[i].where(), kind))
    target = words[at].text
    if kind == "redirect":
        body["port"] = _port(target.lstrip(":"), words[i])
    else:
        address, port = target, None
        if target.startswith("["):
            address, dummy, rest = target[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else None
        elif target.count(":") == 1:
            address, port = target.split(":")
        body["addr"] = _address(address, words[i])
        if not isinstance(body["addr"], str):
            raise NftScriptError("%s: %s to %s not understood (one address)" % (words[i].where(), kind, target))
        if port is not None:
            body["port"] = _port(port, words[i])
    expr.append({kind: body})
    return at + 1


def _context(expr: List[Json]) -> Optional[str]:
    """ip or ip6 when an earlier match of the rule fixes the family (meta nfproto, ip/ip6 payload)."""
    for item in expr:
        m = item.get("match") or {}
        if m.get("op") == "==" and m.get("left") == {"meta": {"key": "nfproto"}} and m.get("right") in ("ipv4", "ipv6"):
            return "ip" if m["right"] == "ipv4" else "ip6"
        protocol = m.get("left", {}).get("payload", {}).get("protocol")
        if protocol in ("ip", "ip6"):
            return protocol
    return None


def _limit(words: List[Token], i: int) -> Tuple[Json, int]:
    """limit rate [over] N/UNIT [burst M packets] | limit rate [over] N BYTES/UNIT at words[i] -> (json, next index)."""
    texts = [w.text for w in words]
    at = i + 2
    body: Json = {}
    if texts[i + 1:i + 2] != ["rate"]:
        raise NftScriptError("%s: limit without rate not understood" % words[i].where())
    if texts[at:at + 1] == ["over"]:
        body["inv"] = True
        at += 1
    number, dummy, per = (texts[at] if at < len(texts) else "").partition("/")
    if number.isdigit() and per in _RATE_UNITS:
        body.update(rate=int(number), per=per, burst=5)
        at += 1
    elif number.isdigit() and not per and at + 1 < len(texts) and texts[at + 1].partition("/")[0] in _BYTE_UNITS \
            and texts[at + 1].partition("/")[2] in _RATE_UNITS:
        unit, dummy, per = texts[at + 1].partition("/")
        body.update(rate=int(number), per=per, rate_unit=unit, burst=0, burst_unit="bytes")
        at += 2
    else:
        raise NftScriptError("%s: limit %s not understood (limit rate [over] N/second|minute|hour|day|week)"
                             % (words[i].where(), shown(words[i + 1:i + 4])))
    if texts[at:at + 1] == ["burst"] and "rate_unit" not in body:
        if at + 1 >= len(texts) or not texts[at + 1].isdigit():
            raise NftScriptError("%s: limit burst %s not understood" % (words[i].where(), shown(words[at + 1:at + 2])))
        body["burst"] = int(texts[at + 1])
        at += 3 if texts[at + 2:at + 3] == ["packets"] else 2
    elif texts[at:at + 1] == ["burst"]:
        raise NftScriptError("%s: a burst of a byte rate limit not understood" % words[i].where())
    return {"limit": body}, at


def _mask(words: List[Token], kind: str, at: Token) -> Any:
    """(fin|syn|rst|ack), fin,syn or one flag -> a list in bit order, or one name."""
    text = "".join(w.text for w in words)
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    names = text.replace("|", ",").split(",")
    if not names or any(not n for n in names):
        raise NftScriptError("%s: flags %s not understood" % (at.where(), shown(words)))
    return _flag_list([Token(n, at.path, at.line) for n in names], kind)


def parse_rule(words: List[Token], table: Json, chain_type: Optional[str] = None) -> Json:
    """One rule line -> {expr, comment, where, text}."""
    expr: List[Json] = []
    comment = None
    i, size = 0, len(words)
    family = table["family"]
    first = words[0]

    def value(start: int) -> Tuple[Optional[str], List[Token], int]:
        """(operator, value words, next index) of the value at START."""
        op = None
        if start < size and words[start].text in ("==", "!=", "eq", "ne") and not words[start].quoted:
            op = {"eq": "==", "ne": "!="}.get(words[start].text, words[start].text)
            start += 1
        if start >= size:
            raise NftScriptError("%s: %s: a value is missing" % (first.where(), shown(words)))
        if words[start].text == "{" and not words[start].quoted:
            depth, end = 0, start
            while end < size:
                if not words[end].quoted and words[end].text == "{":
                    depth += 1
                elif not words[end].quoted and words[end].text == "}":
                    depth -= 1
                    if depth == 0:
                        break
                end += 1
            return op, words[start:end + 1], end + 1
        end = start + 1
        while end + 1 < size and words[end].text == "," and not words[end].quoted:  # ct state established,related
            end += 2
        return op, words[start:end], end

    def selector(start: int) -> Optional[Tuple[Json, str, int]]:
        """(left-hand side, value kind, next index) of a selector at START, None when there is none."""
        text = words[start].text if start < size and not words[start].quoted else None
        nxt = words[start + 1].text if start + 1 < size else None
        if text in _INTERFACE_KEYS:
            return {"meta": {"key": text}}, "name", start + 1
        if text == "meta" and nxt in _META_KEYS:
            kind = "name" if nxt in _INTERFACE_KEYS else ("proto" if nxt == "l4proto" else nxt)
            return {"meta": {"key": nxt}}, kind, start + 2
        if text in ("ip", "ip6") and nxt in ("saddr", "daddr"):
            if family not in _MULTI_FAMILY and family != text:
                raise NftScriptError("%s: %s %s in a table of family %s not understood" % (words[start].where(), text, nxt, family))
            return {"payload": {"protocol": text, "field": nxt}}, "addr", start + 2
        if (text, nxt) in (("ip", "protocol"), ("ip6", "nexthdr")):
            return {"payload": {"protocol": text, "field": nxt}}, "proto", start + 2
        if text in ("tcp", "udp", "th") and nxt in ("dport", "sport"):
            return {"payload": {"protocol": text, "field": nxt}}, "port", start + 2
        if (text, nxt) == ("tcp", "flags"):
            return {"payload": {"protocol": "tcp", "field": "flags"}}, "tcp_flags", start + 2
        if text in ("icmp", "icmpv6") and nxt == "type":
            return {"payload": {"protocol": text, "field": "type"}}, text, start + 2
        if text == "ct" and nxt in ("state", "status"):
            return {"ct": {"key": nxt}}, "ct_" + nxt, start + 2
        if text == "fib":  # fib saddr|daddr [. mark] [. iif|oif] type|oif
            flags, at = [], start + 1
            while at < size and words[at].text in _FIB_FLAGS and words[at].text not in flags:
                flags.append(words[at].text)
                at += 2 if at + 1 < size and words[at + 1].text == "." else 1
                if words[at - 1].text != ".":
                    break
            result = words[at].text if at < size else None
            if result not in ("type", "oif") or len(set(flags) & {"saddr", "daddr"}) != 1 or words[at - 1].text == ".":
                raise NftScriptError("%s: fib %s not understood (fib saddr|daddr [. mark] [. iif|oif] type|oif)"
                                     % (words[start].where(), shown(words[start + 1:at + 1])))
            return ({"fib": {"result": result, "flags": sorted(flags, key=_FIB_FLAGS.index)}},
                    "fib_type" if result == "type" else "fib_oif", at + 1)
        return None

    def implied(left: Json) -> None:
        """Drop an earlier meta l4proto/nfproto match the payload LEFT implies (nft does not list it)."""
        payload = left.get("payload", {}).get("protocol")
        for key, wanted in _IMPLIED.get(payload, []):
            for index, item in enumerate(expr):
                m = item.get("match") or {}
                if m.get("op") == "==" and m.get("left") == {"meta": {"key": key}} and m.get("right") == wanted:
                    del expr[index]
                    break

    def match(start: int, found: Tuple[Json, str, int]) -> int:
        left, kind, at = found
        lefts, kinds = [left], [kind]
        while at + 1 < size and words[at].text == "." and not words[at].quoted:  # ip saddr . tcp dport
            more = selector(at + 1)
            if more is None or more[1] in _FLAGS or "fib" in more[0]:
                raise NftScriptError("%s: '. %s' in a concatenation not understood" % (first.where(), words[at + 1].text))
            lefts.append(more[0])
            kinds.append(more[1])
            at = more[2]
        flags = kind in _FLAGS and len(lefts) == 1
        kinds_of: Kinds = kind
        if len(lefts) > 1:
            left, kinds_of = {"concat": lefts}, kinds
        for item in lefts:
            implied(item)
        if at < size and words[at].text == "vmap" and not words[at].quoted:
            dummy, vals, nxt = value(at + 1)
            if len(vals) == 1 and vals[0].text.startswith("@"):
                data: Any = vals[0].text
            elif vals[0].text == "{":
                data = {"set": Values(vals, first).elements(kinds_of, "verdict")}
            else:
                raise NftScriptError("%s: vmap %s not understood" % (first.where(), shown(vals)))
            expr.append({"vmap": {"key": left, "data": data}})
            return nxt
        if at < size and words[at].text == "&" and not words[at].quoted:
            if not flags:
                raise NftScriptError("%s: '&' after %s not understood" % (first.where(), shown(words[start:at])))
            end = at + 1
            while end < size and words[end].text not in ("==", "!=", "eq", "ne"):
                end += 1
            mask = _mask(words[at + 1:end], kind, first)
            op, vals, nxt = value(end)
            if op is None or vals[0].text in ("{", "0"):
                raise NftScriptError("%s: %s not understood" % (first.where(), shown(words[start:nxt])))
            expr.append({"match": {"op": op, "left": {"&": [left, mask]}, "right": _mask(vals, kind, first)}})
            return nxt
        op, vals, nxt = value(at)
        if flags and vals[0].text != "{" and nxt + 1 < size and words[nxt].text == "/":  # tcp flags syn / syn,ack
            mask_op, mask_vals, after = value(nxt + 1)
            expr.append({"match": {"op": op or "==", "left": {"&": [left, _mask(mask_vals, kind, first)]},
                                   "right": _mask(vals, kind, first)}})
            return after
        right = Values(vals, first).json(kinds_of)
        implicit = "in" if flags and not isinstance(right, dict) else "=="  # a flag value is a bit mask
        expr.append({"match": {"op": op or implicit, "left": left, "right": right}})
        return nxt

    while i < size:
        word = words[i]
        text = word.text if not word.quoted else None
        nxt = words[i + 1].text if i + 1 < size else None
        found = selector(i)
        if found is not None:
            i = match(i, found)
        elif text == "counter":
            counter = {"packets": 0, "bytes": 0}
            i += 1
            if i + 3 < size and words[i].text == "packets" and words[i + 2].text == "bytes" \
                    and words[i + 1].text.isdigit() and words[i + 3].text.isdigit():
                # counter packets N bytes M (nft list ruleset > file writes them; nft -f loads them)
                counter = {"packets": int(words[i + 1].text), "bytes": int(words[i + 3].text)}
                i += 4
            expr.append({"counter": counter})
        elif text == "limit":
            limit, i = _limit(words, i)
            expr.append(limit)
        elif text == "log":
            body: Json = {}
            i += 1
            while i + 1 < size and words[i].text in ("prefix", "level") and not words[i].quoted:
                body[words[i].text] = words[i + 1].text
                i += 2
            expr.append({"log": body or None})
        elif text == "comment" and i + 1 < size and words[i + 1].quoted:
            comment = words[i + 1].text
            i += 2
        elif text in VERDICTS:
            expr.append({text: None})
            i += 1
        elif text in ("jump", "goto") and nxt is not None:
            expr.append({text: {"target": nxt}})
            i += 2
        elif text in ("masquerade", "snat", "dnat", "redirect"):
            if chain_type not in ("nat", None):  # a regular chain: nft lets only nat chains jump to it
                raise NftScriptError("%s: %s outside a chain of type nat not understood" % (word.where(), text))
            i = _nat(words, i, family, expr)
        elif text == "reject":
            rest = [w.text for w in words[i + 1:i + 5]]
            if rest[:3] == ["with", "tcp", "reset"]:
                expr.append({"reject": {"type": "tcp reset"}})
                i += 4
            elif len(rest) >= 4 and rest[0] == "with" and rest[1] in ("icmp", "icmpv6", "icmpx") and rest[2] == "type":
                expr.append({"reject": {"type": rest[1], "expr": rest[3]}})
                i += 5
            elif len(rest) >= 3 and rest[0] == "with" and rest[1] in ("icmp", "icmpv6", "icmpx"):  # as nft lists it
                expr.append({"reject": {"type": rest[1], "expr": rest[2]}})
                i += 4
            else:  # nft fills in the family's default
                kind = {"ip": "icmp", "ip6": "icmpv6"}.get(family, "icmpx")
                expr.append({"reject": {"type": kind, "expr": "port-unreachable"}})
                i += 1
        else:
            what = " ".join(w.text for w in words[i:i + 2])
            raise NftScriptError("%s: '%s' not understood (in %s)" % (word.where(), what, shown(words)))
    rendered = " ".join('"%s"' % w.text if w.quoted else w.text for w in words).replace(" , ", ", ")
    return {"expr": expr, "comment": comment, "where": first.where(), "text": rendered, "path": first.path}
