# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The firewall part of the check kind ``persist``: would the declared verdicts survive a reboot?

For each service and each declared source (``allow_from`` and ``deny_from``, expanded as the static
firewall checks expand them), the collection's firewall walk runs twice: over the running rules
(``firewall`` fact) and over the rules the host loads at boot (``saved_firewall`` fact, read from
the saved files by port_facts, never loaded anywhere). The result passes when the verdict after a
reboot is the declared one; its message names the difference with the running verdict either way:
a running rule that is not saved, a saved rule that is not running. See docs/reboot.md.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Dict, List, Mapping, Optional, Set

from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import FirewallError
from ansible_collections.portproof.validate.plugins.module_utils._verdict._match import PacketError
from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import version_of
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import Service
from ansible_collections.portproof.validate.plugins.plugin_utils._firewall_checks import (
    HostVars, Verdict, compile_firewall, destination, expand_sources, inbound_verdict, rule_text)
from ansible_collections.portproof.validate.plugins.plugin_utils._persist_loaders import split_loaders, unloaded_note
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import Facts, RawFacts, Result, host_ports, result

CHECK = "persist"
NOT_SAVED = "the firewall is not saved anywhere this host loads at boot"
_VERB = {"accept": "get in", "drop": "be dropped", "reject": "be rejected"}


def after_boot(firewall: Dict[str, Any], saved: Dict[str, Any]) -> Dict[str, Any]:
    """The firewall fact after a reboot: the saved tables over the host's addresses and routes as they are now."""
    return dict(firewall, tables=list(saved.get("tables") or []), incomplete=list(saved.get("incomplete") or []))


def _address(value: Any) -> Any:
    """An address as a network (10.0.0.2 and 10.0.0.2/32 are one match); other values as they are."""
    if isinstance(value, str) and ("." in value or ":" in value):
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            return value
    return value


def _rule_key(family: Any, chain: Any, rule: Mapping[str, Any]) -> str:
    """What a rule matches and does, whatever way its text was written (a file written by hand, ufw's
    files, iptables-save): its chain, matches (addresses as networks) and verdict."""
    matches = []
    for match in rule.get("match") or []:
        values = match.get("values")
        if isinstance(values, list):
            values = sorted((_address(value) for value in values), key=str)
        matches.append([match.get("key"), match.get("op"), match.get("neg"), values])
    verdict = rule.get("verdict") or {}
    return json.dumps([family, chain, sorted(matches, key=str), verdict.get("kind"), verdict.get("chain")], default=str)


def _rule_keys(firewall: Dict[str, Any]) -> Set[str]:
    return set(_rule_key(table.get("family"), chain.get("name"), rule) for table in firewall.get("tables") or []
               for chain in table.get("chains") or [] for rule in chain.get("rules") or [])


def _raw_rule(firewall: Dict[str, Any], ref: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    """The rule of the firewall fact that a verdict names (family, table, chain, index)."""
    for table in firewall.get("tables") or []:
        if table.get("family") == ref.get("family") and table.get("name") == ref.get("table"):
            for chain in table.get("chains") or []:
                rules = chain.get("rules") or []
                if chain.get("name") == ref.get("chain") and isinstance(ref.get("index"), int) and 0 < ref["index"] <= len(rules):
                    return rules[ref["index"] - 1]
    return None


def _kept(ref: Mapping[str, Any], there: Dict[str, Any], here: Dict[str, Any]) -> bool:
    """Whether the rule REF of HERE is also a rule of THERE (same text, or same matches and verdict)."""
    raw = _raw_rule(here, ref)
    texts = set(rule.get("text") for table in there.get("tables") or [] for chain in table.get("chains") or []
                for rule in chain.get("rules") or [])
    return ref.get("text") in texts or (raw is not None and _rule_key(ref.get("family"), ref.get("chain"), raw) in _rule_keys(there))


def _path_of(saved: Dict[str, Any], rule: Mapping[str, Any]) -> Optional[str]:
    """The saved file a deciding rule comes from (ufw's rules name theirs, else the table's file)."""
    raw = _raw_rule(saved, rule)
    if raw is not None and raw.get("path"):
        return str(raw["path"])
    for table in saved.get("tables") or []:
        if table.get("family") == rule.get("family") and table.get("name") == rule.get("table"):
            return table.get("path")
    return None


def _verb(verdict: Verdict) -> str:
    word = str(verdict["verdict"])
    return _VERB.get(word, word)


def _decider(verdict: Verdict, path: Optional[str] = None) -> str:
    text = rule_text(verdict)
    return "%s in %s" % (text, path) if path and verdict.get("rule") else text


def difference(running: Verdict, saved_verdict: Verdict, saved: Dict[str, Any], firewall: Dict[str, Any], files: str) -> str:
    """What differs between the running rules and the saved ones, for one packet."""
    parts: List[str] = []
    rule = running.get("rule")
    if rule and not _kept(rule, saved, firewall):
        parts.append("the running %s %s is not in %s" % (running["verdict"], rule_text(running), files))
    rule = saved_verdict.get("rule")
    if rule and not _kept(rule, firewall, saved):
        parts.append("the saved %s %s is not running" % (saved_verdict["verdict"], _decider(saved_verdict, _path_of(saved, rule))))
    if not parts:
        parts.append("now: %s; after a reboot, with %s: %s" % (_decider(running), files, _decider(saved_verdict)))
    return "; ".join(parts)


def _files_for(saved: Dict[str, Any], version: int) -> str:
    paths = [s["path"] for s in saved.get("sources") or [] if s.get("family") == "ipv%d" % version]
    return ", ".join(paths) if paths else unloaded_note(saved, version) or "the saved rules (nothing is saved for IPv%d)" % version


def _firewalld_now(firewall: Dict[str, Any]) -> bool:
    return any(m.get("name") == "firewalld" and m.get("active") for m in firewall.get("managers") or [])


def with_firewalld(firewall: Optional[Dict[str, Any]], saved: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The saved firewall with firewalld's packaged defaults when firewalld runs now and nothing below /etc/firewalld
    overrides them (port_facts reads them as ``saved_firewall.firewalld``: firewalld loads them at its start)."""
    fwd = (saved or {}).get("firewalld")
    if not firewall or saved is None or not fwd or not _firewalld_now(firewall):
        return saved
    if saved.get("sources"):
        return dict(saved, unsupported=list(saved.get("unsupported") or []) + [
            {"path": "/etc/firewalld", "loader": "firewalld", "reason": "firewalld runs now and %s is saved too: both load at boot, "
             "in an order that is not known" % ", ".join(dict.fromkeys(s["path"] for s in saved["sources"]))}])
    if fwd.get("error"):
        return dict(saved, unsupported=list(saved.get("unsupported") or []) + [
            {"path": "/etc/firewalld", "loader": "firewalld", "reason": fwd["error"]}])
    return dict(saved, tables=list(fwd.get("tables") or []), sources=list(fwd.get("sources") or []))


def _not_evaluable(firewall: Optional[Dict[str, Any]], saved: Optional[Dict[str, Any]], facts: Optional[RawFacts]) -> Optional[str]:
    """Why no verdict after a reboot can be given, or None."""
    if not firewall:
        reasons = "; ".join("%s: %s" % (e.get("tool"), e.get("reason")) for e in (facts or {}).get("unavailable", [])
                            if e.get("subset") == "firewall")
        return "the running firewall could not be read: %s" % (reasons or "not gathered")
    if saved is None:
        return "the saved firewall was not gathered (port_facts gather_subset saved_firewall)"
    unsupported = list(saved.get("unsupported") or [])
    if _firewalld_now(firewall) and not any(item.get("loader") == "firewalld" for item in unsupported + list(saved.get("sources") or [])):
        unsupported.append({"path": "/etc/firewalld", "loader": "firewalld",
                            "reason": "firewalld runs now; its permanent configuration was not read (port_facts too old?)"})
    if unsupported:
        return "cannot evaluate the firewall after a reboot: %s" % "; ".join(
            "%s (%s): %s" % (item["path"], item["loader"], item["reason"]) for item in unsupported)
    if saved.get("incomplete"):
        return "cannot evaluate the firewall after a reboot: %s" % "; ".join(saved["incomplete"])
    if not saved.get("sources") and firewall.get("backends"):
        return NOT_SAVED
    return None


def check_persist_firewall(host: str, service: Service, facts: Optional[RawFacts], groups: Mapping[str, List[str]],
                           hostvars: HostVars, target_address: Optional[str], cache: Dict[str, Any]) -> List[Result]:
    """persist results of one service: per declared source and port, the verdict after a reboot against the declared one."""
    name, proto = service["name"], service["proto"]
    results: List[Result] = []
    plan = [(True, entry) for entry in service["allow_from"]] + [(False, entry) for entry in service["deny_from"]]
    if not plan:
        return results
    firewall = (facts or {}).get("firewall")
    saved = with_firewalld(firewall, (facts or {}).get("saved_firewall"))
    unloaded: List[str] = []
    if saved is not None:  # what nothing loads at boot is out of the firewall after a reboot (_persist_loaders.py)
        saved, unloaded, undecided = split_loaders(saved)
        if undecided:
            return [result(host, name, CHECK, "error", "%s: cannot evaluate the firewall after a reboot: %s"
                           % (name, "; ".join(undecided)), source=entry["name"]) for dummy, entry in plan]
    why = _not_evaluable(firewall, saved, facts)
    why = None if why == NOT_SAVED and unloaded else why  # saved, but not loaded: no rules after a reboot
    if why is not None or firewall is None or saved is None:
        return [result(host, name, CHECK, "error", "%s: %s" % (name, why), source=entry["name"]) for dummy, entry in plan]
    results.extend(result(host, name, CHECK, "fail", "%s: %s" % (name, note)) for note in unloaded)
    running_c = compile_firewall(firewall, cache)
    saved_c = compile_firewall(after_boot(firewall, saved), cache.setdefault(CHECK, {}))
    if isinstance(running_c, FirewallError) or isinstance(saved_c, FirewallError):
        unusable = running_c if isinstance(running_c, FirewallError) else saved_c
        return [result(host, name, CHECK, "error", "%s: firewall facts of %s are unusable: %s" % (name, host, unusable),
                       source=entry["name"]) for dummy, entry in plan]
    ports = host_ports(Facts(facts), service)
    controller = (hostvars.get(host) or {}).get("portproof_controller_address")
    for allow, entry in plan:
        want = "accept" if allow else "drop or reject"
        must = "get in" if allow else "not get in"
        for source, address, note in expand_sources([entry], groups, hostvars, facts, controller):
            if source == host:
                continue
            label = source if source == address or entry["kind"] != "cidr" else "%s (%s)" % (source, address)
            if not address or not ports:
                problem = "no address known for source %s (%s)" % (source, note or "set portproof_address or ansible_host") \
                    if not address else "port auto could not be resolved, no verdict for %s" % label
                results.append(result(host, name, CHECK, "error", "%s: %s" % (name, problem), source=label))
                continue
            version = version_of(address)
            dst = destination(target_address, facts, version)
            if dst is None:
                results.append(result(host, name, CHECK, "skip", "%s: %s has no IPv%d address, so source %s (%s) cannot reach it over IPv%d"
                                      % (name, host, version, source, address, version), source=label))
                continue
            for port in ports:
                try:
                    now = inbound_verdict(running_c, facts, address, dst, proto, port)
                    then = inbound_verdict(saved_c, facts, address, dst, proto, port)
                except PacketError as exc:
                    results.append(result(host, name, CHECK, "error", "%s: %s" % (name, exc), source=label))
                    continue
                results.append(_verdict_result(host, name, label, address, proto, port, allow, must, want, now, then,
                                               saved, firewall, _files_for(saved, version)))
    return results


def _verdict_result(host: str, name: str, label: str, address: str, proto: str, port: int, allow: bool, must: str, want: str,
                    now: Verdict, then: Verdict, saved: Dict[str, Any], firewall: Dict[str, Any], files: str) -> Result:
    who = label if address in label else "%s (%s)" % (label, address)
    head = "%s: after a reboot %s would %s on %s/%d" % (name, who, _verb(then), proto, port)
    actual = "%s by %s" % (then["verdict"], _decider(then, _path_of(saved, then["rule"]) if then.get("rule") else None))
    if then["verdict"] == "unknown" or now["verdict"] == "unknown":
        unknown = then if then["verdict"] == "unknown" else now
        return result(host, name, CHECK, "error", "%s: the verdict after a reboot cannot be decided statically: %s"
                      % (name, unknown.get("reason")), want, None, source=label)
    status = "pass" if (then["verdict"] == "accept") == allow else "fail"
    same = (now["verdict"] == "accept") == (then["verdict"] == "accept")
    if same and status == "pass":
        message = "%s, as now (must %s): %s" % (head, must, _decider(then, _path_of(saved, then["rule"]) if then.get("rule") else None))
    elif same:
        message = "%s, as it does now (must %s): %s" % (head, must, _decider(then, _path_of(saved, then["rule"]) if then.get("rule") else None))
    else:
        diff = firewalld_difference(now, then, saved) if _from_firewalld(saved) else difference(now, then, saved, firewall, files)
        message = "%s (must %s; now it would %s): %s" % (head, must, _verb(now), diff)
    return result(host, name, CHECK, status, message, want, actual, source=label)


def _from_firewalld(saved: Dict[str, Any]) -> bool:
    return any(source.get("loader") == "firewalld" for source in saved.get("sources") or [])


def firewalld_difference(running: Verdict, saved_verdict: Verdict, saved: Dict[str, Any]) -> str:
    """What differs between the running firewalld and its permanent configuration, for one packet: its rules are
    written anew at each start from the XML files, so the deciding rules are named, each with its file."""
    then = _decider(saved_verdict, _path_of(saved, saved_verdict["rule"]) if saved_verdict.get("rule") else None)
    if running["verdict"] == "accept":
        return ("the running accept %s is not in firewalld's permanent configuration (/etc/firewalld, /usr/lib/firewalld); "
                "after a reboot: %s by %s" % (rule_text(running), saved_verdict["verdict"], then))
    return ("the permanent accept %s is not running (firewalld loads it at its start or on firewall-cmd --reload); now: %s by %s"
            % (then, running["verdict"], rule_text(running)))
