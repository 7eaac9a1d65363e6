# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Turn an nft script (``/etc/nftables.conf``, loaded at boot with ``nft -f``) into the items of
``nft -j list ruleset`` for that ruleset, without loading it anywhere; _nft.py reads them.

The subset real nftables.conf files use (docs/reboot.md lists it): ``flush ruleset``,
``include "FILE"`` (a relative one in nft's include path, /etc, whatever file includes it; ./ and
../ from nft's working directory; a glob in the last component; at most INCLUDE_DEPTH deep and
INCLUDE_FILES files), ``define NAME = VALUE`` and ``$NAME``, ``delete``/``destroy table``,
``table FAMILY NAME { ... }`` (inet, ip, ip6, netdev, bridge, arp) with named ``set``s, ``map``s
(concatenated types, verdict and data maps) and ``chain``s (``type T hook H [device D] priority P;
policy V;``), and rules of matches, verdict maps, limit, counter, log, comment, verdicts and NAT
statements (_nft_rule.py). Base chains that see traffic to the host but that the verdict engine
does not walk (bridge prerouting/input, arp input) must be empty and accepting. Anything else
raises NftScriptError naming the file, the line and the construct: a script is evaluated whole or
not at all.
"""

from __future__ import annotations

import errno
import fnmatch
import posixpath
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._firewall._nft_rule import Values, merged, parse_rule
from ansible_collections.portproof.validate.plugins.module_utils._firewall._nft_words import MAX_TOKENS, NftScriptError, Token, shown, tokenize

Json = Dict[str, Any]
Reader = Callable[[str], Optional[str]]  # path -> text, None when it does not exist
INCLUDE_DEPTH = 16  # nft's own limit (MAX_INCLUDE_DEPTH)
INCLUDE_FILES = 256
FAMILIES = ("inet", "ip", "ip6", "netdev", "bridge", "arp")
PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}
BRIDGE_PRIORITIES = {"dstnat": -300, "filter": -200, "out": 100, "srcnat": 300}
CHAIN_TYPES = ("filter", "nat", "route")
HOOKS = ("prerouting", "input", "forward", "output", "postrouting")
FAMILY_HOOKS = {"netdev": ("ingress", "egress"), "arp": ("input", "output"), "inet": HOOKS + ("ingress",)}
# base chains on a packet's way in that the verdict engine does not walk (docs/reboot.md): empty and
# accepting they filter nothing; with a rule or a drop policy the script is refused, not half read
_OUTSIDE = {("arp", "input"): "ARP packets to the host", ("bridge", "prerouting"): "frames arriving on bridge ports",
            ("bridge", "input"): "frames arriving on bridge ports for the host"}
VALUE_TYPES = {"ipv4_addr": "addr", "ipv6_addr": "addr", "inet_service": "port", "ifname": "name", "inet_proto": "proto",
               "ct_state": "ct_state", "ct_status": "ct_status", "fib_addrtype": "fib_type", "pkt_type": "pkttype", "verdict": "verdict"}
__all__ = ["NftScriptError", "parse_nft_script"]


class _Script(object):
    """The ruleset a script builds: tables in order, each with its sets and chains."""

    def __init__(self, read: Reader, include_dir: str, cwd: str = "/") -> None:
        self.read = read
        self.include_dir = include_dir
        self.cwd = cwd
        self.defines: Dict[str, List[Token]] = {}
        self.tables: List[Json] = []
        self.files: List[str] = []

    # --- files -------------------------------------------------------------------------------------
    def load(self, path: str, depth: int, at: Optional[Token]) -> List[Token]:
        """The tokens of PATH with its includes spliced in (nft includes a file where the include
        stands, also inside a table or chain block)."""
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
        tokens = tokenize(text, path)
        out: List[Token] = []
        at_start, index = True, 0  # at the start of a statement
        while index < len(tokens):
            token = tokens[index]
            if token.text == "include" and not token.quoted and at_start and index + 2 < len(tokens) and tokens[index + 1].quoted \
                    and not tokens[index + 2].quoted and tokens[index + 2].text in ("\n", ";"):
                out.extend(self.include(tokens[index + 1], depth))
                index += 2  # the statement's end follows
                continue
            if len(out) > MAX_TOKENS:
                raise NftScriptError("%s: more than %d tokens in all: not read" % (token.where(), MAX_TOKENS))
            out.append(token)
            at_start = not token.quoted and token.text in ("\n", ";", "{", "}")
            index += 1
        return out

    def include(self, token: Token, depth: int) -> List[Token]:
        pattern = token.text
        if pattern.startswith(("./", "../")):  # nft opens these from its working directory (/ for nftables.service)
            pattern = posixpath.join(self.cwd, pattern)
        elif not pattern.startswith("/"):  # nft looks in its include path (/etc), not next to the including file
            pattern = posixpath.join(self.include_dir, pattern)
        folder, name = posixpath.split(posixpath.normpath(pattern))
        if any(c in folder for c in "*?["):
            raise NftScriptError("%s: include %s: a wildcard in a directory is not understood" % (token.where(), token.text))
        if not any(c in name for c in "*?["):
            return self.load(posixpath.join(folder, name), depth + 1, token)
        try:
            names = self.listdir(folder)
        except (IOError, OSError) as exc:
            raise NftScriptError("%s: include %s: %s could not be listed: %s"
                                 % (token.where(), token.text, folder, getattr(exc, "strerror", None) or exc))
        out: List[Token] = []
        for entry in sorted(n for n in names if fnmatch.fnmatchcase(n, name) and not n.startswith(".")):
            out.extend(self.load(posixpath.join(folder, entry), depth + 1, token))
        return out

    def listdir(self, folder: str) -> List[str]:
        lister = getattr(self.read, "listdir", None)
        if lister is None:
            raise OSError(errno.ENOTSUP, "the reader lists no directories")
        return list(lister(folder))

    # --- statements --------------------------------------------------------------------------------
    def statements(self, stream: "_Stream") -> None:
        while not stream.done():
            words = stream.statement()
            if not words:
                continue
            head = words[0]
            if head.text == "flush" and [w.text for w in words] == ["flush", "ruleset"]:
                self.tables = []
            elif head.text in ("delete", "destroy") and len(words) in (3, 4) and words[1].text == "table":
                self.delete(words)
            elif head.text == "define" and len(words) >= 4 and words[2].text == "=":
                if words[1].text in self.defines:  # nft refuses the whole script
                    raise NftScriptError("%s: redefinition of %s (nft refuses to load the script)" % (head.where(), words[1].text))
                self.defines[words[1].text] = words[3:]
            elif head.text == "table" and words[-1].text == "{":
                self.table(words, stream)
            elif head.text == "table" and len(words) in (2, 3):  # table inet fw4: declares it (empty)
                self.table(words + [Token("{", head.path, head.line)], None)
            elif head.text == "flush" and len(words) in (3, 4) and words[1].text == "table":
                self.flush_table(words)
            else:
                raise NftScriptError("%s: %s not understood" % (head.where(), shown(words)))

    def delete(self, words: List[Token]) -> None:
        """delete|destroy table [FAMILY] NAME: nft refuses the whole script when delete finds no table."""
        family, name = ([w.text for w in words[2:]] if len(words) == 4 else ["ip", words[2].text])
        found = [t for t in self.tables if t["family"] == family and t["name"] == name]
        if not found and words[0].text == "delete":
            raise NftScriptError("%s: %s: there is no table %s %s to delete (nft refuses to load the script)"
                                 % (words[0].where(), shown(words), family, name))
        self.tables = [t for t in self.tables if t not in found]

    def flush_table(self, words: List[Token]) -> None:
        """flush table [FAMILY] NAME: nothing to do for a table that has no rules or elements yet."""
        family, name = ([w.text for w in words[2:]] if len(words) == 4 else ["ip", words[2].text])
        for table in self.tables:
            if (table["family"], table["name"]) == (family, name) and (
                    any(c["rules"] for c in table["chains"].values()) or any(s.get("elem") for s in table["sets"].values())):
                raise NftScriptError("%s: %s of a table that has rules or elements already is not understood" % (words[0].where(), shown(words)))
        if not any((t["family"], t["name"]) == (family, name) for t in self.tables):
            raise NftScriptError("%s: %s: there is no table %s %s to flush (nft refuses to load the script)"
                                 % (words[0].where(), shown(words), family, name))

    def table(self, words: List[Token], stream: Optional["_Stream"]) -> None:
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
        if stream is None:
            return
        outer = dict(self.defines)  # a define inside a table holds until its end
        while True:
            inner = stream.statement()
            if not inner:
                stream.closed(words[-1])
                continue
            if inner[0].text == "}" and len(inner) == 1:
                self.defines = outer
                return
            if inner[0].text == "define" and len(inner) >= 4 and inner[2].text == "=":
                if inner[1].text in self.defines:
                    raise NftScriptError("%s: redefinition of %s (nft refuses to load the script)" % (inner[0].where(), inner[1].text))
                self.defines[inner[1].text] = inner[3:]
                continue
            if inner[0].text == "chain" and len(inner) == 3 and inner[2].text == "{":
                self.chain(table, inner[1], stream)
            elif inner[0].text in ("set", "map") and len(inner) == 3 and inner[2].text == "{":
                self.named_set(table, inner[1], stream, inner[0].text == "map")
            else:
                raise NftScriptError("%s: %s not understood in table %s %s" % (inner[0].where(), shown(inner), family, name))

    def named_set(self, table: Json, name: Token, stream: "_Stream", is_map: bool = False) -> None:
        opening = name
        body: Json = {"family": table["family"], "name": name.text, "table": table["name"]}
        elements: List[Any] = []
        what = "map" if is_map else "set"
        while True:
            words = stream.statement()
            if not words:
                stream.closed(opening)
                continue
            if words[0].text == "}" and len(words) == 1:
                break
            key = words[0].text
            if key == "type" and len(words) >= 2:
                body["type"], data = _set_type(words, is_map)
                if data is not None:
                    body["map"] = data
            elif key == "flags" and len(words) >= 2:
                body["flags"] = [w.text for w in words[1:] if w.text != ","]
                if any(flag not in ("interval", "constant") for flag in body["flags"]):
                    raise NftScriptError("%s: set flags %s not understood" % (words[0].where(), ", ".join(body["flags"])))
            elif key == "elements" and len(words) >= 3 and words[1].text == "=":
                if "type" not in body:
                    raise NftScriptError("%s: elements before the type of %s %s not understood" % (words[0].where(), what, name.text))
                elements = Values(words[2:], words[0]).elements(_set_kind(body["type"], words[0]),
                                                                VALUE_TYPES[body["map"]] if "map" in body else None)
            elif key == "comment" and len(words) == 2 and words[1].quoted:
                body["comment"] = words[1].text
            elif key == "auto-merge" and len(words) == 1:
                body["auto-merge"] = True
            else:
                raise NftScriptError("%s: %s not understood in %s %s" % (words[0].where(), shown(words), what, name.text))
        if "type" not in body:
            raise NftScriptError("%s: %s %s has no type" % (name.where(), what, name.text))
        if body.pop("auto-merge", False) and "interval" in body.get("flags", []):
            elements = merged(elements, _set_kind(body["type"], name))
        if elements:
            body["elem"] = elements
        table["sets"][name.text] = body
        table.setdefault("where", {})[name.text] = name.where()

    def chain(self, table: Json, name: Token, stream: "_Stream") -> None:
        opening = name
        chain = table["chains"].setdefault(name.text, {"name": name.text, "base": None, "rules": [], "where": name.where()})
        while True:
            words = stream.statement()
            if not words:
                stream.closed(opening)
                continue
            if words[0].text == "}" and len(words) == 1:
                return
            if words[0].text == "type":
                chain["base"] = _base(words, chain.get("base"), table["family"])
            elif words[0].text == "comment" and len(words) == 2 and words[1].quoted:
                chain["comment"] = words[1].text
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
                hook = str((chain["base"] or {}).get("hook"))
                if (family, hook) in _OUTSIDE and (chain["rules"] or chain["base"].get("policy") == "drop"):
                    raise NftScriptError("%s: chain %s of table %s %s at hook %s filters %s, which is not evaluated"
                                         % (chain["where"], chain["name"], family, name, hook, _OUTSIDE[(family, hook)]))
            for body in table["sets"].values():
                for pair in body.get("elem", []) if body.get("map") == "verdict" else []:
                    _check_references({"expr": [pair[1]], "where": table["where"][body["name"]]}, table)
            for body in table["sets"].values():
                items.append({"map" if "map" in body else "set": body})
            for number_c, chain in enumerate(table["chains"].values(), 1):
                body = {"family": family, "table": name, "name": chain["name"], "handle": number_c}  # nft 1.0.6 lists no chain comment
                if chain["base"] is not None:
                    body.update(type=chain["base"]["type"], hook=chain["base"]["hook"], prio=chain["base"]["prio"],
                                policy=chain["base"].get("policy", "accept"))
                    if "dev" in chain["base"]:  # nft 1.0.6 leaves it out of -j (_nft.py reads it from the listing)
                        body["dev"] = chain["base"]["dev"]
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
                if words and words[0].text in ("table", "chain", "set", "map") and depth == 0 and len(words) <= 3:
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


def _set_kind(kind: Any, at: Token) -> Any:
    """The value kind (_nft_rule.py) of a set type, a list of them for a concatenation."""
    if isinstance(kind, list):
        return [_set_kind(k, at) for k in kind]
    if kind not in VALUE_TYPES or kind == "verdict":
        raise NftScriptError("%s: set type %s not understood (understood: %s)"
                             % (at.where(), kind, ", ".join(sorted(k for k in VALUE_TYPES if k != "verdict"))))
    return VALUE_TYPES[kind]


def _set_type(words: List[Token], is_map: bool) -> Tuple[Any, Optional[str]]:
    """type A [. B ...] [: V] -> (type as nft -j lists it: a name or a list, the map's value type)."""
    texts = [w.text for w in words[1:]]
    data = None
    if is_map:
        if len(texts) < 3 or texts[-2] != ":" or texts[-1] not in VALUE_TYPES:
            raise NftScriptError("%s: map %s not understood (type KEY : %s)" % (words[0].where(), shown(words), "|".join(sorted(VALUE_TYPES))))
        texts, data = texts[:-2], texts[-1]
    keys = texts[::2]
    if not keys or any(t != "." for t in texts[1::2]) or len(texts) % 2 == 0:
        raise NftScriptError("%s: %s not understood (type A [. B ...])" % (words[0].where(), shown(words)))
    _set_kind(keys, words[0])
    return (keys if len(keys) > 1 else keys[0]), data


def _base(words: List[Token], old: Optional[Json], family: str = "inet") -> Json:
    """type T hook H [device D | devices = { D, ... }] priority P (the policy may follow on the same
    line after ";", a separate statement)."""
    texts = [w.text for w in words]
    hooks = FAMILY_HOOKS.get(family, HOOKS)
    if len(texts) < 4 or texts[2] != "hook" or texts[1] not in CHAIN_TYPES or texts[3] not in hooks:
        raise NftScriptError("%s: %s not understood (type filter|nat|route hook %s priority P)"
                             % (words[0].where(), shown(words), "|".join(hooks)))
    devices: List[str] = []
    at = 4
    if texts[at:at + 1] == ["device"] and at + 1 < len(texts):
        devices, at = [texts[at + 1]], at + 2
    elif texts[at:at + 3] == ["devices", "=", "{"] and "}" in texts[at:]:
        end = texts.index("}", at)
        devices, at = [d for d in texts[at + 3:end] if d != ","], end + 1
    if texts[at:at + 1] != ["priority"] or bool(devices) != (texts[3] in ("ingress", "egress")):
        raise NftScriptError("%s: %s not understood (type filter|nat|route hook %s [device D] priority P)"
                             % (words[0].where(), shown(words), "|".join(hooks)))
    names = BRIDGE_PRIORITIES if family == "bridge" else PRIORITIES
    prio_words = texts[at + 1:]
    try:
        if len(prio_words) == 1 and prio_words[0] in names:
            prio = names[prio_words[0]]
        elif len(prio_words) == 1:
            prio = int(prio_words[0])
        elif len(prio_words) == 3 and prio_words[0] in names and prio_words[1] in ("+", "-"):
            prio = names[prio_words[0]] + int(prio_words[2]) * (1 if prio_words[1] == "+" else -1)
        elif len(prio_words) == 2 and prio_words[0] in names and prio_words[1][:1] in ("+", "-"):
            prio = names[prio_words[0]] + int(prio_words[1])
        else:
            raise ValueError(prio_words)
    except ValueError:
        raise NftScriptError("%s: priority %s not understood" % (words[0].where(), " ".join(prio_words)))
    base: Json = {"type": texts[1], "hook": texts[3], "prio": prio}
    if devices:
        base["dev"] = devices[0] if len(devices) == 1 else devices
    if old and "policy" in old:
        base["policy"] = old["policy"]
    return base


def _check_references(rule: Json, table: Json) -> None:
    for item in rule["expr"]:
        data = item.get("vmap", {}).get("data")
        if isinstance(data, str) and data[1:] not in table["sets"]:
            raise NftScriptError("%s: map %s is not defined in table %s %s" % (rule["where"], data, table["family"], table["name"]))
        if isinstance(data, str) and table["sets"][data[1:]].get("map") != "verdict":
            raise NftScriptError("%s: %s is not a verdict map" % (rule["where"], data))
        for pair in data["set"] if isinstance(data, dict) else []:
            _check_references({"expr": [pair[1]], "where": rule["where"]}, table)
        right = item.get("match", {}).get("right")
        if isinstance(right, str) and right.startswith("@") and right[1:] not in table["sets"]:
            raise NftScriptError("%s: set %s is not defined in table %s %s" % (rule["where"], right, table["family"], table["name"]))
        for kind in ("jump", "goto"):
            if kind in item and item[kind]["target"] not in table["chains"]:
                raise NftScriptError("%s: %s to chain %s, which is not defined in table %s %s"
                                     % (rule["where"], kind, item[kind]["target"], table["family"], table["name"]))


def parse_nft_script(path: str, read: Reader, include_dir: str = "/etc", cwd: str = "/") -> Tuple[List[Json], List[Json], List[str]]:
    """(items of ``nft -j list ruleset``, {path, where, text} of each rule item in order, files read) of
    the script PATH. READ(path) gives a file's text (None when it does not exist) and may have a
    ``listdir`` attribute for include globs; a relative include is looked up in INCLUDE_DIR (nft's
    default include path, ``-I``), one beginning with ./ or ../ in CWD (nft's working directory: / when
    systemd starts nftables.service). Raises NftScriptError for anything outside the subset.
    """
    script = _Script(read, include_dir, cwd)
    script.statements(_Stream(script.load(path, 0, None), script))
    items, meta = script.items()
    return items, meta, script.files
