# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Static firewall checks: would a new connection from each allowed source get in, and from each denied one not?

Sources come from the contract's ``allow_from``/``deny_from``: inventory hosts and the hosts of
groups (at their ``portproof_address``, else ``ansible_host``, else their name when it is an
address), CIDRs (their first and last host address: a verdict that differs inside the range is
reported with the address that differs), ``public`` (203.0.113.7 and 2001:db8::7, addresses
outside every internal range) and ``controller`` (``portproof_controller_address``, else the
address the controller's SSH session came from). The verdict is the collection's firewall walk
over the target's gathered rules.
"""

from __future__ import annotations

from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import Compiled, FirewallError, evaluate
from ansible_collections.portproof.validate.plugins.module_utils._verdict._match import PacketError
from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import parse_network, version_of
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import Service, Source
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import Facts, RawFacts, Result, host_ports, result

from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

# The variables of every host of the inventory, by host name (Ansible's hostvars, or a dict of the same shape).
HostVars = Mapping[str, Any]
# A firewall fact compiled for the walk, or why it cannot be (see compile_firewall).
CompiledOrError = Union[Compiled, FirewallError]
# What the walk decided for one packet: {verdict, rule, reason, ...}.
Verdict = Dict[str, Any]
# (source label, address or None, note when the address is not known).
Expanded = Tuple[str, Optional[str], Optional[str]]

PUBLIC = ("203.0.113.7", "2001:db8::7")


def host_address(hostvars: HostVars, name: str, fallback_to_name: bool = False) -> Optional[str]:
    """Where other hosts reach NAME: portproof_address, else ansible_host, else the name.

    The name stands for an address only when it is one, unless FALLBACK_TO_NAME (a probe can
    resolve a name; a firewall verdict cannot).
    """
    hvars = hostvars.get(name) or {}
    for key in ("portproof_address", "ansible_host"):
        value = hvars.get(key)
        if value:
            return str(value)
    if fallback_to_name:
        return name
    try:
        parse_network(name, host_only=True)
        return name
    except ValueError:
        return None


def compile_firewall(firewall: Dict[str, Any], cache: Dict[str, Any]) -> CompiledOrError:
    """The firewall fact compiled once per CACHE (a dict); a FirewallError when the fact is unusable."""
    if "compiled" not in cache:
        try:
            cache["compiled"] = Compiled(firewall)
        except FirewallError as exc:
            cache["compiled"] = exc
    return cache["compiled"]


def expand_sources(entries: Iterable[Source], groups: Mapping[str, List[str]], hostvars: HostVars, facts: Optional[RawFacts],
                   controller: Optional[str] = None) -> List[Expanded]:
    """[(source label, address or None, note)] for the allow_from/deny_from entries of a service."""
    expanded: List[Expanded] = []
    for entry in entries:
        kind, name = entry["kind"], entry["name"]
        if kind in ("group", "host"):
            members = groups.get(name, []) if kind == "group" else [name]
            for member in members:
                expanded.append((member, host_address(hostvars, member), None))
        elif kind == "cidr":
            net = parse_network(entry["network"])
            first, last = (net[1], net[-2]) if net.size > 2 else (net[0], net[-1])
            for address in sorted({str(first), str(last)}):
                expanded.append((name, address, None))
        elif kind == "public":
            expanded.extend((name, address, None) for address in PUBLIC)
        elif kind == "controller":
            expanded.append((name, controller or (facts or {}).get("ssh_client"),
                             "set portproof_controller_address: the controller's SSH session address is not known"))
    return expanded


def destination(target_address: Optional[str], facts: Optional[RawFacts], version: int) -> Optional[str]:
    """The target's address of that IP version: its own reach address, or one of its global addresses."""
    if target_address and version_of(target_address) == version:
        return target_address
    for item in (facts or {}).get("addresses") or []:
        if item["family"] == "ipv%d" % version and item.get("scope") == "global":
            return item["address"]
    return None


def interface_of(address: str, facts: Optional[RawFacts]) -> Optional[str]:
    for item in (facts or {}).get("addresses") or []:
        if item["address"] == address:
            return item["interface"]
    return None


def rule_text(verdict: Verdict) -> str:
    """What decided a verdict: the rule (family, table, chain, index, text), else the walk's reason."""
    rule = verdict.get("rule")
    if rule:
        return "rule %s %s %s #%s: %s" % (rule.get("family"), rule.get("table"), rule.get("chain"), rule.get("index"), rule.get("text"))
    return verdict.get("reason") or "the chain policy"


def inbound_verdict(compiled: Compiled, facts: Optional[RawFacts], src: str, dst: str, proto: str, port: int) -> Verdict:
    """The verdict for a new connection from SRC to DST:PORT arriving on the interface that holds DST.

    Raises PacketError (with the packet in its message) when the packet is not one to evaluate.
    """
    packet: Dict[str, Any] = {"src": src, "dst": dst, "proto": proto, "dport": port, "state": "new"}
    iface = interface_of(dst, facts)
    if iface:
        packet["iface"] = iface
    try:
        return evaluate(compiled, packet)
    except PacketError as exc:
        raise PacketError("cannot evaluate %s: %s" % (packet, exc))


def check_firewall(host: str, service: Service, facts: Optional[RawFacts], groups: Mapping[str, List[str]], hostvars: HostVars,
                   target_address: Optional[str], compiled_cache: Dict[str, Any]) -> List[Result]:
    """firewall_allow and firewall_deny results of one service, one per source host, CIDR or word."""
    name, proto = service["name"], service["proto"]
    results: List[Result] = []
    plan = [("firewall_allow", entry) for entry in service["allow_from"]] + [("firewall_deny", entry) for entry in service["deny_from"]]
    if not plan:
        return results
    firewall = (facts or {}).get("firewall")
    if not firewall:
        reasons = "; ".join("%s: %s" % (e.get("tool"), e.get("reason")) for e in (facts or {}).get("unavailable", []) if e.get("subset") == "firewall")
        for check, entry in plan:
            results.append(result(host, name, check, "error", "%s: the firewall of %s could not be read: %s"
                                  % (name, host, reasons or "not gathered"), source=entry["name"]))
        return results
    compiled = compile_firewall(firewall, compiled_cache)
    # the cache is the host's (it holds its compiled firewall): its indexed facts and verdicts are kept there too
    indexed = compiled_cache.get("facts")
    if indexed is None:
        indexed = compiled_cache["facts"] = Facts(facts)
    verdicts = compiled_cache.setdefault("verdicts", {})
    ports = host_ports(indexed, service)  # port auto: the published host port(s), from the mappings
    for check, entry in plan:
        want = "accept" if check == "firewall_allow" else "drop or reject"
        controller = (hostvars.get(host) or {}).get("portproof_controller_address")
        for source, address, note in expand_sources([entry], groups, hostvars, facts, controller):
            if source == host:
                continue
            label = source if source == address or entry["kind"] != "cidr" else "%s (%s)" % (source, address)
            if isinstance(compiled, FirewallError):
                results.append(result(host, name, check, "error", "%s: firewall facts of %s are unusable: %s" % (name, host, compiled), source=label))
                continue
            if not address:
                results.append(result(host, name, check, "error", "%s: no address known for source %s (%s)" % (
                    name, source, note or "set portproof_address or ansible_host"), source=label))
                continue
            if not ports:
                results.append(result(host, name, check, "error", "%s: port auto could not be resolved, no verdict for %s" % (name, label),
                                      source=label))
                continue
            version = version_of(address)
            dst = destination(target_address, facts, version)
            if dst is None:
                results.append(result(host, name, check, "skip", "%s: %s has no IPv%d address, so source %s (%s) cannot reach it over IPv%d"
                                      % (name, host, version, source, address, version), source=label))
                continue
            for port in ports:
                packet = (address, dst, proto, port)
                verdict = verdicts.get(packet)
                if verdict is None:  # the same packet is asked for firewall_allow and firewall_deny, by several entries
                    try:
                        verdict = verdicts[packet] = inbound_verdict(compiled, facts, address, dst, proto, port)
                    except PacketError as exc:
                        verdict = verdicts[packet] = exc
                if isinstance(verdict, PacketError):
                    results.append(result(host, name, check, "error", "%s: %s" % (name, verdict), source=label))
                    continue
                what = "new %s connection from %s (%s) to %s:%d" % (proto.upper(), source, address, dst, port)
                actual = "%s by %s" % (verdict["verdict"], rule_text(verdict)) if verdict.get("rule") else verdict.get("reason")
                outcome = actual
                if verdict["verdict"] == "unknown":
                    status, outcome = "error", "cannot be decided statically: %s" % verdict.get("reason")
                elif (verdict["verdict"] == "accept") == (check == "firewall_allow"):
                    status = "pass"
                else:
                    status = "fail"
                must = "get in" if check == "firewall_allow" else "not get in"
                results.append(result(host, name, check, status, "%s: %s (must %s): %s" % (name, what, must, outcome),
                                      want, actual, source=label))
    return results
