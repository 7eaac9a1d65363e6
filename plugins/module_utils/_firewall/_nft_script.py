# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Turn an nft script (``/etc/nftables.conf``, loaded at boot with ``nft -f``) into the items of
``nft -j list ruleset`` for that ruleset, without loading it anywhere; _nft.py reads them.

The subset real nftables.conf files use: ``flush ruleset``, ``include "FILE"`` (a relative one in
nft's include path, /etc, whatever file includes it; a glob in the last component; at most
INCLUDE_DEPTH deep and INCLUDE_FILES files), ``define NAME = VALUE`` and ``$NAME``,
``table FAMILY NAME { ... }`` (inet, ip, ip6) with named ``set``s and ``chain``s
(``type T hook H priority P; policy V;``), and rules made of iif/iifname/oif/oifname, meta
l4proto/nfproto/iif..., ip/ip6 saddr/daddr, ip protocol, ip6 nexthdr, tcp/udp/th dport/sport,
icmp/icmpv6 type, ct state, counter, log, comment, the verdicts accept, drop, reject, jump, goto,
return, continue, and in nat chains masquerade, snat/dnat to ADDR[:PORT], redirect to :PORT
(_nft_rule.py). Anything else raises NftScriptError naming the file, the line and the construct:
a script is evaluated whole or not at all.
"""

from __future__ import annotations

import errno
import fnmatch
import posixpath
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._firewall._nft_rule import Values, parse_rule
from ansible_collections.portproof.validate.plugins.module_utils._firewall._nft_words import NftScriptError, Token, shown, tokenize

Json = Dict[str, Any]
Reader = Callable[[str], Optional[str]]  # path -> text, None when it does not exist
INCLUDE_DEPTH = 16  # nft's own limit (MAX_INCLUDE_DEPTH)
INCLUDE_FILES = 256
FAMILIES = ("inet", "ip", "ip6")
PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}
CHAIN_TYPES = ("filter", "nat", "route")
HOOKS = ("prerouting", "input", "forward", "output", "postrouting")
__all__ = ["NftScriptError", "parse_nft_script"]


class _Script(object):
    """The ruleset a script builds: tables in order, each with its sets and chains."""

    def __init__(self, read: Reader, include_dir: str) -> None:
        self.read = read
        self.include_dir = include_dir
        self.defines: Dict[str, List[Token]] = {}
        self.tables: List[Json] = []
        self.files: List[str] = []

    # --- files -------------------------------------------------------------------------------------
    def load(self, path: str, depth: int, at: Optional[Token]) -> None:
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
        self.statements(_Stream(tokenize(text, path), self), depth)

    def include(self, token: Token, depth: int) -> None:
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
                raise NftScriptError("%s: %s not understood" % (head.where(), shown(words)))

    def table(self, words: List[Token], stream: "_Stream") -> None:
        names = [w.text for w in words[1:-1]]
        if len(names) == 1:
            names = ["ip"] + names
        if len(names) != 2 or names[0] not in FAMILIES:
            raise NftScriptError("%s: %s not understood (families: %s)" % (words[0].where(), shown(words), ", ".join(FAMILIES)))
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
                raise NftScriptError("%s: %s not understood in table %s %s" % (inner[0].where(), shown(inner), family, name))

    def named_set(self, table: Json, name: Token, stream: "_Stream") -> None:
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
                elements = Values(words[2:], words[0]).elements(_set_kind(body.get("type"), words[0]))
            elif key == "auto-merge" and len(words) == 1:
                continue
            else:
                raise NftScriptError("%s: %s not understood in set %s" % (words[0].where(), shown(words), name.text))
        if "type" not in body:
            raise NftScriptError("%s: set %s has no type" % (name.where(), name.text))
        _set_kind(body["type"], name)
        if elements:
            body["elem"] = elements
        table["sets"][name.text] = body

    def chain(self, table: Json, name: Token, stream: "_Stream") -> None:
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
                chain["rules"].append(parse_rule(words, table, (chain["base"] or {}).get("type")))

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

    def __init__(self, tokens: List[Token], script: _Script) -> None:
        self.tokens, self.at, self.script = tokens, 0, script

    def done(self) -> bool:
        return self.at >= len(self.tokens)

    def closed(self, opening: Token) -> None:
        """Raise when the file ends inside the block OPENING began."""
        if self.done():
            raise NftScriptError("%s: the '{' of this block is not closed" % opening.where())

    def statement(self) -> List[Token]:
        words: List[Token] = []
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
                words.extend(Token(t.text, token.path, token.line, t.quoted) for t in self.script.defines[text[1:]])
                continue
            words.append(token)
        if depth:
            raise NftScriptError("%s: a '{' is not closed" % words[0].where())
        return words


def _set_kind(kind: Optional[str], at: Token) -> str:
    kinds = {"ipv4_addr": "addr", "ipv6_addr": "addr", "inet_service": "port", "ifname": "name", "inet_proto": "proto"}
    if kind not in kinds:
        raise NftScriptError("%s: set type %s not understood (understood: %s)" % (at.where(), kind, ", ".join(sorted(kinds))))
    return kinds[kind]


def _base(words: List[Token], old: Optional[Json]) -> Json:
    """type T hook H priority P (the policy may follow on the same line after ";", a separate statement)."""
    texts = [w.text for w in words]
    if len(texts) < 6 or texts[2] != "hook" or texts[4] != "priority" or texts[1] not in CHAIN_TYPES or texts[3] not in HOOKS:
        raise NftScriptError("%s: %s not understood (type filter|nat|route hook HOOK priority P)" % (words[0].where(), shown(words)))
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
