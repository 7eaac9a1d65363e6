# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The rules of an nft script (one statement of a chain, as words) -> the ``expr`` list that
``nft -j list ruleset`` prints for them: matches, counter, log, comment, verdicts and, in nat chains,
NAT statements (the subset of _nft_script.py); anything else raises NftScriptError naming file and line."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._firewall._nft_words import NftScriptError, Token, shown

Json = Dict[str, Any]
VERDICTS = ("accept", "drop", "return", "continue")
_INTERFACE_KEYS = ("iif", "iifname", "oif", "oifname")
_META_KEYS = _INTERFACE_KEYS + ("l4proto", "nfproto")
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


class Values(object):
    """The value of a match: one word, a comma list, an anonymous set {a, b} (nested sets flattened), @set."""

    def __init__(self, words: List[Token], at: Token) -> None:
        self.words, self.at = words, at

    def flat(self) -> List[Token]:
        return [w for w in self.words if w.quoted or w.text not in ("{", "}", ",")]

    def elements(self, kind: str) -> List[Any]:
        values = self.flat()
        if not values:
            raise NftScriptError("%s: an empty value is not understood" % self.at.where())
        return [_scalar(w, kind) for w in values]

    def json(self, kind: str) -> Any:
        texts = [w.text for w in self.words if not w.quoted]
        if self.words and self.words[0].text == "{" and not self.words[0].quoted:
            if self.words[-1].text != "}":
                raise NftScriptError("%s: a set value is not closed" % self.at.where())
            return {"set": self.elements(kind)}
        if len(self.words) == 1 and self.words[0].text.startswith("@") and not self.words[0].quoted:
            return self.words[0].text
        if "," in texts or len(self.words) != 1:
            raise NftScriptError("%s: value %s not understood" % (self.at.where(), shown(self.words)))
        return _scalar(self.words[0], kind)


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


def _address(text: str, at: Token) -> Any:
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            if net.prefixlen == net.max_prefixlen:
                return str(net.network_address)
            return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}
        if "-" in text:
            low, high = text.split("-", 1)
            return {"range": [str(ipaddress.ip_address(low)), str(ipaddress.ip_address(high))]}
        return str(ipaddress.ip_address(text))
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
    if kind == "proto":
        return _PROTOCOLS.get(text, int(text) if text.isdigit() else text)
    if kind in _ICMP_TYPES:
        return _ICMP_TYPES[kind].get(int(text), int(text)) if text.isdigit() else text
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
        if at >= len(words) or words[at].text not in ("ip", "ip6"):
            raise NftScriptError("%s: %s in an inet table without ip or ip6 not understood" % (words[i].where(), kind))
        body["family"] = words[at].text
        at += 1
    if at + 1 >= len(words) or words[at].text != "to":
        raise NftScriptError("%s: %s without 'to ...' not understood" % (words[i].where(), kind))
    target = words[at + 1].text
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
    return at + 2


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

    def match(left: Json, kind: str, start: int, implicit: str = "==") -> int:
        op, vals, nxt = value(start)
        if len(vals) > 1 and vals[0].text != "{":
            if kind != "ct":
                raise NftScriptError("%s: value %s not understood" % (first.where(), shown(vals)))
            right: Any = [_scalar(w, "word") for w in vals if w.text != ","]
        else:
            right = Values(vals, first).json("word" if kind == "ct" else kind)
        if kind == "ct" and isinstance(right, dict):
            implicit = "=="  # ct state { a, b }: a set lookup, where "a,b" is a bit mask
        payload = left.get("payload", {}).get("protocol")
        for key, wanted in _IMPLIED.get(payload, []):
            for index, item in enumerate(expr):
                m = item.get("match") or {}
                if m.get("op") == "==" and m.get("left") == {"meta": {"key": key}} and m.get("right") == wanted:
                    del expr[index]
                    break
        expr.append({"match": {"op": op or implicit, "left": left, "right": right}})
        return nxt

    while i < size:
        word = words[i]
        text = word.text if not word.quoted else None
        nxt = words[i + 1].text if i + 1 < size else None
        if text in _INTERFACE_KEYS:
            i = match({"meta": {"key": text}}, "name", i + 1)
        elif text == "meta" and nxt in _META_KEYS:
            kind = "name" if nxt in _INTERFACE_KEYS else "proto"
            i = match({"meta": {"key": nxt}}, kind, i + 2)
        elif text in ("ip", "ip6") and nxt in ("saddr", "daddr"):
            if family != "inet" and family != text:
                raise NftScriptError("%s: %s %s in a table of family %s not understood" % (word.where(), text, nxt, family))
            i = match({"payload": {"protocol": text, "field": nxt}}, "addr", i + 2)
        elif (text, nxt) in (("ip", "protocol"), ("ip6", "nexthdr")):
            i = match({"payload": {"protocol": text, "field": nxt}}, "proto", i + 2)
        elif text in ("tcp", "udp", "th") and nxt in ("dport", "sport"):
            i = match({"payload": {"protocol": text, "field": nxt}}, "port", i + 2)
        elif text in ("icmp", "icmpv6") and nxt == "type":
            i = match({"payload": {"protocol": text, "field": "type"}}, text, i + 2)
        elif text == "ct" and nxt == "state":
            i = match({"ct": {"key": "state"}}, "ct", i + 2, implicit="in")
        elif text == "counter":
            expr.append({"counter": {"packets": 0, "bytes": 0}})
            i += 1
            if i + 3 < size and words[i].text == "packets" and words[i + 2].text == "bytes":
                i += 4  # counter packets N bytes M (nft list ruleset > file writes them)
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
            if chain_type != "nat":
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
            else:
                expr.append({"reject": None})
                i += 1
        else:
            what = " ".join(w.text for w in words[i:i + 2])
            raise NftScriptError("%s: '%s' not understood (in %s)" % (word.where(), what, shown(words)))
    rendered = " ".join('"%s"' % w.text if w.quoted else w.text for w in words).replace(" , ", ", ")
    return {"expr": expr, "comment": comment, "where": first.where(), "text": rendered, "path": first.path}
