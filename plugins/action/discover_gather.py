# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.discover_gather (private to the role discover): ONE module run on the host (module
# discover_gather) that gathers the port facts (as port_facts: ansible_facts.portproof, gathered_at, run_id), asks the
# host's own listeners what answers (planned on the host: module_utils/_discover/_plan.py; when
# portproof_discover_identify) and resolves the other hosts' candidate names as its clients do (computed here from the
# inventory: plugin_utils/_discover_names.py; when portproof_discover_names), probes and names at once, bounded by
# portproof_probe_timeout. It returns identified and
# probes, names and resolved; discover_write and the fallback plan read them from the registered result. Nothing changes.

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ansible_collections.portproof.validate.plugins.plugin_utils._discover import EPHEMERAL
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_identify import identified_from
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_names import candidates, resolved_from
from ansible_collections.portproof.validate.plugins.plugin_utils._slices import utc_now_text
from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction

DEFAULT_TIMEOUT = 5.0


class ActionModule(StepAction):

    ARGUMENT_SPEC = {
        "namespaces": {"type": "str", "choices": ["host", "all"], "default": "host"},
    }

    # the module runs on the host
    _requires_connection = True

    def step(self, result: Dict[str, Any], task_vars: Dict[str, Any], args: Dict[str, Any]) -> Dict[str, Any]:
        host = str(task_vars["inventory_hostname"])
        timeout, refused = self.probe_timeout(task_vars, DEFAULT_TIMEOUT)
        if refused:
            result.update(failed=True, msg=refused)
            return result
        identify = self.flag(task_vars, "portproof_discover_identify")
        resolve = self.flag(task_vars, "portproof_discover_names")
        names: List[str] = []
        if resolve:
            # the address index (host_index, once for the play), not hostvars: every read of hostvars[HOST] computes all of
            # HOST's variables, and every host would read every other one
            index = self.addresses(task_vars)
            for other in [str(h) for h in self.var(task_vars, "ansible_play_hosts_all", [])]:
                if other == host:
                    continue
                for name in candidates(other, (index.get(other) or {}).get("ansible_host")):
                    if name not in names:
                        names.append(name)
        module_args = {"namespaces": args["namespaces"], "identify": identify, "address": self.address(task_vars),
                       "timeout": timeout, "ephemeral": list(EPHEMERAL),
                       "ssh": str(self.var(task_vars, "portproof_discover_ssh", "ignore")), "names": names}
        run = self._execute_module(module_name="portproof.validate.discover_gather", module_args=module_args,
                                   task_vars=task_vars)
        if run.get("failed") or run.get("unreachable"):
            result.update(run)
            return result
        facts = (run.get("ansible_facts") or {}).get("portproof")
        if isinstance(facts, dict):  # as the action port_facts marks them
            facts["gathered_at"] = utc_now_text()
            run_id = self._templar.template(task_vars.get("portproof_run_id") or "")
            if run_id:
                facts["run_id"] = str(run_id)
        result.update(changed=False, ansible_facts=run.get("ansible_facts"))
        for key in ("warnings", "deprecations"):
            if run.get(key):
                result[key] = list(run[key])
        probe = run.get("probe") if isinstance(run.get("probe"), dict) else {"failed": True, "msg": "no probe result"}
        targets = [t for t in run.get("targets") or [] if isinstance(t, dict)]
        if identify:
            result.update(identified=identified_from(probe, targets, timeout) if targets else {}, probes=len(targets))
        if resolve:
            resolved: Optional[Dict[str, Any]] = {}
            if names:
                resolved = resolved_from(probe, names)
                if resolved is None:
                    result.setdefault("warnings", []).append(
                        "discover_gather on %s: port_probe failed (%s): the names it would have resolved are not proposed"
                        % (host, str(probe.get("msg") or "no message")[:300]))
            result.update(names=names, resolved=resolved)
        return self.quiet(result)
