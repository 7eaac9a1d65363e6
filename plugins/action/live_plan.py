# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.live_plan (private to the roles of this collection): the first task of a live step, run once
# for the play on the controller. Decides whether the step probes or reuses the probe run of an earlier step of
# the same play, plans the probes of the whole play when it probes (plugin_utils/_probe_plan.py), and returns
# the plan, the summary line and the delegated work of the step. Registered as portproof_live_step.

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.portproof.validate.plugins.plugin_utils._live_step import (
    LiveStepError, check_kinds, delegated_work, make_plan, must_probe, probing_hosts, step_key, summary,
)

# From this verbosity on, the plan is shown.
SHOW_FROM = 3

ARGUMENT_SPEC = {
    "kinds": {"type": "list", "elements": "str", "required": True},
    "sample": {"type": "raw"},
    "timeout": {"type": "raw"},
    # the hosts the run's --limit (ansible_limit) selects, as the inventory_hostnames lookup gives them
    "limit_hosts": {"type": "list", "elements": "str"},
}


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: t.Any = None, task_vars: t.Optional[t.Dict[str, t.Any]] = None) -> t.Dict[str, t.Any]:
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        hosts_all = [str(host) for host in task_vars["ansible_play_hosts_all"]]
        key = step_key(str(task_vars.get("ansible_play_name") or ""), hosts_all)
        try:
            kinds = check_kinds(args["kinds"])
            previous = task_vars.get("portproof_live_step")
            fresh = must_probe(kinds, key, previous, (task_vars.get("portproof_live_record") or {}).get("state"))
            if fresh:
                limit = task_vars.get("ansible_limit")
                plan = make_plan(task_vars["hostvars"], task_vars["groups"], hosts_all, [str(host) for host in task_vars["ansible_play_hosts"]],
                                 sample=args["sample"], timeout=args["timeout"], limit_hosts=args["limit_hosts"] if limit else None,
                                 limit=limit or None)
            else:
                plan = t.cast(t.Dict[str, t.Any], previous)["plan"]
        except LiveStepError as exc:
            raise AnsibleActionFail("live checks: %s" % exc)
        result.update(changed=False, fresh=fresh, key=key, kinds=kinds, plan=plan, probing=probing_hosts(plan, fresh, kinds),
                      delegated=delegated_work(plan, fresh, kinds),
                      summary=summary(plan) if fresh else None)
        if Display().verbosity < SHOW_FROM:
            result["_ansible_verbose_override"] = True
        return result
