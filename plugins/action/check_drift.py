# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.check_drift (private to the roles of this collection): compares the host with its baseline
# (portproof_baseline_dir/<host>.json on the controller, as the role baseline saved it) and returns the drift results
# (new) and the host's results with them (results), which the role validate copies into its variables. Skipped
# when the baseline directory does not exist. Reads the controller's file system only.

from __future__ import annotations

import os

from typing import Any, Dict

from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction
from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import (
    StepError, baseline_path, baseline_root, drift_results, read_baseline,
)


class ActionModule(StepAction):

    def step(self, result: Dict[str, Any], task_vars: Dict[str, Any], args: Dict[str, Any]) -> Dict[str, Any]:
        host = str(task_vars["inventory_hostname"])
        root = baseline_root(self.var(task_vars, "portproof_baseline_dir"))
        if not os.path.isdir(root):
            result.update(changed=False, skipped=True, msg="no baseline directory %s" % root)
            return result
        path = baseline_path(root, host)
        try:
            text = read_baseline(path)
        except OSError as err:
            result.update(failed=True, msg="drift of %s: cannot read its baseline %s: %s" % (host, path, err.strerror or err))
            return result
        try:
            new = drift_results(text, self.var(task_vars, "portproof_contract"), self.port_facts(task_vars), host,
                                groups=self.var(task_vars, "groups", {}), hostvars=self.addresses(task_vars),
                                address=self.address(task_vars), mode=self.var(task_vars, "portproof_drift", "fail"), path=path,
                                ignore=self.var(task_vars, "portproof_ignore") or [],
                                strict_loopback=self.flag(task_vars, "portproof_strict_loopback"))
        except StepError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(changed=False, new=new, results=list(self.var(task_vars, "portproof_results") or []) + new)
        return self.quiet(result)
