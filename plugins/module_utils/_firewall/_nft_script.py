# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Turn an nft script (``/etc/nftables.conf``, loaded at boot with ``nft -f``) into the items of
``nft -j list ruleset`` for that ruleset, without loading it anywhere; _nft.py reads them.

The subset real nftables.conf files use: ``flush ruleset``, ``include "FILE"`` (a relative one in
nft's include path, /etc, whatever file includes it; a glob in the last component; at most INCLUDE_DEPTH deep and
INCLUDE_FILES files), ``define NAME = VALUE`` and ``$NAME``, ``table FAMILY NAME { ... }`` (inet, ip,
ip6) with named ``set``s and ``chain``s (``type T hook H priority P; policy V;``), and rules made of
iif/iifname/oif/oifname, meta l4proto/nfproto/iif..., ip/ip6 saddr/daddr, ip protocol, ip6 nexthdr,
tcp/udp/th dport/sport, icmp/icmpv6 type, ct state, counter, log, comment, the verdicts accept, drop,
reject, jump, goto, return, continue, and in nat chains masquerade, snat/dnat to ADDR[:PORT], redirect to :PORT. Anything else raises NftScriptError naming the file, the line
and the construct: a script is evaluated whole or not at all.
"""

from __future__ import annotations

import errno
import fnmatch
import ipaddress
import posixpath
import socket
from typing import Any, Callable, Dict, List, Optional, Tuple

Json = Dict[str, Any]
Reader = Callable[[str], Optional[str]]  # path -> text, None when it does not exist
INCLUDE_DEPTH = 16  # nft's own limit (MAX_INCLUDE_DEPTH)
INCLUDE_FILES = 256
MAX_TOKENS = 2000000
FAMILIES = ("inet", "ip", "ip6")
PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}
CHAIN_TYPES = ("filter", "nat", "route")
HOOKS = ("prerouting", "input", "forward", "output", "postrouting")
VERDICTS = ("accept", "drop", "return", "continue")
_SPECIAL = "{},;=\n"
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


class NftScriptError(ValueError):
    """A script that is not understood or cannot be read; the message names the file and line."""


class _Token(object):
    __slots__ = ("text", "path", "line", "quoted")

    def __init__(self, text: str, path: str, line: int, quoted: bool = False) -> None:
        self.text, self.path, self.line, self.quoted = text, path, line, quoted

    def where(self) -> str:
        return "%s line %d" % (self.path, self.line)


def _tokens(text: str, path: str) -> List[_Token]:
    """Words, quoted strings and the separators of _SPECIAL ("\\n" ends a statement as ";" does)."""
    out: List[_Token] = []
    line, i, size = 1, 0, len(text)
    while i < size:
        char = text[i]
        if char == "\n":
            out.append(_Token("\n", path, line))
            line += 1
            i += 1
        elif char in " \t\r":
            i += 1
        elif char == "\\" and text[i + 1:i + 2] == "\n":
            line += 1
            i += 2
        elif char == "#":
            end = text.find("\n", i)
            i = size if end < 0 else end
        elif char == '"':
            end = text.find('"', i + 1)
            if end < 0 or "\n" in text[i:end]:
                raise NftScriptError("%s line %d: a quoted string is not closed" % (path, line))
            out.append(_Token(text[i + 1:end], path, line, True))
            i = end + 1
        elif text.startswith(("!=", "=="), i):
            out.append(_Token(text[i:i + 2], path, line))
            i += 2
        elif char in _SPECIAL:
            out.append(_Token(char, path, line))
            i += 1
        else:
            start = i
            while i < size and text[i] not in _SPECIAL and text[i] not in ' \t\r"#':
                i += 1
            out.append(_Token(text[start:i], path, line))
        if len(out) > MAX_TOKENS:
            raise NftScriptError("%s: more than %d tokens: not read" % (path, MAX_TOKENS))
    out.append(_Token("\n", path, line))
    return out


class _Script(object):
    """The ruleset a script builds: tables in order, each with its sets and chains."""

    def __init__(self, read: Reader, include_dir: str) -> None:
        self.read = read
        self.include_dir = include_dir
        self.defines: Dict[str, List[_Token]] = {}
        self.tables: List[Json] = []
        self.files: List[str] = []

    # --- files -------------------------------------------------------------------------------------
    def load(self, path: str, depth: int, at: Optional[_Token]) -> None:
        if depth > INCLUDE_DEPTH:
            raise NftScriptError("%s: includes nested more than %d deep" % (at.where() if at else path, INCLUDE_DEPTH))
        if len(self.files) >= INCLUDE_FILES:
            raise NftScriptError("%s: more than %d files included" % (at.where() if at else path, INCLUDE_FILES))
        try:
            text = self.read(path)
        except (IOError, OSError) as exc:
            raise NftScriptError("%s could not be read: %s" % (path, getattr(exc, "strerror", None) or exc))
        if text is None:
            raise NftScriptError("%s: %s does not exist" % (at.where(), path) if at else "%s does not exist" % path)
        self.files.append(path)
        self.statements(_Stream(_tokens(text, path), self), depth)

    def include(self, token: _Token, depth: int) -> None:
        pattern = token.text
        if not pattern.startswith("/"):  # nft looks in its include path (/etc), not next to the including file
            pattern = posixpath.join(self.include_dir, pattern)
        folder, name = posixpath.split(posixpath.normpath(pattern))
        if any(c in folder for c in "*?["):
            raise NftScriptError("%s: include %s: a wildcard in a directory is not understood" % (token.where(), token.text))
        if not any(c in name for c in "*?["):
            self.load(posixpath.join(folder, name), depth + 1, token)
            return
        try:
            names = self.listdir(folder)
        except (IOError, OSError) as exc:
            raise NftScriptError("%s: include %s: %s could not be listed: %s"
                                 % (token.where(), token.text, folder, getattr(exc, "strerror", None) or exc))
        for entry in sorted(n for n in names if fnmatch.fnmatchcase(n, name) and not n.startswith(".")):
            self.load(posixpath.join(folder, entry), depth + 1, token)

    def listdir(self, folder: str) -> List[str]:
        lister = getattr(self.read, "listdir", None)
        if lister is None:
            raise OSError(errno.ENOTSUP, "the reader lists no directories")
        return list(lister(folder))

    # --- statements --------------------------------------------------------------------------------
    def statements(self, stream: "_Stream", depth: int) -> None:
        while not stream.done():
            words = stream.statement()
            if not words:
                continue
            head = words[0]
            if head.text == "flush" and [w.text for w in words] == ["flush", "ruleset"]:
                self.tables = []
            elif head.text == "include" and len(words) == 2 and words[1].quoted:
                self.include(words[1], depth)
            elif head.text == "define" and len(words) >= 4 and words[2].text == "=":
                if words[1].text in self.defines:  # nft refuses the whole script
                    raise NftScriptError("%s: redefinition of %s (nft refuses to load the script)" % (head.where(), words[1].text))
                self.defines[words[1].text] = words[3:]
            elif head.text == "table" and words[-1].text == "{":
                self.table(words, stream)
            else:
                raise NftScriptError("%s: %s not understood" % (head.where(), _shown(words)))

    def table(self, words: List[_Token], stream: "_Stream") -> None:
        names = [w.text for w in words[1:-1]]
        if len(names) == 1:
            names = ["ip"] + names
        if len(names) != 2 or names[0] not in FAMILIES:
            raise NftScriptError("%s: %s not understood (families: %s)" % (words[0].where(), _shown(words), ", ".join(FAMILIES)))
        family, name = names
        table = next((t for t in self.tables if t["family"] == family and t["name"] == name), None)
        if table is None:
            table = {"family": family, "name": name, "sets": {}, "chains": {}}
            self.tables.append(table)
        while True:
            inner = stream.statement()
            if not inner:
                stream.closed(words[-1])
                continue
            if inner[0].text == "}" and len(inner) == 1:
                return
            if inner[0].text == "chain" and len(inner) == 3 and inner[2].text == "{":
                self.chain(table, inner[1], stream)
            elif inner[0].text == "set" and len(inner) == 3 and inner[2].text == "{":
                self.named_set(table, inner[1], stream)
            else:
                raise NftScriptError("%s: %s not understood in table %s %s" % (inner[0].where(), _shown(inner), family, name))

    def named_set(self, table: Json, name: _Token, stream: "_Stream") -> None:
        opening = name
        body: Json = {"family": table["family"], "name": name.text, "table": table["name"]}
        elements: List[Any] = []
        while True:
            words = stream.statement()
            if not words:
                stream.closed(opening)
                continue
            if words[0].text == "}" and len(words) == 1:
                break
            key = words[0].text
            if key == "type" and len(words) == 2:
                body["type"] = words[1].text
            elif key == "flags" and len(words) >= 2:
                body["flags"] = [w.text for w in words[1:] if w.text != ","]
                if any(flag not in ("interval", "constant") for flag in body["flags"]):
                    raise NftScriptError("%s: set flags %s not understood" % (words[0].where(), ", ".join(body["flags"])))
            elif key == "elements" and len(words) >= 3 and words[1].text == "=":
                elements = _Values(words[2:], words[0]).elements(_set_kind(body.get("type"), words[0]))
            elif key == "auto-merge" and len(words) == 1:
                continue
            else:
                raise NftScriptError("%s: %s not understood in set %s" % (words[0].where(), _shown(words), name.text))
        if "type" not in body:
            raise NftScriptError("%s: set %s has no type" % (name.where(), name.text))
        _set_kind(body["type"], name)
        if elements:
            body["elem"] = elements
        table["sets"][name.text] = body

    def chain(self, table: Json, name: _Token, stream: "_Stream") -> None:
        opening = name
        chain = table["chains"].setdefault(name.text, {"name": name.text, "base": None, "rules": []})
        while True:
            words = stream.statement()
            if not words:
                stream.closed(opening)
                continue
            if words[0].text == "}" and len(words) == 1:
                return
            if words[0].text == "type":
                chain["base"] = _base(words, chain.get("base"))
            elif words[0].text == "policy" and len(words) == 2 and words[1].text in ("accept", "drop"):
                if chain["base"] is None:
                    raise NftScriptError("%s: a policy before the chain's type line is not understood" % words[0].where())
                chain["base"]["policy"] = words[1].text
            else:
                chain["rules"].append(_rule(words, table, (chain["base"] or {}).get("type")))

    # --- output ------------------------------------------------------------------------------------
    def items(self) -> Tuple[List[Json], List[Json]]:
        """(the "nftables" list that ``nft -j list ruleset`` prints for the ruleset, {path, where, text}
        of each of its rules in order)."""
        items: List[Json] = []
        meta: List[Json] = []
        handle = 0
        for number, table in enumerate(self.tables, 1):
            family, name = table["family"], table["name"]
            items.append({"table": {"family": family, "name": name, "handle": number}})
            for chain in table["chains"].values():
                for rule in chain["rules"]:
                    _check_references(rule, table)
            for body in table["sets"].values():
                items.append({"set": body})
            for number_c, chain in enumerate(table["chains"].values(), 1):
                body = {"family": family, "table": name, "name": chain["name"], "handle": number_c}
                if chain["base"] is not None:
                    body.update(type=chain["base"]["type"], hook=chain["base"]["hook"], prio=chain["base"]["prio"],
                                policy=chain["base"].get("policy", "accept"))
                items.append({"chain": body})
            for chain in table["chains"].values():
                for rule in chain["rules"]:
                    handle += 1
                    body = {"family": family, "table": name, "chain": chain["name"], "handle": handle, "expr": rule["expr"]}
                    if rule.get("comment") is not None:
                        body["comment"] = rule["comment"]
                    items.append({"rule": body})
                    meta.append({"path": rule["path"], "where": rule["where"], "text": rule["text"]})
        return items, meta


class _Stream(object):
    """Statements of a token list: the words up to a newline or ";" (or up to and including an opening
    "{" of a block, or a lone "}"), with $NAME expanded; newlines inside a value's braces do not end it."""

    def __init__(self, tokens: List[_Token], script: _Script) -> None:
        self.tokens, self.at, self.script = tokens, 0, script

    def done(self) -> bool:
        return self.at >= len(self.tokens)

    def closed(self, opening: _Token) -> None:
        """Raise when the file ends inside the block OPENING began."""
        if self.done():
            raise NftScriptError("%s: the '{' of this block is not closed" % opening.where())

    def statement(self) -> List[_Token]:
        words: List[_Token] = []
        depth = 0
        while self.at < len(self.tokens):
            token = self.tokens[self.at]
            self.at += 1
            text = "" if token.quoted else token.text
            if text in ("\n", ";") and depth == 0:
                return words
            if text == "\n":
                continue
            if text == "}" and depth == 0:
                if words:  # "accept }" on one line: the rule ends, the block end comes next
                    self.at -= 1
                    return words
                return [token]
            if text == "{":
                if words and words[0].text in ("table", "chain", "set") and depth == 0 and len(words) <= 3:
                    words.append(token)
                    return words
                depth += 1
            elif text == "}":
                depth -= 1
            if text.startswith("$") and len(text) > 1:
                if text[1:] not in self.script.defines:
                    raise NftScriptError("%s: $%s is not defined" % (token.where(), text[1:]))
                words.extend(_Token(t.text, token.path, token.line, t.quoted) for t in self.script.defines[text[1:]])
                continue
            words.append(token)
        if depth:
            raise NftScriptError("%s: a '{' is not closed" % words[0].where())
        return words


def _shown(words: List[_Token]) -> str:
    text = " ".join('"%s"' % w.text if w.quoted else w.text for w in words)
    return "'%s'" % (text if len(text) <= 80 else text[:77] + "...")


def _set_kind(kind: Optional[str], at: _Token) -> str:
    kinds = {"ipv4_addr": "addr", "ipv6_addr": "addr", "inet_service": "port", "ifname": "name", "inet_proto": "proto"}
    if kind not in kinds:
        raise NftScriptError("%s: set type %s not understood (understood: %s)" % (at.where(), kind, ", ".join(sorted(kinds))))
    return kinds[kind]


def _base(words: List[_Token], old: Optional[Json]) -> Json:
    """type T hook H priority P (the policy may follow on the same line after ";", a separate statement)."""
    texts = [w.text for w in words]
    if len(texts) < 6 or texts[2] != "hook" or texts[4] != "priority" or texts[1] not in CHAIN_TYPES or texts[3] not in HOOKS:
        raise NftScriptError("%s: %s not understood (type filter|nat|route hook HOOK priority P)" % (words[0].where(), _shown(words)))
    prio_words = texts[5:]
    try:
        if len(prio_words) == 1 and prio_words[0] in PRIORITIES:
            prio = PRIORITIES[prio_words[0]]
        elif len(prio_words) == 1:
            prio = int(prio_words[0])
        elif len(prio_words) == 3 and prio_words[0] in PRIORITIES and prio_words[1] in ("+", "-"):
            prio = PRIORITIES[prio_words[0]] + int(prio_words[2]) * (1 if prio_words[1] == "+" else -1)
        elif len(prio_words) == 2 and prio_words[0] in PRIORITIES and prio_words[1][:1] in ("+", "-"):
            prio = PRIORITIES[prio_words[0]] + int(prio_words[1])
        else:
            raise ValueError(prio_words)
    except ValueError:
        raise NftScriptError("%s: priority %s not understood" % (words[0].where(), " ".join(prio_words)))
    base = {"type": texts[1], "hook": texts[3], "prio": prio}
    if old and "policy" in old:
        base["policy"] = old["policy"]
    return base


class _Values(object):
    """The value of a match: one word, a comma list, an anonymous set {a, b} (nested sets flattened), @set."""

    def __init__(self, words: List[_Token], at: _Token) -> None:
        self.words, self.at = words, at

    def flat(self) -> List[_Token]:
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
            raise NftScriptError("%s: value %s not understood" % (self.at.where(), _shown(self.words)))
        return _scalar(self.words[0], kind)


def _port(text: str, at: _Token) -> int:
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


def _address(text: str, at: _Token) -> Any:
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


def _scalar(word: _Token, kind: str) -> Any:
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


def _nat(words: List[_Token], i: int, family: str, expr: List[Json]) -> int:
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


def _rule(words: List[_Token], table: Json, chain_type: Optional[str] = None) -> Json:
    """One rule line -> {expr, comment, where, text}."""
    expr: List[Json] = []
    comment = None
    i, size = 0, len(words)
    family = table["family"]
    first = words[0]

    def value(start: int) -> Tuple[Optional[str], List[_Token], int]:
        """(operator, value words, next index) of the value at START."""
        op = None
        if start < size and words[start].text in ("==", "!=", "eq", "ne") and not words[start].quoted:
            op = {"eq": "==", "ne": "!="}.get(words[start].text, words[start].text)
            start += 1
        if start >= size:
            raise NftScriptError("%s: %s: a value is missing" % (first.where(), _shown(words)))
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
                raise NftScriptError("%s: value %s not understood" % (first.where(), _shown(vals)))
            right: Any = [_scalar(w, "word") for w in vals if w.text != ","]
        else:
            right = _Values(vals, first).json("word" if kind == "ct" else kind)
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
            shown = " ".join(w.text for w in words[i:i + 2])
            raise NftScriptError("%s: '%s' not understood (in %s)" % (word.where(), shown, _shown(words)))
    rendered = " ".join('"%s"' % w.text if w.quoted else w.text for w in words).replace(" , ", ", ")
    return {"expr": expr, "comment": comment, "where": first.where(), "text": rendered, "path": first.path}


def _check_references(rule: Json, table: Json) -> None:
    for item in rule["expr"]:
        right = item.get("match", {}).get("right")
        if isinstance(right, str) and right.startswith("@") and right[1:] not in table["sets"]:
            raise NftScriptError("%s: set %s is not defined in table %s %s" % (rule["where"], right, table["family"], table["name"]))
        for kind in ("jump", "goto"):
            if kind in item and item[kind]["target"] not in table["chains"]:
                raise NftScriptError("%s: %s to chain %s, which is not defined in table %s %s"
                                     % (rule["where"], kind, item[kind]["target"], table["family"], table["name"]))


def parse_nft_script(path: str, read: Reader, include_dir: str = "/etc") -> Tuple[List[Json], List[Json], List[str]]:
    """(items of ``nft -j list ruleset``, {path, where, text} of each rule item in order, files read) of
    the script PATH. READ(path) gives a file's text (None when it does not exist) and may have a
    ``listdir`` attribute for include globs; a relative include is looked up in INCLUDE_DIR (nft's
    default include path, ``-I``). Raises NftScriptError for anything outside the subset.
    """
    script = _Script(read, include_dir)
    script.load(path, 0, None)
    items, meta = script.items()
    return items, meta, script.files
