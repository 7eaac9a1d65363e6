# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.restart_step (private to the role restart_drill): stage plan, run once for the play, lists the
# services to restart host after host with the allowed source that polls each after its restart; stage record judges
# one service from what restart_unit measured on its host and what port_probe saw from the source. Both run on the
# controller (plugin_utils/_restart_drill.py) and never connect to a host.

from __future__ import annotations

from typing import Any, Dict

from ansible_collections.portproof.validate.plugins.plugin_utils._restart_drill import plan, record
from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction


class ActionModule(StepAction):

    ARGUMENT_SPEC = dict(
        stage=dict(type="str", required=True, choices=["plan", "record"]),
        step=dict(type="dict"),
        restarted=dict(type="dict"),
        probed=dict(type="dict"),
    )

    def step(self, result: Dict[str, Any], task_vars: Dict[str, Any], args: Dict[str, Any]) -> Dict[str, Any]:
        if args["stage"] == "plan":
            hostvars = task_vars["hostvars"]
            play_hosts = [str(host) for host in self.var(task_vars, "ansible_play_hosts", [])]
            contracts = dict((host, hostvars[host].get("portproof_contract")) for host in play_hosts)
            steps = plan(contracts, play_hosts, self.var(task_vars, "groups", {}), self.addresses(task_vars))
            result.update(changed=False, steps=steps, runner=task_vars["inventory_hostname"])
            return result
        if args["step"] is None or args["restarted"] is None:
            result.update(failed=True, msg="restart_step: stage record needs step and restarted")
            return result
        result.update(changed=False, result=record(args["step"], args["restarted"], args["probed"]))
        return result
