# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The steps of the role validate on the controller: the contract, the static checks, drift and the baseline.

Pure functions over a host's variables and facts, called by the private action plugins of the
roles (plugins/action/contract_load.py, host_index.py, check_static.py, check_drift.py,
baseline_save.py). Each raises StepError with the message the host fails with.
"""

from __future__ import annotations

import os
import re

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set

from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import HAS_NETADDR, version_of
from ansible_collections.portproof.validate.plugins.plugin_utils._baseline import snapshot
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import ContractError, load_contract, parse_port_spec
from ansible_collections.portproof.validate.plugins.plugin_utils._drift import drift
from ansible_collections.portproof.validate.plugins.plugin_utils._firewall_checks import check_firewall, expand_sources
from ansible_collections.portproof.validate.plugins.plugin_utils._persist_firewall import check_persist_firewall
from ansible_collections.portproof.validate.plugins.plugin_utils._persist_services import check_persist
from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import evidence_name
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import (
    Facts, Result, check_bind, check_listen, check_mapping, check_process, check_undeclared,
)

KINDS = ("listen", "bind", "process", "undeclared", "mapping", "firewall_allow", "firewall_deny")
# Kinds evaluated only when asked for by name (persist needs systemd as the host's PID 1).
OPT_IN_KINDS = ("persist",)
DEFAULT_KINDS = KINDS
# The names of the contract variables: portproof_services and portproof_services__<anything>.
CONTRACT_NAME = re.compile(r"^portproof_services(__.+)?$")
# The variables of a host that say where it is reached, which the checks of other hosts read.
ADDRESS_KEYS = ("portproof_address", "ansible_host", "portproof_controller_address")
SECRET = "********"


class StepError(Exception):
    """Bad input of a step: the message names what was wrong and where."""


def need_netaddr(name: str) -> None:
    if not HAS_NETADDR:
        raise StepError("%s: the Python library netaddr is required on the controller (pip install netaddr)" % name)


def contract_names(variables: Iterable[str]) -> List[str]:
    """The names of the contract variables among VARIABLES, in name order."""
    return sorted(name for name in variables if CONTRACT_NAME.search(name))


def without_secrets(service: Dict[str, Any]) -> Dict[str, Any]:
    """SERVICE with its HTTP header values and basic-auth password masked (a copy where it has any).

    The contract becomes a host variable, which the report keeps; the live checks take the secrets
    from the contract variables themselves when they probe.
    """
    http = (service.get("check") or {}).get("http")
    if not isinstance(http, dict) or not (http.get("headers") or isinstance(http.get("basic_auth"), dict)):
        return service
    http = dict(http)
    if isinstance(http.get("headers"), dict):
        http["headers"] = dict((name, SECRET) for name in http["headers"])
    if isinstance(http.get("basic_auth"), dict) and "password" in http["basic_auth"]:
        http["basic_auth"] = dict(http["basic_auth"], password=SECRET)
    return dict(service, check=dict(service["check"], http=http))


def host_contract(given: Mapping[str, Any], host: str, groups: Mapping[str, Sequence[str]], strict: bool = False,
                  ignore: Optional[Sequence[Any]] = None, address: Optional[str] = None) -> List[Dict[str, Any]]:
    """The validated, normalised contract of HOST from its contract variables GIVEN ({name: value}), secrets masked."""
    need_netaddr("contract")
    names = set(groups.get("all", [])) | set(groups.get("ungrouped", []))
    variables = [(name, given[name]) for name in sorted(given)]
    try:
        services = load_contract(host, variables, set(groups), names, strict=strict, ignore=ignore, address=address)
    except ContractError as exc:
        raise StepError(str(exc))
    return [without_secrets(service) for service in services]


def host_addresses(hostvars: Mapping[str, Mapping[str, Any]], hosts: Sequence[Any]) -> Dict[str, Dict[str, str]]:
    """{host: {portproof_address, ansible_host, portproof_controller_address}} of HOSTS (those that are set).

    Reading hostvars[HOST] makes Ansible compute every variable of that host; the static checks of
    one host need the addresses of every source host, so on a fleet they read this index (made once
    for the play) instead of hostvars: linear in the hosts instead of quadratic.
    """
    index = {}
    for host in hosts:
        host = str(host)
        hvars = hostvars[host] if host in hostvars else {}
        index[host] = dict((key, str(hvars[key])) for key in ADDRESS_KEYS if key in hvars and hvars[key])
    return index


def nothing_declared(contracts: Sequence[Optional[Sequence[Any]]], strict: Sequence[bool]) -> bool:
    """True if the play would check nothing: every host of the play has its contract (CONTRACTS, None for a
    host not yet past the contract step, as with the strategy free), each is empty, and strict mode is on
    for none of them (STRICT: each host's portproof_strict, the play's own first)."""
    if any(contract is None for contract in contracts):
        return False
    return sum(len(contract or []) for contract in contracts) == 0 and not any(strict)


def refusal_message(play_hosts: Sequence[str]) -> str:
    return ("portproof: no host of this play (%s) declares a service: portproof_services and portproof_services__* are "
            "empty or not set for each of them, and portproof_strict is off, so nothing would be checked. Give the "
            "contract in the inventory (host_vars, group_vars), in play or role vars, in include_role vars or with -e "
            "(or set portproof_strict: true to require that nothing undeclared listens)." % ", ".join(play_hosts))


# The port_facts subsets every run gathers, and those gathered only when a chosen check kind reads them: persist reads
# who starts each listener (several systemctl runs on a systemd host) and the firewall loaded at boot (as large again
# as the running firewall's facts).
GATHER_ALWAYS = ("listeners", "firewall", "mappings", "addresses")
GATHER_FOR_KIND = {"persist": ("saved_firewall", "starters")}


def gather_subset(checks: Any) -> List[str]:
    """The port_facts gather_subset for the check kinds CHECKS (portproof_checks); StepError when it is no list of names."""
    if isinstance(checks, str) or not isinstance(checks, Sequence) or not all(isinstance(kind, str) for kind in checks):
        raise StepError("portproof_checks must be a list of check kinds, got %r" % (checks,))
    subsets = list(GATHER_ALWAYS)
    for kind in checks:
        subsets.extend(subset for subset in GATHER_FOR_KIND.get(kind, ()) if subset not in subsets)
    return subsets


def must_gather(gathered: bool, facts: Any, subsets: Sequence[str]) -> bool:
    """Whether the role gathers now: not yet in this run, or the facts of an earlier gather (a play that gathered for
    other check kinds first, e.g. without persist) lack a subset that the chosen kinds read."""
    if not gathered or not isinstance(facts, Mapping):
        return True
    return any(subset not in facts for subset in subsets)


def _expected_versions(service: Mapping[str, Any], groups: Mapping[str, Any], hostvars: Mapping[str, Any],
                       facts: Dict[str, Any]) -> Set[int]:
    versions = set()
    for _source, address, _note in expand_sources(service["allow_from"], groups, hostvars, facts):
        if address:
            versions.add(version_of(address))
    for entry in service["bind"]:
        if "network" in entry:
            versions.add(6 if ":" in entry["network"] else 4)
    return versions


def static_checks(contract: Sequence[Dict[str, Any]], facts: Dict[str, Any], host: str,
                  groups: Optional[Mapping[str, Any]] = None, hostvars: Optional[Mapping[str, Any]] = None,
                  kinds: Sequence[str] = DEFAULT_KINDS, strict: bool = False, ignore: Optional[Sequence[Any]] = None,
                  strict_loopback: bool = False, address: Optional[str] = None,
                  labels: Optional[Mapping[str, str]] = None) -> List[Result]:
    """Results of the static checks of KINDS for one host's CONTRACT over its gathered FACTS (LABELS: what answers on
    each undeclared listener, see check_undeclared)."""
    need_netaddr("static_checks")
    unknown = sorted(set(kinds) - set(KINDS + OPT_IN_KINDS))
    if unknown:
        raise StepError("static_checks: unknown check kinds %s (known: %s)" % (", ".join(unknown), ", ".join(KINDS + OPT_IN_KINDS)))
    groups = groups or {}
    hostvars = hostvars or {}
    indexed = Facts(facts)
    results = []  # type: List[Result]
    compiled_cache = {}  # type: Dict[Any, Any]
    for service in contract:
        if "listen" in kinds:
            results.append(check_listen(host, service, indexed, _expected_versions(service, groups, hostvars, facts)))
        if "bind" in kinds and not all(entry.get("class") == "any" for entry in service["bind"]):
            results.append(check_bind(host, service, indexed))
        if "process" in kinds and (service["process"] or service["user"]):
            results.append(check_process(host, service, indexed))
        if "mapping" in kinds and service["publish"]:
            results.append(check_mapping(host, service, indexed))
        if "persist" in kinds:
            results.append(check_persist(host, service, indexed))
        if "firewall_allow" in kinds or "firewall_deny" in kinds:
            for item in check_firewall(host, service, facts, groups, hostvars, address, compiled_cache):
                if item["check"] in kinds:
                    results.append(item)
        if "persist" in kinds:
            results.extend(check_persist_firewall(host, service, facts, groups, hostvars, address, compiled_cache))
    if "undeclared" in kinds and strict:
        results.extend(check_undeclared(host, contract, indexed, ignore or (), strict_loopback, labels))
    return results


def baseline_state(contract: Any, facts: Dict[str, Any], host: str, groups: Optional[Mapping[str, Any]] = None,
                   hostvars: Optional[Mapping[str, Any]] = None, address: Optional[str] = None,
                   saved: Optional[str] = None) -> Dict[str, Any]:
    """The baseline document of HOST: the normalised state of its declared services."""
    need_netaddr("baseline_state")
    if not isinstance(contract, list):
        raise StepError("baseline_state: the input must be the host's validated contract (portproof_contract)")
    return snapshot(contract, facts, host, groups=groups, hostvars=hostvars, address=address or None, saved=saved)


def drift_results(baseline: Optional[str], contract: Any, facts: Dict[str, Any], host: str,
                  groups: Optional[Mapping[str, Any]] = None, hostvars: Optional[Mapping[str, Any]] = None,
                  address: Optional[str] = None, mode: str = "fail", path: Optional[str] = None,
                  ignore: Optional[Sequence[Any]] = None, strict_loopback: bool = False) -> List[Result]:
    """drift results of HOST against BASELINE (the text of its baseline file, or None when there is none)."""
    need_netaddr("drift")
    if not isinstance(contract, list):
        raise StepError("drift: contract must be the host's validated contract (portproof_contract)")
    for index, item in enumerate(ignore or []):
        try:
            parse_port_spec(item)
        except ValueError as exc:
            raise StepError("drift: ignore[%d]: %s" % (index, exc))
    return drift(baseline, contract, facts, host, groups=groups, hostvars=hostvars, address=address or None, mode=mode, path=path,
                 ignore=list(ignore or []), loopback=bool(strict_loopback))


DEFAULT_DIR = "portproof-baseline"


def baseline_root(configured: Any) -> str:
    """The real path of the baseline directory (portproof_baseline_dir; portproof-baseline when empty or not set)."""
    return os.path.realpath(os.path.expanduser(str(configured or DEFAULT_DIR)))


def baseline_path(root: str, host: str) -> str:
    return os.path.join(root, evidence_name(host) + ".json")


def read_baseline(path: str) -> Optional[str]:
    """The text of the baseline file PATH, None when there is no such regular file (a FIFO or a directory there is
    not read: it is no baseline)."""
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        return handle.read().decode("utf-8", "surrogateescape")


def failed_hosts(results: Iterable[Mapping[str, Any]]) -> Dict[str, List[str]]:
    """{host: [message of each failed or errored result about it, in their order]}, hosts sorted by name."""
    found = {}  # type: Dict[str, List[str]]
    for item in results:
        if isinstance(item, Mapping) and item.get("status") in ("fail", "error"):
            found.setdefault(str(item.get("host")), []).append(str(item.get("message")))
    return dict((host, found[host]) for host in sorted(found))
