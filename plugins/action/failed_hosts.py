# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.failed_hosts (private to the roles of this collection), run once for the play: the hosts of the
# play that a failed or errored result of the step before is about, each with the messages of those results. The
# results are read from the variable named by results_from of every host of the play, once (each host reading every
# host's results would be quadratic in the hosts).

from __future__ import annotations

from typing import Any, Dict, List

from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction
from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import failed_hosts


class ActionModule(StepAction):

    ARGUMENT_SPEC = {"results_from": {"type": "str", "required": True}}

    def step(self, result: Dict[str, Any], task_vars: Dict[str, Any], args: Dict[str, Any]) -> Dict[str, Any]:
        name = args["results_from"]
        hostvars = task_vars["hostvars"]
        results = []  # type: List[Any]
        for host in self.var(task_vars, "ansible_play_hosts", []):
            hvars = hostvars[str(host)]
            found = hvars[name] if name in hvars else None
            if found is None:
                continue
            if not isinstance(found, list):
                result.update(failed=True, msg="failed_hosts: %s of %s must be a list of results, got %s"
                                               % (name, host, type(found).__name__))
                return result
            results.extend(found)
        result.update(changed=False, hosts=failed_hosts(results))
        return self.quiet(result)
