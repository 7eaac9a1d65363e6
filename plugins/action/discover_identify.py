# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.discover_identify (private to the role discover): what answers on each listener of the host
# that discover may propose, learnt by the host itself in ONE port_probe run (every credential-free handshake of
# the protocol identification at once, bounded by portproof_probe_timeout; plugin_utils/_discover_identify.py).
# No module runs when the host has no such listener. discover_write reads the registered result. Nothing changes.

from __future__ import annotations

from typing import Any, Dict

from ansible.errors import AnsibleError

from ansible_collections.portproof.validate.plugins.plugin_utils._discover import EPHEMERAL
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_identify import identified_from, identify_plan
from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction

DEFAULT_TIMEOUT = 5.0


class ActionModule(StepAction):

    # the identification runs port_probe on the host
    _requires_connection = True

    def step(self, result: Dict[str, Any], task_vars: Dict[str, Any], args: Dict[str, Any]) -> Dict[str, Any]:
        host = str(task_vars["inventory_hostname"])
        facts = self.port_facts(task_vars)
        if not isinstance(facts, dict):
            result.update(failed=True, msg="discover_identify on %s: its port facts (ansible_facts.portproof) are needed; "
                                           "gather them first (port_facts)" % host)
            return result
        raw = self.var(task_vars, "portproof_probe_timeout", DEFAULT_TIMEOUT)
        try:
            timeout = float(raw if raw is not None else DEFAULT_TIMEOUT)
        except (TypeError, ValueError):
            timeout = -1.0
        if not 0 < timeout <= 3600:
            result.update(failed=True, msg="portproof_probe_timeout must be a number of seconds above 0 (at most 3600), not %r" % (raw,))
            return result
        targets = identify_plan(facts, self.address(task_vars), timeout, EPHEMERAL,
                                ssh=str(self.var(task_vars, "portproof_discover_ssh", "ignore")))
        identified: Dict[str, Any] = {}
        if targets:
            try:
                run = self._execute_module(module_name="portproof.validate.port_probe", module_args={"targets": targets},
                                           task_vars=task_vars)
            except AnsibleError as exc:  # reached for port_facts just before: the labels say why, discover goes on
                run = {"failed": True, "msg": str(exc)}
            identified = identified_from(run, targets, timeout)
        result.update(changed=False, identified=identified, probes=len(targets))
        return self.quiet(result)
