# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The rules ufw loads at boot, from its files, without loading anything.

``ufw_boot_rules(read)`` replays what ``ufw_start`` of ``/lib/ufw/ufw-init-functions`` (ufw 0.36)
feeds to ``iptables-restore -n`` at boot, per IP version: the primary chains and their jumps from
INPUT/OUTPUT/FORWARD, the reject and tracking chains of the default policies
(``/etc/default/ufw``), ``before.rules``, ``after.rules``, ``user.rules`` (``before6``, ``after6``,
``user6`` for IPv6) and the built-in chains' policies last, into one iptables-save text per
version. ``iptables-restore -n`` semantics: a ``:CHAIN`` line flushes an existing user chain or
creates it, sets a built-in chain's policy; ``-A`` appends, ``-I`` inserts.

Raises UfwBootError naming what cannot be replayed (an executable ``before.init``/``after.init``,
a command the replay does not know, a rules file ufw-init itself would not load).
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._firewall._iptables_args import QuoteError, save_quoted
from ansible_collections.portproof.validate.plugins.module_utils._firewall._iptables_args import words as restore_words

Read = Callable[[str], Optional[str]]

BUILTIN = {"filter": ("INPUT", "FORWARD", "OUTPUT"), "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
           "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"), "raw": ("PREROUTING", "OUTPUT"),
           "security": ("INPUT", "FORWARD", "OUTPUT")}
_PRIMARY = ("before-logging-input", "before-logging-output", "before-logging-forward", "before-input", "before-output",
            "before-forward", "after-input", "after-output", "after-forward", "after-logging-input", "after-logging-output",
            "after-logging-forward", "reject-input", "reject-output", "reject-forward", "track-input", "track-output",
            "track-forward")
_HOOKS = (("INPUT", "input"), ("OUTPUT", "output"), ("FORWARD", "forward"))
_JUMPS = ("before-logging-%s", "before-%s", "after-%s", "after-logging-%s", "reject-%s", "track-%s")
_USER = ("user-input", "user-output", "user-forward", "user-logging-input", "user-logging-output", "user-logging-forward",
         "user-limit", "user-limit-accept")
# iptables loads these match modules implicitly after -p; iptables-save names them and writes their
# options right after them (-p tcp -m tcp --dport 22). Each option with the number of values it takes.
_PORTS = {"--dport": 1, "--sport": 1, "--destination-port": 1, "--source-port": 1}
_IMPLICIT = {"tcp": ("tcp", dict(_PORTS, **{"--tcp-flags": 2, "--syn": 0, "--tcp-option": 1})),
             "udp": ("udp", _PORTS),
             "sctp": ("sctp", dict(_PORTS, **{"--chunk-types": 2})),
             "dccp": ("dccp", dict(_PORTS, **{"--dccp-types": 1, "--dccp-option": 1})),
             "icmp": ("icmp", {"--icmp-type": 1}),
             "icmpv6": ("icmp6", {"--icmpv6-type": 1}), "ipv6-icmp": ("icmp6", {"--icmpv6-type": 1})}
_GENERIC = {"-s": 1, "--source": 1, "--src": 1, "-d": 1, "--destination": 1, "--dst": 1, "-i": 1, "--in-interface": 1,
            "-o": 1, "--out-interface": 1, "-p": 1, "--protocol": 1, "-f": 0, "--fragment": 0}


class UfwBootError(ValueError):
    """ufw's boot rules cannot be replayed; the message says why."""


def implicit_matches(line: str) -> str:
    """An ``-A`` rule line in the order iptables-save writes it: the generic options first (``-s``,
    ``-d``, ``-i``, ``-o``, ``-p``, ``-f``), then the match module that ``-p PROTO`` loads implicitly,
    named, with its options (``-A X -p tcp --dport 22 -s 10.0.0.2 -j ACCEPT`` becomes
    ``-A X -s 10.0.0.2 -p tcp -m tcp --dport 22 -j ACCEPT``), then the rest in its order. A line
    already in that order is returned as it is. Words are split as iptables-restore splits them (a quoted
    comment that holds ``-s`` stays one word) and quoted again as iptables-save quotes them."""
    try:
        words = restore_words(line)
    except QuoteError:
        return line  # the parser names the line
    if len(words) < 3 or words[0] != "-A":
        return line
    proto = [words[i + 1].lower() for i, word in enumerate(words[:-1]) if word in ("-p", "--protocol")]
    module, options = _IMPLICIT.get(proto[0], ("", {})) if len(proto) == 1 else ("", {})
    if module and any(words[i + 1] == module for i, word in enumerate(words[:-1]) if word in ("-m", "--match")):
        module, options = "", {}
    generic: List[str] = []
    moved: List[str] = []
    rest: List[str] = []
    index = 2
    while index < len(words):
        negated = words[index] == "!" and index + 1 < len(words) and (words[index + 1] in options or words[index + 1] in _GENERIC)
        option = words[index + 1] if negated else words[index]
        if option in options or option in _GENERIC:
            end = index + int(negated) + 1 + (options[option] if option in options else _GENERIC[option])
            (moved if option in options else generic).extend(words[index:end])
            index = end
        else:
            rest.append(words[index])
            index += 1
    ordered = words[:2] + generic + (["-m", module] + moved if moved else []) + rest
    return line if ordered == words else " ".join(save_quoted(word) for word in ordered)


class Restore(object):
    """Tables built by a sequence of ``iptables-restore -n`` inputs."""

    def __init__(self) -> None:
        # table -> chain -> (policy or None for a user chain, rule lines)
        self.tables: Dict[str, Dict[str, Tuple[Optional[str], List[str]]]] = {}
        # table -> chain -> the file of each rule line
        self.origins: Dict[str, Dict[str, List[str]]] = {}

    def _table(self, name: str) -> Dict[str, Tuple[Optional[str], List[str]]]:
        if name not in self.tables:
            if name not in BUILTIN:
                raise UfwBootError("unknown table %s" % name)
            self.tables[name] = dict((chain, ("ACCEPT", [])) for chain in BUILTIN[name])
        return self.tables[name]

    def load(self, text: str, where: str) -> None:
        table: Optional[Dict[str, Tuple[Optional[str], List[str]]]] = None
        origins: Dict[str, List[str]] = {}
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                if line.startswith("*"):
                    table = self._table(line[1:].strip())
                    origins = self.origins.setdefault(line[1:].strip(), {})
                elif line == "COMMIT":
                    table = None
                elif table is None:
                    raise UfwBootError("outside a table")
                elif line.startswith(":"):
                    name, policy = line[1:].split()[:2]
                    if policy != "-":
                        if name not in table or table[name][0] is None:
                            raise UfwBootError("a policy for the user chain %s" % name)
                        table[name] = (policy.upper(), table[name][1])
                    else:
                        table[name] = (None, [])  # created, or flushed as iptables-restore -n does
                        origins[name] = []
                elif line.startswith(("-A ", "-I ")):
                    words = line.split()
                    name = words[1]
                    if name not in table:
                        raise UfwBootError("chain %s does not exist" % name)
                    rules = table[name][1]
                    where_from = origins.setdefault(name, [])
                    if words[0] == "-A":
                        rules.append(implicit_matches(line))
                        where_from.append(where)
                    else:
                        position, rest = 1, words[2:]
                        if rest and rest[0].isdigit():
                            position, rest = int(rest[0]), rest[1:]
                        rules.insert(position - 1, implicit_matches(" ".join(["-A", name] + rest)))
                        where_from.insert(position - 1, where)
                else:
                    raise UfwBootError("a command the replay does not know")
            except (UfwBootError, ValueError, IndexError) as exc:
                raise UfwBootError("%s line %d: %s: %r" % (where, number, exc, raw))

    def save(self) -> str:
        """The tables as iptables-save text."""
        out: List[str] = []
        for name, chains in self.tables.items():
            out.append("*" + name)
            out.extend(":%s %s [0:0]" % (chain, policy or "-") for chain, (policy, dummy) in chains.items())
            out.extend(rule for dummy, rules in chains.values() for rule in rules)
            out.append("COMMIT")
        return "\n".join(out) + "\n"


def _keyvals(text: Optional[str]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip().strip("\"'")
    return out


def ufw_enabled(read: Read) -> bool:
    return _keyvals(read("/etc/ufw/ufw.conf")).get("ENABLED", "") in ("yes", "YES")


def _filter(lines: List[str]) -> str:
    return "*filter\n" + "\n".join(lines) + "\nCOMMIT\n"


Origins = Dict[str, Dict[str, List[str]]]


def ufw_boot_rules(read: Read, executable: Callable[[str], bool]) -> List[Tuple[str, str, List[str], Origins]]:
    """[(model family ip/ip6, iptables-save text, the files it came from, {table: {chain: [file of each rule]}})]
    of what ufw loads at boot."""
    for hook in ("/etc/ufw/before.init", "/etc/ufw/after.init"):
        if executable(hook):
            raise UfwBootError("%s is executable: ufw runs it at start and what it does is not known" % hook)
    defaults = _keyvals(read("/etc/default/ufw"))
    policy = dict((hook, defaults.get("DEFAULT_%s_POLICY" % hook.upper(), "DROP" if hook != "output" else "ACCEPT").upper())
                  for dummy, hook in _HOOKS)
    for hook, value in policy.items():
        if value not in ("ACCEPT", "DROP", "REJECT"):
            raise UfwBootError("/etc/default/ufw: DEFAULT_%s_POLICY=%s is not ACCEPT, DROP or REJECT" % (hook.upper(), value))
    out: List[Tuple[str, str, List[str], Origins]] = []
    ipv6 = defaults.get("IPV6", "yes") in ("yes", "YES")
    for family, kind in (("ip", ""), ("ip6", "6")):
        if kind and not ipv6:
            out.append((family, "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\n"
                                "-A OUTPUT -o lo -j ACCEPT\nCOMMIT\n", ["/etc/default/ufw"], {"filter": {"INPUT": ["ufw-init"], "OUTPUT": ["ufw-init"]}}))
            continue
        pre = "ufw%s-" % kind
        restore = Restore()
        lines = [":%s%s - [0:0]" % (pre, chain) for chain in _PRIMARY]
        lines += ["-A %s -j %s%s" % (builtin, pre, jump % hook) for builtin, hook in _HOOKS for jump in _JUMPS]
        restore.load(_filter(lines), "ufw-init")
        lines = []
        for builtin, hook in _HOOKS:
            if policy[hook] == "REJECT":
                lines.append("-A %sreject-%s -j REJECT" % (pre, hook))
        for builtin, hook in (("INPUT", "input"), ("OUTPUT", "output"), ("FORWARD", "forward")):
            if policy[hook] == "ACCEPT":
                lines += ["-A %strack-%s -p %s -m conntrack --ctstate NEW -j ACCEPT" % (pre, hook, proto) for proto in ("tcp", "udp")]
        lines += [":%slogging-deny - [0:0]" % pre, ":%slogging-allow - [0:0]" % pre]
        lines += [":%sskip-to-policy-%s - [0:0]" % (pre, hook) for dummy, hook in _HOOKS]
        lines += ["-A %sskip-to-policy-%s -j %s" % (pre, hook, policy[hook]) for dummy, hook in _HOOKS]
        restore.load(_filter(lines), "ufw-init")
        files = []
        for name in ("before", "after"):
            path = "/etc/ufw/%s%s.rules" % (name, kind)
            text = read(path)
            if not text:
                raise UfwBootError("%s is missing or empty: ufw-init fails to load it at boot" % path)
            restore.load(text, path)
            files.append(path)
        path = "/etc/ufw/user%s.rules" % kind
        text = read(path)
        if not text:
            raise UfwBootError("%s is missing or empty: ufw-init fails to load it at boot" % path)
        restore.load(_filter([":%s%s - [0:0]" % (pre, chain) for chain in _USER]), "ufw-init")
        restore.load(text, path)
        files.append(path)
        restore.load(_filter(["-A %sbefore-%s -j %suser-%s" % (pre, hook, pre, hook) for dummy, hook in (_HOOKS[0], _HOOKS[1], _HOOKS[2])]),
                     "ufw-init")
        restore.load(_filter([":%s %s [0:0]" % (builtin, "DROP" if policy[hook] == "REJECT" else policy[hook]) for builtin, hook in _HOOKS]),
                     "ufw-init")
        out.append((family, restore.save(), files + ["/etc/default/ufw"], restore.origins))
    return out
