# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.check_static (private to the roles of this collection): the static checks of the kinds given
# for the host, over its contract (portproof_contract) and its port facts, on the controller. Returns this step's
# results (new) and the host's results with them (results), which the role validate copies into its variables.
# In strict mode, when the host has undeclared listeners, it runs port_probe once on the host to learn what answers
# on each of them (plugin_utils/_undeclared_identify.py): the label goes into their undeclared results.

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from ansible.errors import AnsibleError

from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction
from ansible_collections.portproof.validate.plugins.plugin_utils._undeclared_identify import identify_plan, labels_from
from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import KINDS, OPT_IN_KINDS, StepError, static_checks


class ActionModule(StepAction):

    ARGUMENT_SPEC = {"kinds": {"type": "list", "elements": "str", "required": True, "choices": list(KINDS + OPT_IN_KINDS)}}

    # the identification of undeclared listeners runs port_probe on the host
    _requires_connection = True

    def _labels(self, contract: List[Any], facts: Dict[str, Any], task_vars: Dict[str, Any]) -> Optional[Mapping[str, str]]:
        """What answers on each undeclared listener of the host; None when it has none (no module runs)."""
        try:
            timeout = float(self.var(task_vars, "portproof_probe_timeout") or 5.0)
        except (TypeError, ValueError):
            raise StepError("portproof_probe_timeout must be a number of seconds, not %r" % self.var(task_vars, "portproof_probe_timeout"))
        targets, labels = identify_plan(contract, facts, self.var(task_vars, "portproof_ignore") or [],
                                        self.flag(task_vars, "portproof_strict_loopback"), timeout)
        if targets:
            try:
                run = self._execute_module(module_name="portproof.validate.port_probe", module_args={"targets": targets, "first_answer": True},
                                           task_vars=task_vars)
            except AnsibleError as exc:  # unreachable since it was gathered: the label says so, the step goes on
                run = {"failed": True, "msg": str(exc)}
            labels.update(labels_from(run, targets, timeout))
        return labels or None

    def step(self, result: Dict[str, Any], task_vars: Dict[str, Any], args: Dict[str, Any]) -> Dict[str, Any]:
        host = str(task_vars["inventory_hostname"])
        contract = self.var(task_vars, "portproof_contract")
        facts = self.port_facts(task_vars)
        if not isinstance(contract, list) or not isinstance(facts, dict):
            result.update(failed=True, msg="static checks of %s: its contract (portproof_contract) and port facts "
                                           "(ansible_facts.portproof) are needed; run the role validate's entry point "
                                           "gather first" % host)
            return result
        try:
            strict = self.flag(task_vars, "portproof_strict")
            labels = self._labels(contract, facts, task_vars) if strict and "undeclared" in args["kinds"] else None
            new = static_checks(contract, facts, host, groups=self.var(task_vars, "groups", {}), hostvars=self.addresses(task_vars),
                                kinds=args["kinds"], strict=strict, labels=labels,
                                ignore=self.var(task_vars, "portproof_ignore") or [],
                                strict_loopback=self.flag(task_vars, "portproof_strict_loopback"), address=self.address(task_vars))
        except StepError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(changed=False, new=new, results=list(self.var(task_vars, "portproof_results") or []) + new)
        return self.quiet(result)
