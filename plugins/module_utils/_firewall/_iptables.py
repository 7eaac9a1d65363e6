# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Parse ``iptables-save`` / ``ip6tables-save`` text into the normalized firewall model.

The model is described in docs/firewall-model.md. Every rule keeps its ``-A`` line as ``text``;
matches that cannot be evaluated statically are kept as ``{"key": "unsupported"}`` entries so the
evaluator answers ``unknown`` with the reason instead of guessing.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from ansible_collections.portproof.validate.plugins.module_utils._firewall._iptables_args import QuoteError, arity, owner, words

Json = Dict[str, Any]
Options = List[Tuple[str, List[str], bool]]  # (option, its arguments, negated)
IpSets = Optional[Dict[str, Json]]

# Built-in chains: table -> chain -> (hook, chain type, priority), as iptables registers them
# (the same values iptables-nft gives its base chains).
BUILTIN_CHAINS = {
    "raw": {"PREROUTING": ("prerouting", "filter", -300), "OUTPUT": ("output", "filter", -300)},
    "mangle": {
        "PREROUTING": ("prerouting", "filter", -150), "INPUT": ("input", "filter", -150),
        "FORWARD": ("forward", "filter", -150), "OUTPUT": ("output", "route", -150),
        "POSTROUTING": ("postrouting", "filter", -150),
    },
    "nat": {
        "PREROUTING": ("prerouting", "nat", -100), "INPUT": ("input", "nat", 100),
        "OUTPUT": ("output", "nat", -100), "POSTROUTING": ("postrouting", "nat", 100),
    },
    "filter": {"INPUT": ("input", "filter", 0), "FORWARD": ("forward", "filter", 0), "OUTPUT": ("output", "filter", 0)},
    "security": {"INPUT": ("input", "filter", 50), "FORWARD": ("forward", "filter", 50), "OUTPUT": ("output", "filter", 50)},
}

PROTO_NUMBERS = {
    "1": "icmp", "2": "igmp", "4": "ipip", "6": "tcp", "17": "udp", "33": "dccp", "41": "ipv6", "47": "gre",
    "50": "esp", "51": "ah", "58": "ipv6-icmp", "132": "sctp", "136": "udplite",
}
PROTO_ALIASES = {"icmpv6": "ipv6-icmp", "ipv6-icmp": "ipv6-icmp"}

# Targets that never decide: the packet goes on with the next rule.
_CONTINUE_TARGETS = frozenset((
    "LOG", "NFLOG", "ULOG", "TRACE", "AUDIT", "TCPMSS", "CLASSIFY", "DSCP", "TOS", "TTL", "HL", "CHECKSUM",
    "SET", "IDLETIMER", "LED", "SECMARK", "CONNSECMARK", "TEE", "CT", "NOTRACK", "RATEEST", "NFACCT", "ECN",
))
_LOG_TARGETS = frozenset(("LOG", "NFLOG", "ULOG", "AUDIT"))

# Match modules whose verdict depends on something a static evaluation cannot know.
_UNSUPPORTED_MODULES = {
    "owner": "socket owner is only known for locally generated packets",
    "u32": "u32 inspects raw packet bytes",
    "string": "string inspects the payload",
    "bpf": "bpf runs a program over the packet",
    "socket": "socket depends on the local socket table",
    "time": "time depends on the clock",
    "mac": "mac needs the sender's MAC address",
    "length": "length needs the packet size",
    "ttl": "ttl needs the packet's TTL",
    "hl": "hl needs the packet's hop limit",
    "tos": "tos needs the packet's TOS field",
    "dscp": "dscp needs the packet's DSCP field",
    "ecn": "ecn needs the packet's ECN bits",
    "physdev": "physdev needs the bridge port the packet came in on",
    "cgroup": "cgroup is only known for local sockets",
    "quota": "quota depends on traffic already counted",
    "geoip": "geoip needs its database",
    "helper": "helper depends on conntrack helpers",
    "devgroup": "devgroup needs interface groups",
    "realm": "realm needs routing realms",
    "cpu": "cpu depends on the receiving CPU",
    "ipvs": "ipvs depends on IPVS state",
    "cluster": "cluster depends on the cluster node hash",
    "osf": "osf fingerprints the sender's OS",
    "esp": "esp needs IPsec headers",
    "ah": "ah needs IPsec headers",
    "ipv6header": "ipv6header needs the IPv6 extension headers",
    "nfacct": "nfacct depends on accounting objects",
    "rateest": "rateest depends on measured rates",
    "connbytes": "connbytes depends on traffic already seen",
    "connlabel": "connlabel depends on conntrack labels",
}


class IptablesParseError(ValueError):
    """A line of iptables-save output that does not parse; the message names the line."""


def _proto(value: str) -> str:
    value = value.lower()
    return PROTO_ALIASES.get(value, PROTO_NUMBERS.get(value, value))


def _ports(value: str) -> List[Union[int, str]]:
    """``22`` / ``1000:2000`` / ``22,80,1000:2000`` -> [22, "1000-2000", ...]."""
    out: List[Union[int, str]] = []
    for part in value.split(","):
        if ":" in part:
            first, last = part.split(":", 1)
            low = int(first) if first else 0
            high = int(last) if last else 65535
            out.append(low if low == high else "%d-%d" % (low, high))
        else:
            out.append(int(part))
    return out


def _mark(value: str) -> Tuple[int, int]:
    if "/" in value:
        val, mask = value.split("/", 1)
        return int(val, 0), int(mask, 0)
    return int(value, 0), 0xFFFFFFFF


def _iface(name: str) -> str:
    return name[:-1] + "*" if name.endswith("+") else name


def _match(key: str, values: List[Any], neg: bool, **extra: Any) -> Json:
    item = {"key": key, "op": "ne" if neg else "eq", "values": values}
    item.update(extra)
    return item


def _unsupported(text: str, reason: str) -> Json:
    return {"key": "unsupported", "text": text, "reason": reason}


def _split_options(tokens: List[str]) -> Options:
    """[('--dport', ['22'], neg), ...] for the option tokens of one match module."""
    opts: Options = []
    neg = False
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "!":
            neg = True
            i += 1
            continue
        args: List[str] = []
        i += 1
        while i < len(tokens) and tokens[i] != "!" and not tokens[i].startswith("--"):
            args.append(tokens[i])
            i += 1
        opts.append((tok, args, neg))
        neg = False
    return opts


def _statistic(opts: Options, text: str) -> Json:
    """-m statistic: a random share of the packets (load balancing, kube-proxy's one rule per endpoint)."""
    given = dict((opt, (args, neg)) for opt, args, neg in opts)
    mode = (given.get("--mode") or (["random"], False))[0][0]
    try:
        if mode == "random" and "--probability" in given:
            args, neg = given["--probability"]
            share = float(args[0])
        elif mode == "nth" and "--every" in given:
            args, neg = given["--every"]
            share = 1.0 / int(args[0])
        else:
            return _unsupported(text, "statistic mode %s is not evaluated" % mode)
    except (ValueError, ZeroDivisionError, IndexError):
        return _unsupported(text, "statistic options %s are not understood" % " ".join(given))
    return {"key": "random", "op": "ne" if neg else "eq", "values": [], "mode": mode, "share": share}


def _l4_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    """``-m tcp|udp|udplite|sctp|dccp``: ports and TCP flags."""
    out = []
    for opt, args, neg in opts:
        if opt in ("--dport", "--destination-port"):
            out.append(_match("dport", _ports(args[0]), neg))
        elif opt in ("--sport", "--source-port"):
            out.append(_match("sport", _ports(args[0]), neg))
        elif opt == "--syn":
            out.append(_match("tcp_flags", [["syn"]], neg, mask=["fin", "syn", "rst", "ack"]))
        elif opt == "--tcp-flags":
            mask = [f.lower() for f in args[0].split(",")]
            comp = [f.lower() for f in args[1].split(",") if f.upper() != "NONE"]
            if "all" in mask:
                mask = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"]
            out.append(_match("tcp_flags", [comp], neg, mask=mask))
        else:
            out.append(_unsupported(text, "%s option %s is not evaluated" % (module, opt)))
    return out


def _multiport_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    out = []
    for opt, args, neg in opts:
        if opt in ("--dports", "--destination-ports"):
            out.append(_match("dport", _ports(args[0]), neg))
        elif opt in ("--sports", "--source-ports"):
            out.append(_match("sport", _ports(args[0]), neg))
        elif opt == "--ports":
            out.append(_match("port", _ports(args[0]), neg))
        else:
            out.append(_unsupported(text, "multiport option %s is not evaluated" % opt))
    return out


def _conntrack_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    """``-m state`` and ``-m conntrack``."""
    out = []
    for opt, args, neg in opts:
        if opt in ("--state", "--ctstate"):
            out.append(_match("ct_state", [s.lower() for s in args[0].split(",")], neg))
        elif opt == "--ctstatus":
            out.append(_match("ct_status", [s.lower() for s in args[0].split(",")], neg))
        elif opt == "--ctorigdst":
            out.append(_match("ct_original_daddr", [args[0]], neg))
        elif opt == "--ctorigdstport":
            out.append(_match("ct_original_dport", _ports(args[0]), neg))
        elif opt == "--ctproto":
            out.append(_match("l4proto", [_proto(args[0])], neg))
        elif opt == "--ctdir":
            out.append(_match("ct_direction", [args[0].lower()], neg))
        else:
            out.append(_unsupported(text, "conntrack option %s is not evaluated" % opt))
    return out


def _statistic_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    return [_statistic(opts, text)]


def _comment_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    """``-m comment``: no match, the rule's comment."""
    for opt, args, dummy in opts:
        if opt == "--comment" and args:
            rule["comment"] = args[0]
    return []


def _addrtype_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    limit = None
    for opt, args, dummy in opts:
        if opt == "--limit-iface-in":
            limit = "in"
        elif opt == "--limit-iface-out":
            limit = "out"
    out = []
    for opt, args, neg in opts:
        if opt in ("--src-type", "--dst-type"):
            key = "saddr_type" if opt == "--src-type" else "daddr_type"
            extra = {"iface": limit} if limit else {}
            out.append(_match(key, [t.lower() for t in args[0].split(",")], neg, **extra))
    return out


def _iprange_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    out = []
    for opt, args, neg in opts:
        if opt == "--src-range":
            out.append(_match("saddr", [args[0]], neg))
        elif opt == "--dst-range":
            out.append(_match("daddr", [args[0]], neg))
    return out


def _mark_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    """``-m mark`` and ``-m connmark``."""
    key = "mark" if module == "mark" else "ct_mark"
    out = []
    for opt, args, neg in opts:
        if opt == "--mark":
            value, mask = _mark(args[0])
            out.append(_match(key, [value], neg, mask=mask))
    return out


def _limit_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    """``-m limit`` and ``-m hashlimit``."""
    over = any(opt in ("--hashlimit-above",) for opt, dummy, dummy2 in opts)
    return [{"key": "limit", "op": "over" if over else "under", "text": text}]


def _recent_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    item: Json = {"key": "recent", "mode": "rcheck", "name": "DEFAULT", "hitcount": None, "neg": False, "text": text}
    for opt, args, neg in opts:
        if opt in ("--set", "--rcheck", "--update", "--remove"):
            item["mode"] = opt[2:]
            item["neg"] = neg
        elif opt == "--name":
            item["name"] = args[0]
        elif opt == "--hitcount":
            item["hitcount"] = int(args[0])
    return [item]


def _connlimit_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    above = any(opt == "--connlimit-above" for opt, dummy, dummy2 in opts)
    return [{"key": "connlimit", "op": "above" if above else "upto", "text": text}]


def _set_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    out = []
    for opt, args, neg in opts:
        if opt == "--match-set":
            out.append(_set_match(args[0], args[1].split(","), neg, ipsets, text))
    return out


def _icmp_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    """``-m icmp`` and ``-m icmp6``."""
    key = "icmp_type" if module == "icmp" else "icmpv6_type"
    out = []
    for opt, args, neg in opts:
        if opt in ("--icmp-type", "--icmpv6-type"):
            out.append(_match(key, [args[0]], neg))
    return out


def _pkttype_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    out = []
    for opt, args, neg in opts:
        if opt == "--pkt-type":
            out.append(_match("pkttype", [args[0].lower()], neg))
    return out


def _rpfilter_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    given = set(opt for opt, dummy, dummy2 in opts)
    extra = dict((key, True) for key, opt in (("loose", "--loose"), ("accept_local", "--accept-local")) if opt in given)
    return [_match("rpfilter", ["fail" if "--invert" in given else "pass"], False, **extra)]


def _exthdr_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    """``-m rt|frag|hbh|dst|mh`` match only packets that carry that IPv6 extension header, whatever "!" they use."""
    return [{"key": "ipv6_exthdr", "op": "eq", "values": [module], "text": text}]


def _policy_matches(module: str, opts: Options, text: str, ipsets: IpSets, rule: Json) -> List[Json]:
    pol = [args[0] for opt, args, dummy in opts if opt == "--pol"]
    return [_match("ipsec", pol or ["ipsec"], False)]


# Match module name -> its parser (module, options, the ``-m`` text, ipsets, rule) -> matches.
_MODULE_PARSERS: Dict[str, Callable[[str, Options, str, IpSets, Json], List[Json]]] = {
    "tcp": _l4_matches, "udp": _l4_matches, "udplite": _l4_matches, "sctp": _l4_matches, "dccp": _l4_matches,
    "multiport": _multiport_matches,
    "state": _conntrack_matches, "conntrack": _conntrack_matches,
    "statistic": _statistic_matches,
    "comment": _comment_matches,
    "addrtype": _addrtype_matches,
    "iprange": _iprange_matches,
    "mark": _mark_matches, "connmark": _mark_matches,
    "limit": _limit_matches, "hashlimit": _limit_matches,
    "recent": _recent_matches,
    "connlimit": _connlimit_matches,
    "set": _set_matches,
    "icmp": _icmp_matches, "icmp6": _icmp_matches,
    "pkttype": _pkttype_matches,
    "rpfilter": _rpfilter_matches,
    "rt": _exthdr_matches, "frag": _exthdr_matches, "hbh": _exthdr_matches, "dst": _exthdr_matches, "mh": _exthdr_matches,
    "policy": _policy_matches,
}


def _module_matches(module: str, opts: Options, ipsets: IpSets, rule: Json) -> List[Json]:
    """Normalized matches for ``-m MODULE`` with its options (wherever they stood); may set rule['comment']."""
    text = " ".join(["-m", module] + [word for opt, args, neg in opts for word in (["!"] if neg else []) + [opt] + args])
    parser = _MODULE_PARSERS.get(module)
    if parser is None:
        return [_unsupported(text, _UNSUPPORTED_MODULES.get(module, "match module %s is not evaluated" % module))]
    return parser(module, opts, text, ipsets, rule)


def _set_match(name: str, dirs: List[str], neg: bool, ipsets: IpSets, text: str) -> Json:
    """``-m set --match-set NAME src,dst``: the ipset's content as a match."""
    if ipsets is None:
        return _unsupported(text, "ipset %s: set contents unavailable (ipset save failed or missing)" % name)
    ipset = ipsets.get(name)
    if ipset is None:
        return _unsupported(text, "ipset %s is not in the ipset save output" % name)
    if ipset.get("unsupported"):
        return _unsupported(text, "ipset %s: %s" % (name, ipset["unsupported"]))
    dims = ipset["dimensions"]
    if len(dirs) < len(dims):
        return _unsupported(text, "ipset %s has %d dimensions, the rule gives %d" % (name, len(dims), len(dirs)))
    keys = []
    for dim, direction in zip(dims, dirs):
        side = "s" if direction == "src" else "d"
        keys.append(side + ("addr" if dim in ("ip", "net") else "port"))
    if len(keys) == 1:
        return _match(keys[0], [e[0] for e in ipset["elements"]], neg, set=name)
    return _match("concat", [list(e) for e in ipset["elements"]], neg, keys=keys, set=name)


def _target(name: str, tokens: List[str], chains: Dict[str, Json]) -> Tuple[List[Json], Optional[Json]]:
    """(statements, verdict) for ``-j NAME tokens``."""
    opts = dict((opt, args) for opt, args, dummy in _split_options(tokens))
    if name == "ACCEPT":
        return [], {"kind": "accept"}
    if name == "DROP":
        return [], {"kind": "drop"}
    if name == "REJECT":
        return [], {"kind": "reject", "with": opts["--reject-with"][0] if opts.get("--reject-with") else None}
    if name == "RETURN":
        return [], {"kind": "return"}
    if name in chains:
        return [], {"kind": "jump", "chain": name}
    if name in ("DNAT", "REDIRECT"):
        return [], _nat_target(name, opts)
    if name in ("SNAT", "MASQUERADE"):
        return [], {"kind": name.lower()}
    if name in ("MARK", "CONNMARK"):
        return [_mark_statement(name, opts)], None
    if name == "NOTRACK" or (name == "CT" and "--notrack" in opts):
        return [{"kind": "notrack"}], None
    if name in _CONTINUE_TARGETS:
        return [{"kind": "log" if name in _LOG_TARGETS else "other", "name": name}], None
    if name in ("QUEUE", "NFQUEUE"):
        return [], {"kind": "unsupported", "name": name, "reason": "%s hands the packet to a userspace program" % name}
    return [], {"kind": "unsupported", "name": name, "reason": "target %s is not evaluated" % name}


def _nat_target(name: str, opts: Dict[str, List[str]]) -> Json:
    if name == "REDIRECT":
        ports = (opts.get("--to-ports") or [""])[0]
        return {"kind": "redirect", "port": _nat_port(ports.replace(":", "-")) if ports else None}
    dest = (opts.get("--to-destination") or [""])[0]
    addr, port = dest, None
    if dest.startswith("["):
        addr, dummy, rest = dest[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif dest.count(":") == 1:
        addr, port = dest.split(":")
    return {"kind": "dnat", "addr": addr or None, "port": _nat_port(port) if port else None}


def _nat_port(port: str) -> Union[int, str]:
    return int(port) if port.isdigit() else port


def _mark_statement(name: str, opts: Dict[str, List[str]]) -> Json:
    key = "mark" if name == "MARK" else "ct_mark"
    for opt, args in opts.items():
        if opt in ("--set-xmark", "--set-mark"):
            value, mask = _mark(args[0])
            if opt == "--set-mark":
                return {"kind": "set", "key": key, "value": value, "mask": mask, "mode": "set"}
            return {"kind": "set", "key": key, "value": value, "mask": mask, "mode": "xmark"}
        if opt in ("--or-mark", "--and-mark", "--xor-mark"):
            value = int(args[0], 0)
            return {"kind": "set", "key": key, "value": value, "mask": 0xFFFFFFFF, "mode": opt[2:-5]}
        if opt == "--save-mark":
            return {"kind": "copy", "from": "mark", "to": "ct_mark"}
        if opt == "--restore-mark":
            return {"kind": "copy", "from": "ct_mark", "to": "mark"}
    return {"kind": "unsupported", "name": name, "reason": "%s options not understood" % name}


_GENERIC = frozenset(("-s", "--source", "-d", "--destination", "-i", "--in-interface", "-o", "--out-interface", "-p",
                      "--protocol", "-f", "--fragment", "-c", "--set-counters", "-m", "--match", "-j", "--jump", "-g",
                      "--goto"))


def _is_option(word: str) -> bool:
    return word in _GENERIC or word.startswith("--")


def _values(tokens: List[str], start: int, count: Optional[int], line: str) -> List[str]:
    """The COUNT values of an option from START (None: up to the next option or "!"); a missing one is an error."""
    if count is None:
        end = start
        while end < len(tokens) and tokens[end] != "!" and not _is_option(tokens[end]):
            end += 1
        return tokens[start:end]
    if start + count > len(tokens):
        raise IptablesParseError("option %s needs %d value(s) in rule %r" % (tokens[start - 1], count, line))
    return tokens[start:start + count]


def parse_rule(line: str, chains: Dict[str, Json], ipsets: IpSets) -> Tuple[str, Json]:
    """One ``-A CHAIN ...`` line -> (chain name, rule dict).

    The line is read as iptables-restore reads it (_iptables_args): an option of a match module counts wherever it
    stands after its ``-m`` (the generic options and other modules' options may come between); a word that no
    option takes is refused, as iptables-restore refuses it ("Bad argument")."""
    try:
        tokens = words(line)
    except QuoteError as exc:
        raise IptablesParseError("%s in %r" % (exc, line))
    if len(tokens) < 2 or tokens[0] != "-A":
        raise IptablesParseError("not a rule line: %r" % line)
    rule: Json = {"text": line, "comment": None, "match": [], "statements": [], "verdict": None}
    # the generic matches in order, and a slot per match module (filled once all its options are known)
    slots: List[Union[Json, int]] = []
    loaded: List[str] = []
    options: List[Options] = []
    target: Optional[Tuple[str, List[str]]] = None
    i = 2
    neg = False
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        if tok == "!":
            neg = True
            i += 1
            continue
        if tok in ("-s", "--source", "-d", "--destination"):
            slots.append(_match("saddr" if tok in ("-s", "--source") else "daddr", _values(tokens, i + 1, 1, line), neg))
            i += 2
        elif tok in ("-i", "--in-interface", "-o", "--out-interface"):
            key = "iifname" if tok in ("-i", "--in-interface") else "oifname"
            slots.append(_match(key, [_iface(_values(tokens, i + 1, 1, line)[0])], neg))
            i += 2
        elif tok in ("-p", "--protocol"):
            proto = _proto(_values(tokens, i + 1, 1, line)[0])
            if proto != "all":
                slots.append(_match("l4proto", [proto], neg))
            i += 2
        elif tok in ("-f", "--fragment"):
            slots.append(_match("fragment", [True], neg))
            i += 1
        elif tok in ("-c", "--set-counters"):
            i += 3
        elif tok in ("-m", "--match"):
            loaded.append(_values(tokens, i + 1, 1, line)[0])
            options.append([])
            slots.append(len(loaded) - 1)
            i += 2
        elif tok in ("-j", "--jump"):
            target = (_values(tokens, i + 1, 1, line)[0], [])
            i += 2
        elif tok in ("-g", "--goto"):
            rule["verdict"] = {"kind": "goto", "chain": _values(tokens, i + 1, 1, line)[0]}
            i += 2
        elif tok.startswith("--") and (loaded or target):
            index = owner(tok, loaded)
            if index is None and target is not None:
                # an option no known module has: the target's (iptables-save writes them last), as written
                args = _values(tokens, i + 1, None, line)
                target[1].extend((["!"] if neg else []) + [tok] + args)
            else:
                index = len(loaded) - 1 if index is None else index
                args = _values(tokens, i + 1, arity(loaded[index], tok), line)
                options[index].append((tok, args, neg))
            i += 1 + len(args)
        else:
            # iptables-restore: "Bad argument" for a word no option takes, "unknown option" for an option
            raise IptablesParseError("unexpected %r in rule %r" % (tok, line))
        neg = False
    if target is not None:
        statements, verdict = _target(target[0], target[1], chains)
        rule["statements"].extend(statements)
        rule["verdict"] = verdict
    for slot in slots:
        if isinstance(slot, int):
            rule["match"].extend(_module_matches(loaded[slot], options[slot], ipsets, rule))
        else:
            rule["match"].append(slot)
    return tokens[1], rule


def parse_save(text: str, family: str, source: str, ipsets: IpSets = None) -> Tuple[List[Json], List[str]]:
    """Tables of one ``iptables-save`` (family ``ip``) or ``ip6tables-save`` (``ip6``) dump.

    Returns (tables, incompatible): ``incompatible`` lists the table names iptables-nft-save
    reports as not its own (they are read from nft instead).
    """
    tables: List[Json] = []
    incompatible: List[str] = []
    table: Optional[Json] = None
    chains: Dict[str, Json] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("# Table `") and "incompatible" in line:
                # "# Table `nat' contains incompatible base-chains, use 'nft' tool to list them."
                # (1.8.9) or "# Table `filter' is incompatible, use 'nft' tool." (older)
                incompatible.append(line[len("# Table `"):].split("'", 1)[0])
            continue
        try:
            if line.startswith("*"):
                table = {"source": source, "family": family, "name": line[1:], "chains": []}
                chains = {}
                tables.append(table)
            elif line.startswith(":"):
                if table is None:
                    raise IptablesParseError("a chain outside a table (no *TABLE line before it)")
                name, policy = line[1:].split()[:2]
                builtin = BUILTIN_CHAINS.get(table["name"], {}).get(name)
                chain: Json = {"name": name, "hook": None, "type": None, "priority": None, "policy": None, "device": None,
                               "rules": []}
                if builtin and policy != "-":
                    chain.update(hook=builtin[0], type=builtin[1], priority=builtin[2], policy=policy.lower())
                chains[name] = chain
                table["chains"].append(chain)
            elif line == "COMMIT":
                table = None
            elif line.startswith("-A "):
                name, rule = parse_rule(line, chains, ipsets)
                if name not in chains:
                    raise IptablesParseError("chain %s is not declared" % name)
                chain = chains[name]
                rule["index"] = len(chain["rules"]) + 1
                chain["rules"].append(rule)
            else:
                raise IptablesParseError("unexpected line")
        except (IptablesParseError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise IptablesParseError("%s line %d: %s: %r" % (source, number, exc, raw))
    return tables, incompatible
