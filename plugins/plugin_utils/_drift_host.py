# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Host-level drift: what changed since the baseline in what no service declares.

The baseline keeps, besides the declared services, the host's own state (``host_state``): every
listener of the host's network namespace, every published container port, and the firewall's
openings - for each port a rule names, and for any other port, the sources a new connection is
accepted from (``public``, IPv4 and IPv6, and one address of each source network the rules
name). Drift (``host_drift``) compares what no current service declares and ``portproof_ignore``
does not ignore: one ``drift`` result without a service per changed port (a new or gone
listener, other addresses or processes, a new, gone or changed published port, a port the
firewall now accepts from more or fewer sources), else one ``pass``.
"""

from __future__ import annotations

from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import FirewallError
from ansible_collections.portproof.validate.plugins.module_utils._verdict._match import PacketError, port_interval
from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import parse_network, version_of
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import Service, parse_port_spec
from ansible_collections.portproof.validate.plugins.plugin_utils._firewall_checks import (
    PUBLIC, compile_firewall, destination, inbound_verdict,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import (
    Facts, Item, RawFacts, Result, host_ports, result, spec,
)

from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

# One saved listener or mapping record, or the openings (see host_state).
Record = Dict[str, Any]
# One change of the host and its message: ({aspect, change, was, now, port}, text).
Change = Tuple[Dict[str, Any], str]
# A port and protocol a rule names.
PortProto = Tuple[int, str]
# (label, address) of a source whose verdicts are decided.
SourcePair = Tuple[str, str]
# For one (protocol, port): (the labels accepted, the labels checked).
Side = Tuple[Set[str], Set[str]]
# The fields a saved record needs, and their types: {list name: ((field, types), ...)}.
Shape = Mapping[str, Sequence[Tuple[str, Tuple[type, ...]]]]

MAX_PORTS = 256  # (port, protocol) pairs named by rules that are decided (the lowest)
MAX_SOURCES = 64  # source networks named by rules that are decided (the first)
PROTOS = ("tcp", "udp")
OTHER = "any other port"


def _listener(item: Item) -> Record:
    return {"address": item.get("address"), "port": item.get("port"), "proto": item.get("proto"), "family": item.get("family"),
            "dual_stack": item.get("dual_stack"), "interface": item.get("interface"), "process": item.get("process"),
            "user": item.get("user")}


def _mapping(item: Item) -> Record:
    image = item.get("image") or {}
    return {"container": item.get("container"), "target_port": item.get("target_port"), "proto": item.get("proto"),
            "host_ip": item.get("host_ip") or "0.0.0.0", "host_port": item.get("host_port"), "image": image.get("name")}


def _rules(firewall: Dict[str, Any]) -> Iterator[List[Dict[str, Any]]]:
    for table in firewall.get("tables") or []:
        for chain in table.get("chains") or []:
            for rule in chain.get("rules") or []:
                yield [match for match in rule.get("match") or [] if isinstance(match, dict) and match.get("op", "eq") == "eq"]


def _rule_ports(matches: List[Dict[str, Any]]) -> List[PortProto]:
    """[(port, proto)] a rule names (a range by its ends), for the rule's protocol, else both."""
    protos = [value for match in matches if match.get("key") == "l4proto" for value in match.get("values") or [] if value in PROTOS]
    ports: List[PortProto] = []
    for match in matches:
        if match.get("key") != "dport":
            continue
        for value in match.get("values") or []:
            try:
                low, high = port_interval(value)
            except (TypeError, ValueError):
                continue  # a named set: its ports are not known here
            ports += [(port, proto) for port in sorted({low, high}) if 1 <= port <= 65535 for proto in protos or PROTOS]
    return ports


def _rule_sources(matches: List[Dict[str, Any]]) -> List[SourcePair]:
    """[(label, address)]: the first address of each source network a rule names."""
    sources: List[SourcePair] = []
    for match in matches:
        if match.get("key") != "saddr":
            continue
        for value in match.get("values") or []:
            try:
                net = parse_network(str(value))
            except ValueError:
                continue
            sources.append((str(value) if net.size == 1 else "%s (%s)" % (value, net[1] if net.size > 2 else net[0]),
                            str(net[1] if net.size > 2 else net[0])))
    return sources


def _plan(firewall: Dict[str, Any]) -> Tuple[Set[PortProto], List[SourcePair], Dict[str, Optional[Set[PortProto]]]]:
    """(ports, sources, pairs): the ports rules name, public and the source networks they name, and for each of
    these the ports its own rules name (where it is decided, besides any other port; None: every port, for a
    rule that names no port)."""
    ports: Set[PortProto] = set()
    sources: List[SourcePair] = [("public (%s)" % address, address) for address in PUBLIC]
    pairs: Dict[str, Optional[Set[PortProto]]] = {}
    for matches in _rules(firewall):
        named = _rule_ports(matches)
        ports.update(named)
        for source in _rule_sources(matches):
            if source[1] not in pairs and len(pairs) < MAX_SOURCES:
                pairs[source[1]] = set()
                sources.append(source)
            decided = pairs.get(source[1])
            if source[1] in pairs and decided is not None:
                if named:
                    decided.update(named)
                else:
                    pairs[source[1]] = None  # a rule for every port: decided on every port
    return set(sorted(ports)[:MAX_PORTS]), sources, pairs


def _other_port(named: Iterable[int]) -> int:
    taken = set(named)
    return next(port for port in range(65535, 0, -1) if port not in taken)


def openings(facts: Optional[RawFacts], address: Optional[str], cache: Dict[str, Any],
             also: Optional[Dict[str, Any]] = None) -> Optional[Record]:
    """Who gets in where: {sources: [[label, address]], ports: [{port, proto, from: [labels], checked: [labels]}]}
    for each port a rule names and port None (any other port); None without firewall facts.

    public is decided everywhere, a source network a rule names on its own rules' ports and any other
    port, or everywhere when one of its rules names no port (``checked``); elsewhere it gets in where
    public of its family does. ALSO (a saved openings
    state) adds its ports, sources and checks, so that both are decided alike.
    """
    firewall = (facts or {}).get("firewall")
    if not firewall:
        return None
    compiled = compile_firewall(firewall, cache)
    if isinstance(compiled, FirewallError):
        return None
    named, sources, pairs = _plan(firewall)
    saved: Dict[Tuple[Any, Any], Set[str]] = {}
    if also:
        known = set(src for _label, src in sources)
        sources += [(label, src) for label, src in also.get("sources") or [] if src not in known]
        for item in also.get("ports") or []:
            if isinstance(item.get("port"), int):
                named.add((item["port"], item["proto"]))
            saved[(item["port"], item["proto"])] = set(item.get("checked") or [])
    public = set("public (%s)" % address for address in PUBLIC)
    other = _other_port(port for port, _proto in named)
    found: List[Record] = []
    for proto in PROTOS:
        for port in sorted(port for port, named_proto in named if named_proto == proto) + [None]:
            accepted: List[str] = []
            checked: List[str] = []
            for label, src in sources:
                decided = pairs.get(src, set())  # None: a rule of the source names no port
                if not (label in public or port is None or decided is None or (port, proto) in decided
                        or label in saved.get((port, proto), ())):
                    continue
                dst = destination(address, facts, version_of(src))
                if dst is None:
                    continue
                try:
                    verdict = inbound_verdict(compiled, facts, src, dst, proto, port or other)
                except PacketError:
                    continue
                checked.append(label)
                if verdict["verdict"] == "accept":
                    accepted.append(label)
            found.append({"port": port, "proto": proto, "from": accepted, "checked": checked})
    return {"sources": [[label, src] for label, src in sources], "ports": found}


def host_state(raw_facts: Optional[RawFacts], address: Optional[str], cache: Dict[str, Any],
               also: Optional[Dict[str, Any]] = None) -> Record:
    """The host-level part of a baseline: {listeners, mappings, openings}, each None when it was not gathered.

    ALSO: the saved openings, whose ports and sources are decided too."""
    facts = raw_facts or {}
    listeners = facts.get("listeners")
    mappings = facts.get("mappings")
    return {
        "listeners": None if listeners is None else sorted(
            (_listener(item) for item in listeners if item.get("netns") == "host"),
            key=lambda item: (item["proto"] or "", item["port"] or 0, item["address"] or "", item["process"] or "")),
        "mappings": None if mappings is None else sorted(
            (_mapping(item) for item in mappings), key=lambda item: (item["proto"] or "", item["host_port"] or 0, item["host_ip"])),
        "openings": openings(facts, address, cache, also),
    }


class _Skip(object):
    """What host-level drift leaves to the services and to portproof_ignore."""

    def __init__(self, contract: Iterable[Service], facts: Optional[RawFacts], ignore: Optional[Sequence[str]]) -> None:
        indexed = Facts(facts)
        self.declared: Set[Tuple[Any, str]] = set()
        self.published: Set[Tuple[str, Any, str]] = set()
        for service in contract:
            for port in host_ports(indexed, service):
                self.declared.add((port, service["proto"]))
            if service["publish"]:
                self.published.add((service["publish"]["container"], service["publish"]["container_port"], service["proto"]))
        self.ignored = [parse_port_spec(item) for item in ignore or ()]

    def port(self, port: object, proto: str) -> bool:
        return (port, proto) in self.declared or any(
            isinstance(port, int) and first <= port <= last and proto in protos for first, last, protos in self.ignored)


def _loopback_only(items: Iterable[Record]) -> bool:
    return all(item["address"] in ("127.0.0.1", "::1") or str(item["address"]).startswith("127.") for item in items)


def _text(item: Record) -> str:
    address = item["address"] or "?"
    address = "[%s]" % address if ":" in address else address
    if item.get("interface"):
        address += "%" + item["interface"]
    return "%s:%s" % (address, item["port"])


def _owners(items: Iterable[Record]) -> List[str]:
    return sorted(set("%s (user %s)" % (i["process"], i["user"]) if i.get("user") else i["process"] for i in items if i.get("process")))


def _listener_changes(host: str, was: List[Record], now: List[Record], skip: _Skip, loopback: bool,
                      published: Set[Tuple[Any, Any]]) -> List[Change]:
    changes: List[Change] = []
    before: Dict[Tuple[str, int], List[Record]] = {}
    after: Dict[Tuple[str, int], List[Record]] = {}
    for target, items in ((before, was), (after, now)):
        for item in items:
            target.setdefault((item["proto"] or "", item["port"] or 0), []).append(item)
    for key in sorted(set(before) | set(after)):
        proto, port = key
        old, new = before.get(key, []), after.get(key, [])
        if skip.port(port, proto) or (port, proto) in published:
            continue
        if not loopback and _loopback_only(old + new):
            continue
        head = "%s: %s, which no service declares:" % (host, spec(port, proto))
        old_at, new_at = sorted(set(_text(i) for i in old)), sorted(set(_text(i) for i in new))
        old_by, new_by = ", ".join(_owners(old)) or "an unknown process", ", ".join(_owners(new)) or "an unknown process"
        if not old:
            changes.append(({"aspect": "listeners", "change": "new", "was": [], "now": new_at, "port": port},
                            "%s new listener on %s (%s), not in the baseline" % (head, ", ".join(new_at), new_by)))
        elif not new:
            changes.append(({"aspect": "listeners", "change": "gone", "was": old_at, "now": [], "port": port},
                            "%s the listener on %s (%s) is gone, nothing listens there now" % (head, ", ".join(old_at), old_by)))
        elif old_at != new_at:
            changes.append(({"aspect": "listeners", "change": "moved", "was": old_at, "now": new_at, "port": port},
                            "%s listened on %s, now on %s" % (head, ", ".join(old_at), ", ".join(new_at))))
        elif _owners(old) and _owners(new) and _owners(old) != _owners(new):
            changes.append(({"aspect": "process", "change": "changed", "was": _owners(old), "now": _owners(new), "port": port},
                            "%s served by %s, now by %s" % (head, ", ".join(_owners(old)), ", ".join(_owners(new)))))
    return changes


def _mapping_changes(host: str, was: List[Record], now: List[Record], skip: _Skip, moved: Set[Tuple[Any, Any]]) -> List[Change]:
    """Changed published ports; each (host port, proto) goes into MOVED too."""
    changes: List[Change] = []

    def index(items: List[Record]) -> Dict[Tuple[str, int, Any], Set[str]]:
        found: Dict[Tuple[str, int, Any], Set[str]] = {}
        for item in items:
            if (item["container"], item["target_port"], item["proto"]) in skip.published or skip.port(item["host_port"], item["proto"]):
                continue
            found.setdefault((item["proto"] or "", item["host_port"] or 0, item["host_ip"]), set()).add(
                "container %s port %s (image %s)" % (item["container"], item["target_port"], item["image"]))
        return found

    before, after = index(was), index(now)
    for key in sorted(set(before) | set(after)):
        proto, port, host_ip = key
        old, new = sorted(before.get(key, ())), sorted(after.get(key, ()))
        head = "%s: %s:%s, which no service declares:" % (host, host_ip, spec(port, proto))
        if old == new:
            continue
        change = "new" if not old else "gone" if not new else "changed"
        text = ("%s newly published to %s, not in the baseline" % (head, ", ".join(new)) if change == "new"
                else "%s published to %s, now no longer published" % (head, ", ".join(old)) if change == "gone"
                else "%s published to %s, now to %s" % (head, ", ".join(old), ", ".join(new)))
        changes.append(({"aspect": "mappings", "change": change, "was": old, "now": new, "port": port}, text))
        moved.add((port, proto))
    return changes


def _shown(labels: List[str], public: Dict[int, str], versions: Dict[str, int]) -> List[str]:
    """LABELS for a message: public (any address) stands for the other sources of its family."""
    anyone = set(version for version, label in public.items() if label in labels)
    return [label for label in labels if label in public.values() or versions.get(label) not in anyone]


def _opening_changes(host: str, was: Optional[Record], now: Optional[Record], skip: _Skip,
                     moved: Set[Tuple[Any, Any]]) -> List[Change]:
    """Ports whose accepted sources changed. NOW was decided on the ports, sources and checks of WAS too; a port
    one side does not name had the verdicts of its other ports there, and a source not checked at a port
    got in where public of its family got in."""
    changes: List[Change] = []
    if was is None or now is None:
        return changes

    def index(state: Record) -> Dict[Tuple[str, Optional[int]], Side]:
        return dict(((item["proto"], item["port"]), (set(item["from"]), set(item["checked"]))) for item in state.get("ports") or [])

    before, after = index(was), index(now)
    public = dict((version_of(address), "public (%s)" % address) for address in PUBLIC)
    versions = dict((label, version_of(address)) for label, address in (was.get("sources") or []) + (now.get("sources") or []))

    def gets_in(label: str, side: Side) -> bool:
        accepted, checked = side
        if label in checked:
            return label in accepted
        version = versions.get(label)
        return version in public and public[version] in accepted

    for proto, port in sorted(set(before) | set(after), key=lambda key: (key[0], key[1] is None, key[1] or 0)):
        if port is not None and (skip.port(port, proto) or (port, proto) in moved):
            continue  # declared, ignored, or published or unpublished since (the engine's rules come with it)
        empty: Side = (set(), set())
        old = before.get((proto, port)) or before.get((proto, None), empty)
        new = after.get((proto, port)) or after.get((proto, None), empty)
        labels = old[1] | new[1]
        was_in = set(label for label in labels if gets_in(label, old))
        now_in = set(label for label in labels if gets_in(label, new))
        gained, lost = sorted(now_in - was_in), sorted(was_in - now_in)
        if not gained and not lost:
            continue
        head = "%s: %s (%s)" % (host, OTHER, proto) if port is None else "%s: %s, which no service declares" % (host, spec(port, proto))
        words: List[str] = []
        if gained:
            words.append("the firewall now accepts new connections from %s" % ", ".join(_shown(gained, public, versions)))
        if lost:
            words.append("%s from %s" % ("no longer" if gained else "the firewall no longer accepts new connections",
                                         ", ".join(_shown(lost, public, versions))))
        change = "new" if not was_in else "gone" if not now_in else "changed"
        changes.append(({"aspect": "firewall", "change": change, "was": sorted(was_in), "now": sorted(now_in), "port": port},
                        "%s: %s" % (head, "; ".join(words))))
    return changes


def host_drift(host: str, contract: Iterable[Service], raw_facts: Optional[RawFacts], saved_state: Any, current: Record, saved: str,
               ignore: Optional[Sequence[str]] = None, loopback: bool = False, status: str = "fail", warn: bool = False,
               prefix: str = "") -> List[Result]:
    """Host-level drift results (service None): SAVED_STATE (the baseline's ``host``) against CURRENT (host_state now)."""
    if not isinstance(saved_state, dict):
        item = result(host, None, "drift", "skip", "%s: the baseline of %s has no host-level state (a version 1 baseline): save it "
                      "again with the playbook portproof.validate.baseline to compare what no service declares" % (host, saved))
        item["changes"] = []
        return [item]
    skip = _Skip(contract, raw_facts, ignore)
    missing = [part for part in ("listeners", "mappings", "openings") if current[part] is None and saved_state.get(part) is not None]
    changes: List[Change] = []
    # the host ports of published containers are held open for the engine (conmon): compared as mappings
    published = set((item["host_port"], item["proto"]) for item in (saved_state.get("mappings") or []) + (current["mappings"] or []))
    if saved_state.get("listeners") is not None and current["listeners"] is not None:
        changes += _listener_changes(host, saved_state["listeners"], current["listeners"], skip, loopback, published)
    # the host ports of declared publications, then of changed ones: their openings are the engine's
    moved = set((item["host_port"], item["proto"]) for item in (saved_state.get("mappings") or []) + (current["mappings"] or [])
                if (item["container"], item["target_port"], item["proto"]) in skip.published)
    if saved_state.get("mappings") is not None and current["mappings"] is not None:
        changes += _mapping_changes(host, saved_state["mappings"], current["mappings"], skip, moved)
    changes += _opening_changes(host, saved_state.get("openings"), current["openings"], skip, moved)
    results: List[Result] = []
    for change, text in changes:
        item = result(host, None, "drift", status, "%s%s (baseline of %s)" % (prefix, text, saved),
                      "%s: %s" % (change["aspect"], ", ".join(change["was"]) or "nothing"),
                      "%s: %s" % (change["aspect"], ", ".join(change["now"]) or "nothing"))
        item["changes"] = [change]
        if warn:
            item["warn"] = True
        results.append(item)
    if missing:
        item = result(host, None, "drift", "error", "%s: cannot compare what no service declares with the baseline of %s: %s not "
                      "gathered now" % (host, saved, ", ".join(missing)))
        item["changes"] = []
        results.append(item)
    if not results:
        item = result(host, None, "drift", "pass", "%s: listeners, published ports and firewall openings that no service declares as "
                      "in the baseline of %s" % (host, saved), "as in the baseline of %s" % saved, "unchanged")
        item["changes"] = []
        results.append(item)
    return results


_STR = (str, type(None))
_PORT = (int, type(None))
_HOST_SHAPE = {
    "listeners": (("address", _STR), ("port", _PORT), ("proto", _STR), ("process", (str, int, float, bool, type(None))),
                  ("user", (str, int, float, bool, type(None)))),
    "mappings": (("container", _STR), ("target_port", _PORT), ("proto", _STR), ("host_ip", (str,)), ("host_port", _PORT),
                 ("image", _STR)),
}


def records_shape_problem(state: object, shape: Shape, optional: Optional[Shape] = None) -> Optional[str]:
    """Why saved state (a mapping of lists of records) cannot be compared, or None. ``shape`` gives each list's
    required (field, types); ``optional`` the fields checked only when present (a field an older version lacks)."""
    if not isinstance(state, dict):
        return "not a mapping"
    for part, fields in shape.items():
        items = state.get(part)
        if items is None:
            continue
        if not isinstance(items, list):
            return "%s is not a list" % part
        for index, item in enumerate(items):
            bad = [key for key, types in fields if not isinstance(item, dict) or key not in item or not isinstance(item[key], types)]
            bad += [key for key, types in (optional or {}).get(part, ()) if isinstance(item, dict) and key in item
                    and not isinstance(item[key], types)]
            if bad:
                return "%s[%d] lacks or has a wrong %s" % (part, index, ", ".join(bad))
    return None


def host_shape_problem(state: Any) -> Optional[str]:
    """Why a saved host-level state cannot be compared, or None."""
    problem = records_shape_problem(state, _HOST_SHAPE)
    if problem is not None:
        return problem
    found = state.get("openings")
    if found is None:
        return None
    if not isinstance(found, dict) or not isinstance(found.get("sources"), list) or not isinstance(found.get("ports"), list):
        return "openings is not {sources, ports}"
    for index, pair in enumerate(found["sources"]):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            return "openings.sources[%d] is not [label, address]" % index
        try:
            parse_network(pair[1], host_only=True)
        except ValueError:
            return "openings.sources[%d] has no IP address" % index
    for index, item in enumerate(found["ports"]):
        if not (isinstance(item, dict) and isinstance(item.get("port"), _PORT) and not isinstance(item.get("port"), bool)
                and item.get("proto") in PROTOS and all(isinstance(item.get(key), list) and all(isinstance(x, str) for x in item[key])
                                                        for key in ("from", "checked"))):
            return "openings.ports[%d] is not {port, proto, from, checked}" % index
    return None
