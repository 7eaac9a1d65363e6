# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.live_record (private to the roles of this collection): the last computing task of a live
# step, run once for the play on the controller. Turns what every source returned (the live_probe results
# registered as portproof_live_run on each host and portproof_live_delegated_run) into the results each host of
# the play records (plugin_utils/_live_step.py record), and returns the state a later step of the play reads.
# Registered as portproof_live_record; a set_fact on each host then only copies its part.

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleActionFail

from ansible_collections.portproof.validate.plugins.plugin_utils._live_step import RECORDED_VARIABLES, LiveStepError, record
from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction


class ActionModule(StepAction):

    ARGUMENT_SPEC = {
        "kinds": {"type": "list", "elements": "str", "required": True},
    }

    def step(self, result: t.Dict[str, t.Any], task_vars: t.Dict[str, t.Any], args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        step = task_vars.get("portproof_live_step")
        if not isinstance(step, dict) or not isinstance(step.get("plan"), dict):
            raise AnsibleActionFail("live checks: no plan of the play (portproof_live_step): the live_plan task must run first")
        hostvars = task_vars["hostvars"]
        play_hosts = [str(host) for host in task_vars["ansible_play_hosts"]]
        registered, previous = {}, {}
        for host in play_hosts:
            # through the public interface (hostvars[host]); what the hosts recorded is data, so templating it changes nothing
            variables = hostvars[host]
            registered[host] = variables.get("portproof_live_run")
            previous[host] = dict((name, variables.get(name)) for name in RECORDED_VARIABLES)
        try:
            recorded = record(step["plan"], args["kinds"], step["key"], bool(step.get("fresh")), play_hosts, registered,
                              task_vars.get("portproof_live_delegated_run"), previous, (task_vars.get("portproof_live_record") or {}).get("state"))
        except LiveStepError as exc:
            raise AnsibleActionFail("live checks: %s" % exc)
        result.update(changed=False, **recorded)
        return self.quiet(result)
