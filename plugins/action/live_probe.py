# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.live_probe (private to the roles of this collection): probes, from the host the task runs on
# (or is delegated to), every target the live step's plan (portproof_live_step) gives the source: one run of the
# port_probe module with all its probes when the step probes, then one run per load entry when the step checks
# load. The HTTP secrets the plan leaves out are added here, from the contract variables. A port_probe run that
# fails is returned as it is (the results then say why); an unreachable host makes the task unreachable, as the
# port_probe task would be (except during a load run, whose result then says so).

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure

from ansible_collections.portproof.validate.plugins.module_utils._probe._argspec import argument_error
from ansible_collections.portproof.validate.plugins.module_utils._probe._http import evaluate_deferred
from ansible_collections.portproof.validate.plugins.plugin_utils._live_step import (
    LiveStepError, check_kinds, load_caps, probe_targets, resolve_names, source_part,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction

try:
    import jmespath
except ImportError:
    jmespath = None


class ActionModule(StepAction):

    ARGUMENT_SPEC = {
        "kinds": {"type": "list", "elements": "str", "required": True},
        "source": {"type": "str"},
        "allow_link_local": {"type": "bool", "default": False},
        "max_requests": {"type": "raw", "default": 10000},
        "max_concurrency": {"type": "raw", "default": 100},
        "deadline": {"type": "raw", "default": 60.0},
    }
    # the probes run port_probe on the source host
    _requires_connection = True

    def _probe(self, module_args: t.Dict[str, t.Any], task_vars: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        error = argument_error(module_args)
        if error is not None:  # a plan port_probe cannot take: nothing is sent to the host
            return {"failed": True, "msg": error}
        run = self._execute_module(module_name="portproof.validate.port_probe", module_args=module_args, task_vars=task_vars)
        if not run.get("failed"):
            evaluate_deferred(run, jmespath.search if jmespath is not None else None)
        run.pop("invocation", None)
        return run

    def step(self, result: t.Dict[str, t.Any], task_vars: t.Dict[str, t.Any], args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        step = task_vars.get("portproof_live_step")
        if not isinstance(step, dict) or not isinstance(step.get("plan"), dict):
            raise AnsibleActionFail("live checks: no plan of the play (portproof_live_step): the live_plan task must run first")
        source = args["source"] or str(task_vars["inventory_hostname"])
        hostvars = task_vars["hostvars"]
        try:
            kinds = check_kinds(args["kinds"])
            part = source_part(step["plan"], source, delegated=args["source"] is not None)
            caps = load_caps(args["max_requests"], args["max_concurrency"], args["deadline"])
            probes = probe_targets(part["probes"], hostvars) if step.get("fresh") else []
            names = resolve_names(part.get("names") or []) if step.get("fresh") else None
            loads = [(entry, probe_targets([entry], hostvars)) for entry in part["load"]] if "load" in kinds else []
        except LiveStepError as exc:
            raise AnsibleActionFail("live checks of %s: %s" % (source, exc))
        allow = args["allow_link_local"]
        result.update(changed=False, source=source, probe=None, load=[])
        if probes or names:
            # unreachable: raised, so that the task is unreachable and the host's results say why
            module_args: t.Dict[str, t.Any] = {"targets": probes, "allow_link_local": allow}
            if names:
                module_args["resolve"] = names  # resolved on this source, beside its probes
            result["probe"] = self._probe(module_args, task_vars)
        for entry, targets in loads:
            try:
                run = self._probe({"targets": targets, "load": dict(entry["load"], **caps), "allow_link_local": allow}, task_vars)
            except AnsibleConnectionFailure as exc:
                run = {"unreachable": True, "msg": str(exc)}
            result["load"].append(run)
        return self.quiet(result)
