# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.discover_resolve (private to the role discover): the host resolves, as its clients do, the
# candidate DNS names of every other host of the play (inventory name and ansible_host, when names;
# plugin_utils/_discover_names.py), in ONE port_probe run with resolve, bounded by portproof_probe_timeout. No module
# runs when there is no name to resolve. discover_write reads the registered result. Nothing changes.

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ansible.errors import AnsibleError

from ansible_collections.portproof.validate.plugins.plugin_utils._discover_names import candidates, resolved_from
from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction

DEFAULT_TIMEOUT = 5.0


class ActionModule(StepAction):

    # the names are resolved by port_probe on the host
    _requires_connection = True

    def step(self, result: Dict[str, Any], task_vars: Dict[str, Any], args: Dict[str, Any]) -> Dict[str, Any]:
        host = str(task_vars["inventory_hostname"])
        raw = self.var(task_vars, "portproof_probe_timeout", DEFAULT_TIMEOUT)
        try:
            timeout = float(raw if raw is not None else DEFAULT_TIMEOUT)
        except (TypeError, ValueError):
            timeout = -1.0
        if not 0 < timeout <= 3600:
            result.update(failed=True, msg="portproof_probe_timeout must be a number of seconds above 0 (at most 3600), not %r" % (raw,))
            return result
        hostvars = task_vars["hostvars"]
        names: List[str] = []
        for other in [str(h) for h in self.var(task_vars, "ansible_play_hosts_all", [])]:
            if other == host:
                continue
            for name in candidates(other, self._templar.template(hostvars[other].get("ansible_host"))):
                if name not in names:
                    names.append(name)
        resolved: Optional[Dict[str, Any]] = {}
        if names:
            try:
                run = self._execute_module(module_name="portproof.validate.port_probe",
                                           module_args={"targets": [], "resolve": {"names": names, "timeout": timeout}},
                                           task_vars=task_vars)
            except AnsibleError as exc:  # reached for port_facts just before: no name is proposed from this host
                run = {"failed": True, "msg": str(exc)}
            resolved = resolved_from(run, names)
            if resolved is None:
                result["warnings"] = ["discover_resolve on %s: port_probe failed (%s): the names it would have resolved are "
                                      "not proposed" % (host, str(run.get("msg") or "no message")[:300])]
        result.update(changed=False, names=names, resolved=resolved)
        return self.quiet(result)
