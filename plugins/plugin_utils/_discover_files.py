# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The discovered contract of a whole inventory, as files: infer each host (_discover), move what a group's members
serve alike to the group, render (_discover_render), then load the rendered YAML back and run the static checks of
the collection over it, so that the README says whether the proposal passes on the facts it came from."""

from __future__ import annotations

import yaml

from ansible_collections.portproof.validate.plugins.plugin_utils._discover import DiscoverError, HostDiscovery, discover_host, factor_groups
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_names import Naming
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_render import (
    HOST_VARIABLE, MARKER, group_file, host_file, intended, inventory_file, marker_text, readme, variable_name,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import Facts, host_ports
from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import StepError, host_contract, static_checks

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple


def _declared(existing: Optional[Sequence[Dict[str, Any]]], facts: Dict[str, Any]) -> List[Tuple[Any, str]]:
    """(host port, proto) that the host's existing contract declares (port auto resolved over the facts)."""
    declared: List[Tuple[Any, str]] = []
    for service in existing or []:
        for port in host_ports(Facts(facts), service):
            declared.append((port, service["proto"]))
    return declared


def _lacks(host: str, existing: Sequence[Dict[str, Any]], found: HostDiscovery, facts: Dict[str, Any],
           groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any], address: Optional[str], ssh: str) -> List[str]:
    """What the existing services lack: the allow_from/deny_from entries the firewall would support."""
    lacking = []
    shadow = discover_host(host, facts, groups, hostvars, address, ssh)
    for service in existing:
        for port in host_ports(Facts(facts), service):
            for entry in shadow.services:
                proposed = entry["service"]
                same = proposed["proto"] == service["proto"] and (
                    proposed["port"] == port or (proposed.get("publish") and service.get("publish")
                                                 and proposed["publish"]["container"] == service["publish"]["container"]
                                                 and proposed["publish"]["container_port"] == service["publish"]["container_port"]))
                if not same:
                    continue
                for key in ("allow_from", "deny_from"):
                    have = {source["name"] for source in service[key]}
                    for name in proposed[key]:
                        if name not in have and name != host:
                            lacking.append("%s: service %s (%s): %s lacks %s: %s" % (
                                host, service["name"], service.get("variable"), key, name, entry["why"][key].get(name)))
    return sorted(set(lacking))


def build_files(facts: Mapping[str, Any], groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any],
                addresses: Mapping[str, Optional[str]], stamp: str, directory: str, ssh: str = "ignore",
                existing: Optional[Mapping[str, Sequence[Dict[str, Any]]]] = None,
                not_gathered: Sequence[Tuple[str, str]] = (),
                identified: Optional[Mapping[str, Mapping[str, Any]]] = None,
                naming: Optional[Naming] = None) -> Tuple[Dict[str, str], Dict[str, List[str]]]:
    """({relative path: text}, {host: [checks that would not pass]}) of the discovered contract.

    FACTS: {host: port facts} of the gathered hosts; ADDRESSES: where each is reached; EXISTING: {host: its validated
    contract} when the inventory declares services already (then only what it lacks is written); IDENTIFIED: {host:
    what answers on its listeners} (_discover_identify), None when discover did not ask; NAMING: the DNS names each
    service gets (_discover_names), None when discover resolved none.
    """
    existing = existing or {}
    found: Dict[str, HostDiscovery] = {}
    for host in sorted(facts):
        found[host] = discover_host(host, facts[host], groups, hostvars, addresses.get(host), ssh,
                                    declared=_declared(existing.get(host), facts[host]),
                                    identified=None if identified is None else identified.get(host) or {}, naming=naming)
        if existing.get(host):
            found[host].existing = _lacks(host, existing[host], found[host], facts[host], groups, hostvars, addresses.get(host), ssh)
    moved = factor_groups(found, groups)
    files: Dict[str, str] = {}
    data: Dict[str, Dict[str, Any]] = {}
    for host, item in sorted(found.items()):
        path = "host_vars/%s.yml" % host
        files[path] = host_file(host, item.services, item.ignore, item.left_out)
        data[path] = {"portproof_strict": True}
        if item.ignore:
            data[path]["portproof_ignore"] = [spec for spec, _why in item.ignore]
        if item.services:
            data[path][HOST_VARIABLE] = intended(item.services)
    for group, entries in sorted(moved.items()):
        path = "group_vars/%s.yml" % group
        files[path] = group_file(group, groups[group], entries)
        data[path] = {variable_name(group): intended(entries)}
    for path, text in files.items():
        loaded = yaml.safe_load(text)
        if loaded != data[path]:
            raise DiscoverError("discover: %s does not load back as written (%r != %r)" % (path, loaded, data[path]))
    files["hosts.yml"] = inventory_file()
    verification: Dict[str, List[str]] = {}
    for host in sorted(found):
        variables = dict((name, value) for name, value in data["host_vars/%s.yml" % host].items() if name.startswith("portproof_services"))
        for group, entries in moved.items():
            if host in groups.get(group, []):
                variables[variable_name(group)] = data["group_vars/%s.yml" % group][variable_name(group)]
        host_data = data["host_vars/%s.yml" % host]
        try:
            contract = host_contract(variables, host, groups, strict=True, ignore=host_data.get("portproof_ignore"))
        except StepError as exc:
            verification[host] = [str(exc)]
            continue
        contract = list(existing.get(host) or []) + contract
        results = static_checks(contract, facts[host], host, groups=groups, hostvars=hostvars, strict=True,
                                ignore=host_data.get("portproof_ignore"), address=addresses.get(host))
        bad = ["%s %s: %s" % (r["check"], r["status"], r["message"]) for r in results if r["status"] not in ("pass", "skip")]
        if bad:
            verification[host] = bad
    names = sorted(files) + ["README.md"]
    files["README.md"] = readme(directory, stamp, found, groups, moved, names, not_gathered, verification, bool(existing),
                                identify=identified is not None)
    files[MARKER] = marker_text(names)
    return files, verification
