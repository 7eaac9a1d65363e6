# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.discover_identify (private to the role discover): each host asks its own listeners in its one
# discover_gather run; this asks, from elsewhere, those a host could not reach itself. discover_write reads the
# registered results. Nothing changes.
# step plan (once for the play): for each TCP listener a host could not reach itself (its own firewall keeps it out),
# the first source its firewall verdict lets in (plugin_utils/_discover_identify.fallback_plan); step source (on each
# such source host, or delegated to the controller with source: controller): ONE port_probe run that asks them.

from __future__ import annotations

from typing import Any, Dict

from ansible.errors import AnsibleError

from ansible_collections.portproof.validate.plugins.plugin_utils._discover_identify import (
    asked_from, fallback_plan,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._firewall_checks import host_address
from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction, module_data

DEFAULT_TIMEOUT = 5.0
# The variables the role registers the steps in: the host's own run, the plan (once for the play).
IDENTIFIED = "portproof_discover_gathered"
PLAN = "portproof_discover_fallback"


class ActionModule(StepAction):

    ARGUMENT_SPEC = {
        "step": {"type": "str", "choices": ["plan", "source"], "required": True},
        "source": {"type": "str"},
    }

    # the identification runs port_probe on the host
    _requires_connection = True

    def step(self, result: Dict[str, Any], task_vars: Dict[str, Any], args: Dict[str, Any]) -> Dict[str, Any]:
        host = str(task_vars["inventory_hostname"])
        timeout, refused = self.probe_timeout(task_vars, DEFAULT_TIMEOUT)
        if refused:
            result.update(failed=True, msg=refused)
            return result
        if args["step"] == "plan":
            return self._plan(result, task_vars, timeout)
        return self._source(result, task_vars, str(args.get("source") or host), timeout)

    def _plan(self, result: Dict[str, Any], task_vars: Dict[str, Any], timeout: float) -> Dict[str, Any]:
        """Who asks the listeners that a host of the play could not reach itself: {plan: {source: [entries]}, sources}."""
        hostvars = task_vars["hostvars"]
        groups = dict((str(k), [str(h) for h in v]) for k, v in (self.var(task_vars, "groups", {}) or {}).items())
        play_hosts = [str(h) for h in self.var(task_vars, "ansible_play_hosts", [])]
        index = self.addresses(task_vars)
        identified: Dict[str, Any] = {}
        facts: Dict[str, Any] = {}
        for name in play_hosts:
            hvars = module_data(hostvars, name)  # module results, read as they are (not templated)
            asked, gathered = hvars.get(IDENTIFIED), (hvars.get("ansible_facts") or {}).get("portproof")
            if isinstance(asked, dict) and isinstance(asked.get("identified"), dict) and isinstance(gathered, dict):
                identified[name], facts[name] = asked["identified"], gathered
        addresses = dict((name, host_address(index, name)) for name in identified)
        # the address index, not hostvars: every read of hostvars[HOST] computes all of HOST's variables
        plan = fallback_plan(identified, facts, groups, index, addresses, play_hosts, timeout)
        result.update(changed=False, plan=plan, sources=sorted(source for source in plan if source != "controller"),
                      controller="controller" in plan)
        return self.quiet(result)

    def _source(self, result: Dict[str, Any], task_vars: Dict[str, Any], source: str, timeout: float) -> Dict[str, Any]:
        """SOURCE asks, in one port_probe run, every listener the plan gives it: {asked: {host: {"80/tcp": ...}}}."""
        plan = self.var(task_vars, PLAN)
        entries = ((plan or {}).get("plan") or {}).get(source) if isinstance(plan, dict) else None
        if not entries:
            result.update(changed=False, asked={}, probes=0)
            return self.quiet(result)
        index = self.addresses(task_vars)
        for entry in entries:  # only the inventory's own addresses are ever asked
            if entry["address"] != host_address(index, entry["host"]) or any(t["host"] != entry["address"] for t in entry["targets"]):
                result.update(failed=True, msg="discover_identify from %s: %s is not the inventory address of %s"
                                               % (source, entry["address"], entry["host"]))
                return result
        targets = [target for entry in entries for target in entry["targets"]]
        try:
            run = self._execute_module(module_name="portproof.validate.port_probe", module_args={"targets": targets, "first_answer": True},
                                       task_vars=task_vars)
        except AnsibleError as exc:
            run = {"failed": True, "msg": str(exc)}
        result.update(changed=False, asked=asked_from(source, entries, run, timeout), probes=len(targets))
        return self.quiet(result)
