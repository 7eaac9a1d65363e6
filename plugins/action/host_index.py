# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.host_index (private to the roles of this collection), run once for the play after each host's
# contract is loaded: refuses a play in which no host declares a service and none is strict (it would check
# nothing), and indexes where the hosts of the inventory are reached (the static checks, drift and the baseline of
# every host read this index, made once, instead of every host's variables).

from __future__ import annotations

from typing import Any, Dict, List

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction
from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import host_addresses, nothing_declared, refusal_message


class ActionModule(StepAction):

    # refuse: false (the role discover, which has no contract to check) only indexes the addresses
    ARGUMENT_SPEC = {"refuse": {"type": "bool", "default": True}}

    def step(self, result: Dict[str, Any], task_vars: Dict[str, Any], args: Dict[str, Any]) -> Dict[str, Any]:
        hostvars = task_vars["hostvars"]
        all_hosts = list(self.var(task_vars, "groups", {}).get("all", []))
        if not args["refuse"]:
            result.update(changed=False, host_addresses=host_addresses(hostvars, all_hosts))
            return self.quiet(result)
        play_hosts = [str(host) for host in self.var(task_vars, "ansible_play_hosts", [])]
        contracts = []  # type: List[Any]
        strict = [self.flag(task_vars, "portproof_strict")]
        for host in play_hosts:
            hvars = hostvars[host]
            # a host not yet past the contract step (strategy free) is not counted as empty
            contracts.append(hvars["portproof_contract"] if "portproof_contract" in hvars else None)
            if "portproof_strict" in hvars:
                value = hvars["portproof_strict"]
                strict.append(boolean(value, strict=False) if value is not None else False)
        if nothing_declared(contracts, strict):
            result.update(failed=True, msg=refusal_message(play_hosts))
            return result
        result.update(changed=False, host_addresses=host_addresses(hostvars, all_hosts))
        return self.quiet(result)
