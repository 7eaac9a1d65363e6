# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Live check filters of portproof.validate (documentation: probe_plan.yml, probe_targets.yml, live_results.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import HAS_NETADDR
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import ContractError, contract_variables, load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._live_checks import interpret, load_results, play_results
from ansible_collections.portproof.validate.plugins.plugin_utils._probe_plan import LIVE_KINDS, build_plan, secret_options


def _contracts(hostvars, groups, hosts):
    names = set(groups.get("all", [])) | set(groups.get("ungrouped", []))
    contracts = []
    for host in hosts:
        hvars = hostvars.get(host) or {}
        services = hvars.get("portproof_contract")
        if services is None:
            try:
                services = load_contract(host, contract_variables(hvars), set(groups), names, address=hvars.get("portproof_address"))
            except ContractError as exc:
                services = "no live check of %s: %s" % (host, exc)
        contracts.append((host, services))
    return contracts


def probe_plan_filter(hostvars, groups, play_hosts_all, play_hosts, sample=None, timeout=None, controller="localhost", limit_hosts=None,
                      limit=None):
    """The live probe plan of the play, grouped by source."""
    if not HAS_NETADDR:
        raise AnsibleFilterError("probe_plan: the Python library netaddr is required on the controller (pip install netaddr)")
    if isinstance(sample, str) and sample.strip().isdigit():
        sample = int(sample)  # from -e on the command line
    if sample is not None and (not isinstance(sample, int) or isinstance(sample, bool) or sample < 0):
        raise AnsibleFilterError("probe_plan: sample (portproof_probe_sample) must be a whole number >= 0, got %r" % (sample,))
    if limit_hosts is not None and not isinstance(limit_hosts, (list, tuple)):
        raise AnsibleFilterError("probe_plan: limit_hosts must be the list of hosts the run's --limit selects, got %r" % (limit_hosts,))
    hosts = list(play_hosts_all)
    return build_plan(hostvars, groups, hosts, play_hosts, _contracts(hostvars, groups, hosts), sample=sample or None,
                      timeout=timeout, controller=controller, limit_hosts=limit_hosts, limit=limit)


def _service_check(hostvars, host, service):
    """The check block of SERVICE as the contract variables give it: the validated contract masks the secrets."""
    hvars = hostvars.get(host) or {}
    # the contract variables as the portproof role saw them (play and role vars too), else the host's own
    given = hvars.get("portproof_contract_variables")
    given = given if isinstance(given, dict) else hvars
    services = [item for _name, value in contract_variables(given) for item in value or [] if isinstance(item, dict)]
    services += hvars.get("portproof_contract") or []  # set without its variables (for example by a test)
    for item in services:
        if item.get("name") == service:
            return item.get("check") or {}
    raise AnsibleFilterError("probe_targets: service %s is not in the contract of %s" % (service, host))


def probe_targets_filter(entries, hostvars):
    """port_probe targets of plan entries, with the HTTP secrets (headers, basic auth) that the plan leaves out."""
    targets = []
    for entry in entries:
        target = dict(entry["target"])
        if entry.get("secret"):
            target["http"] = dict(target.get("http") or {}, **secret_options(_service_check(hostvars, entry["host"], entry["service"])))
        targets.append(target)
    return targets


def _registered_results(value):
    if not value or value.get("skipped") and not value.get("results"):
        return []
    return value.get("results") or []


def live_results_filter(plan, kinds, source=None, probe=None, load=None, first=False, play_hosts=None, delegated=None,
                        delegated_load=None):
    """Results of KINDS that the host SOURCE records: its own probes (PROBE, the registered port_probe
    result) and load runs (LOAD, the registered loop), and on the play's first host (FIRST) those
    of delegated, lost and departed sources and the plan's own errors."""
    unknown = sorted(set(kinds) - set(LIVE_KINDS))
    if unknown:
        raise AnsibleFilterError("live_results: unknown check kinds %s (known: %s)" % (", ".join(unknown), ", ".join(LIVE_KINDS)))
    results = []
    own = plan["sources"].get(source) if source is not None else None
    if own is not None and own["run"] == "self":
        results.extend(interpret(own["probes"], probe, kinds))
        if "load" in kinds:
            results.extend(load_results(own["load"], _registered_results(load)))
    if first:
        results.extend(play_results(plan, kinds, play_hosts or [], _registered_results(delegated), _registered_results(delegated_load)))
    return results


class FilterModule(object):
    """Live checks: the probe plan and the interpretation of probe results."""

    def filters(self):
        return {
            "probe_plan": probe_plan_filter,
            "probe_targets": probe_targets_filter,
            "live_results": live_results_filter,
        }
