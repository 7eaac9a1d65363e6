# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The words of an ``-A`` rule line as ``iptables-restore`` reads them, and which match module owns an option.

``words(line)`` splits a line as ``add_param_to_argv`` of iptables 1.8.9 does: a double quote opens
and closes a quoted part (joined with the unquoted text next to it: ``x"y z"`` is ``xy z``), a
backslash escapes the next character inside double quotes only, and a single quote is an ordinary
character (``--comment 'allow web'`` is two words, which iptables-restore refuses).

``OPTIONS``: per match module, its options and how many values each takes. iptables merges the
options of every loaded module into one ``getopt`` table, the module loaded last first, so an option
belongs to the last module loaded before it that knows it, wherever it stands in the rule
(``-m tcp -s 10.0.0.0/8 --dport 22``, ``-m tcp -m comment --comment x --dport 22``).
"""

from __future__ import annotations

from typing import Dict, List, Optional

_PORT_OPTIONS = {"--dport": 1, "--sport": 1, "--destination-port": 1, "--source-port": 1}
# module -> option -> number of values. A module that is not here takes the values that follow an option up to
# the next option (its options are not known, so it owns an option only when no module here does).
OPTIONS: Dict[str, Dict[str, int]] = {
    "tcp": dict(_PORT_OPTIONS, **{"--syn": 0, "--tcp-flags": 2, "--tcp-option": 1}),
    "udp": _PORT_OPTIONS, "udplite": _PORT_OPTIONS,
    "sctp": dict(_PORT_OPTIONS, **{"--chunk-types": 2}),
    "dccp": dict(_PORT_OPTIONS, **{"--dccp-types": 1, "--dccp-option": 1}),
    "multiport": {"--dports": 1, "--destination-ports": 1, "--sports": 1, "--source-ports": 1, "--ports": 1},
    "state": {"--state": 1},
    "conntrack": {"--ctstate": 1, "--ctstatus": 1, "--ctproto": 1, "--ctorigsrc": 1, "--ctorigdst": 1, "--ctreplsrc": 1,
                  "--ctrepldst": 1, "--ctorigsrcport": 1, "--ctorigdstport": 1, "--ctreplsrcport": 1,
                  "--ctrepldstport": 1, "--ctdir": 1, "--ctexpire": 1},
    "statistic": {"--mode": 1, "--probability": 1, "--every": 1, "--packet": 1},
    "comment": {"--comment": 1},
    "addrtype": {"--src-type": 1, "--dst-type": 1, "--limit-iface-in": 0, "--limit-iface-out": 0},
    "iprange": {"--src-range": 1, "--dst-range": 1},
    "mark": {"--mark": 1}, "connmark": {"--mark": 1},
    "limit": {"--limit": 1, "--limit-burst": 1},
    "recent": {"--set": 0, "--rcheck": 0, "--update": 0, "--remove": 0, "--name": 1, "--seconds": 1, "--reap": 0,
               "--hitcount": 1, "--rttl": 0, "--rsource": 0, "--rdest": 0, "--mask": 1},
    "connlimit": {"--connlimit-upto": 1, "--connlimit-above": 1, "--connlimit-mask": 1, "--connlimit-saddr": 0,
                  "--connlimit-daddr": 0},
    "set": {"--match-set": 2, "--return-nomatch": 0, "--update-counters": 0, "--update-subcounters": 0,
            "--packets-eq": 1, "--packets-lt": 1, "--packets-gt": 1, "--bytes-eq": 1, "--bytes-lt": 1, "--bytes-gt": 1},
    "icmp": {"--icmp-type": 1}, "icmp6": {"--icmpv6-type": 1},
    "pkttype": {"--pkt-type": 1},
    "rpfilter": {"--loose": 0, "--validmark": 0, "--accept-local": 0, "--invert": 0},
    "policy": {"--dir": 1, "--pol": 1, "--strict": 0, "--reqid": 1, "--spi": 1, "--proto": 1, "--mode": 1,
               "--tunnel-src": 1, "--tunnel-dst": 1, "--next": 0},
}


class QuoteError(ValueError):
    """A line with a double quote that is never closed."""


def words(line: str) -> List[str]:
    """The words of LINE as iptables-restore 1.8.9 splits them (see the module docstring)."""
    out: List[str] = []
    word: List[str] = []
    started, quoted, escaped = False, False, False
    for char in line:
        if quoted:
            if escaped:
                word.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
            else:
                word.append(char)
        elif char == '"':
            quoted, started = True, True
        elif char in " \t\n":
            if started:
                out.append("".join(word))
            word, started = [], False
        else:
            word.append(char)
            started = True
    if quoted:
        raise QuoteError("unterminated quote")
    if started:
        out.append("".join(word))
    return out


def save_quoted(word: str) -> str:
    """WORD so that words() reads it back as one word: as it is unless it is empty or holds a blank or ``"``, else
    in double quotes with ``"`` and ``\\`` escaped (as iptables-save quotes a comment)."""
    if word and not any(char in ' \t\n"' for char in word):
        return word
    return '"%s"' % "".join("\\" + char if char in '"\\' else char for char in word)


def owner(option: str, loaded: List[str]) -> Optional[int]:
    """The index in LOADED (the modules loaded so far, in order) of the module OPTION belongs to, or None when no
    module whose options are known has it."""
    for index in range(len(loaded) - 1, -1, -1):
        if option in OPTIONS.get(loaded[index], {}):
            return index
    return None


def arity(module: str, option: str) -> Optional[int]:
    """How many values OPTION of MODULE takes, None when not known (it takes the values up to the next option)."""
    return OPTIONS.get(module, {}).get(option)
