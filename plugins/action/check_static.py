# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.check_static (private to the roles of this collection): the static checks of the kinds given
# for the host, over its contract (portproof_contract) and its port facts, on the controller. Returns this step's
# results (new) and the host's results with them (results), which the role validate copies into its variables.

from __future__ import annotations

from typing import Any, Dict, Optional

from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction
from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import KINDS, OPT_IN_KINDS, StepError, static_checks

ARGUMENT_SPEC = {"kinds": {"type": "list", "elements": "str", "required": True, "choices": list(KINDS + OPT_IN_KINDS)}}


class ActionModule(StepAction):

    def run(self, tmp: Any = None, task_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host = str(task_vars["inventory_hostname"])
        contract = self.var(task_vars, "portproof_contract")
        facts = self.port_facts(task_vars)
        if not isinstance(contract, list) or not isinstance(facts, dict):
            result.update(failed=True, msg="static checks of %s: its contract (portproof_contract) and port facts "
                                           "(ansible_facts.portproof) are needed; run the role validate's entry point "
                                           "gather first" % host)
            return result
        try:
            new = static_checks(contract, facts, host, groups=self.var(task_vars, "groups", {}), hostvars=self.addresses(task_vars),
                                kinds=args["kinds"], strict=self.flag(task_vars, "portproof_strict"),
                                ignore=self.var(task_vars, "portproof_ignore") or [],
                                strict_loopback=self.flag(task_vars, "portproof_strict_loopback"), address=self.address(task_vars))
        except StepError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(changed=False, new=new, results=list(self.var(task_vars, "portproof_results") or []) + new)
        return self.quiet(result)
