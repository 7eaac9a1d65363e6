# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.contract_load (private to the roles of this collection): validates the host's contract, read
# from its contract variables as the task sees them (inventory, play vars, role vars, include_role vars, -e), and
# starts its results. The role validate copies what it returns into the host's variables.

from __future__ import annotations

from typing import Any, Dict

from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction
from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import StepError, contract_names, gather_subset, host_contract, must_gather


class ActionModule(StepAction):

    def step(self, result: Dict[str, Any], task_vars: Dict[str, Any], args: Dict[str, Any]) -> Dict[str, Any]:
        host = str(task_vars["inventory_hostname"])
        contract = self.var(task_vars, "portproof_contract")
        if contract is None:
            names = contract_names(task_vars)
            given = dict((name, self.var(task_vars, name)) for name in names)
            try:
                contract = host_contract(given, host, self.var(task_vars, "groups", {}),
                                         strict=self.var(task_vars, "portproof_strict", False),
                                         ignore=self.var(task_vars, "portproof_ignore") or [],
                                         address=self.var(task_vars, "portproof_address") or "")
            except StepError as exc:
                result.update(failed=True, msg=str(exc))
                return result
        try:
            subset = gather_subset(self.var(task_vars, "portproof_checks", []))
        except StepError as exc:
            result.update(failed=True, msg="%s: %s" % (host, exc))
            return result
        result.update(changed=False, contract=contract, results=list(self.var(task_vars, "portproof_results") or []),
                      gather_now=must_gather(self.flag(task_vars, "portproof_gathered"), self.port_facts(task_vars), subset),
                      gather_subset=subset)
        return self.quiet(result)
