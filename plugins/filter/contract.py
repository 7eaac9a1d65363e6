# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Contract filters of portproof.validate (documentation: contract.yml, static_checks.yml, port_spec.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import HAS_NETADDR, version_of
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import ContractError, contract_variables, load_contract, parse_port_spec
from ansible_collections.portproof.validate.plugins.plugin_utils._firewall_checks import check_firewall, expand_sources
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import (
    Facts, check_bind, check_listen, check_mapping, check_process, check_undeclared,
)

KINDS = ("listen", "bind", "process", "undeclared", "mapping", "firewall_allow", "firewall_deny")


def _need_netaddr(name):
    if not HAS_NETADDR:
        raise AnsibleFilterError("%s: the Python library netaddr is required on the controller (pip install netaddr)" % name)


SECRET = "********"


def _without_secrets(service):
    """SERVICE with its HTTP header values and basic-auth password masked (a copy where it has any).

    The contract becomes a host fact, which Ansible prints with -v and the report keeps; the live
    checks take the secrets from the contract variables themselves when they probe.
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


def contract_filter(hostvars, host, groups, strict=False, ignore=None, address=None):
    """The validated, normalised contract of HOST from its variables (hostvars[HOST]), secrets masked."""
    _need_netaddr("contract")
    names = set(groups.get("all", [])) | set(groups.get("ungrouped", []))
    try:
        services = load_contract(host, contract_variables(hostvars), set(groups), names, strict=strict, ignore=ignore, address=address)
    except ContractError as exc:
        raise AnsibleFilterError(str(exc))
    return [_without_secrets(service) for service in services]


def _expected_versions(service, groups, hostvars, facts):
    versions = set()
    for _source, address, _note in expand_sources(service["allow_from"], groups, hostvars, facts):
        if address:
            versions.add(version_of(address))
    for entry in service["bind"]:
        if "network" in entry:
            versions.add(6 if ":" in entry["network"] else 4)
    return versions


def static_checks_filter(contract, facts, host, groups=None, hostvars=None, kinds=KINDS, strict=False, ignore=None,
                         strict_loopback=False, address=None):
    """Results of the static checks of KINDS for one host's CONTRACT over its gathered FACTS."""
    _need_netaddr("static_checks")
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise AnsibleFilterError("static_checks: unknown check kinds %s (known: %s)" % (", ".join(unknown), ", ".join(KINDS)))
    groups = groups or {}
    hostvars = hostvars or {}
    indexed = Facts(facts)
    results = []
    compiled_cache = {}
    for service in contract:
        if "listen" in kinds:
            results.append(check_listen(host, service, indexed, _expected_versions(service, groups, hostvars, facts)))
        if "bind" in kinds and not all(entry.get("class") == "any" for entry in service["bind"]):
            results.append(check_bind(host, service, indexed))
        if "process" in kinds and (service["process"] or service["user"]):
            results.append(check_process(host, service, indexed))
        if "mapping" in kinds and service["publish"]:
            results.append(check_mapping(host, service, indexed))
        if "firewall_allow" in kinds or "firewall_deny" in kinds:
            for item in check_firewall(host, service, facts, groups, hostvars, address, compiled_cache):
                if item["check"] in kinds:
                    results.append(item)
    if "undeclared" in kinds and strict:
        results.extend(check_undeclared(host, contract, indexed, ignore or (), strict_loopback))
    return results


def port_spec_filter(spec):
    """'8000-8010/tcp' -> {first, last, protos}."""
    try:
        first, last, protos = parse_port_spec(spec)
    except ValueError as exc:
        raise AnsibleFilterError("port_spec: %s" % exc)
    return {"first": first, "last": last, "protos": list(protos)}


class FilterModule(object):
    """Contract loading and static checks."""

    def filters(self):
        return {
            "contract": contract_filter,
            "static_checks": static_checks_filter,
            "port_spec": port_spec_filter,
        }
