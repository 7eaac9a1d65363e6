# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.baseline_save (private to the roles of this collection): saves the known-good state of the
# host's declared services to portproof_baseline_dir/<host>.json on the controller (the directory made with mode
# 0755 if missing; the file written atomically with mode 0644, left alone when unchanged). Nothing on the host
# changes: the result is never a change on it (written says whether the file was written).

from __future__ import annotations

import datetime
import json

from typing import Any, Dict

from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.portproof.validate.plugins.action.report_write import ReportWriteError, _make_dirs, write_file
from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction
from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import StepError, baseline_path, baseline_root, baseline_state

SAVED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def baseline_text(state: Dict[str, Any]) -> str:
    """The text of a baseline file: JSON, keys sorted, indented by 4 (as ansible.builtin.to_nice_json writes it)."""
    return json.dumps(state, indent=4, sort_keys=True, separators=(",", ": "))


class ActionModule(StepAction):

    def step(self, result: Dict[str, Any], task_vars: Dict[str, Any], args: Dict[str, Any]) -> Dict[str, Any]:
        host = str(task_vars["inventory_hostname"])
        facts = self.port_facts(task_vars)
        if not isinstance(facts, dict):
            result.update(failed=True, msg="baseline of %s: its port facts (ansible_facts.portproof) are needed; run the role "
                                           "validate's entry point gather first" % host)
            return result
        saved = datetime.datetime.now(datetime.timezone.utc).strftime(SAVED_FORMAT)
        try:
            state = baseline_state(self.var(task_vars, "portproof_contract"), facts, host, groups=self.var(task_vars, "groups", {}),
                                   hostvars=self.addresses(task_vars), address=self.address(task_vars), saved=saved)
        except StepError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        root = baseline_root(self.var(task_vars, "portproof_baseline_dir"))
        path = baseline_path(root, host)
        check_mode = bool(self._task.check_mode)
        try:
            written = _make_dirs(root, check_mode)
            written = write_file(path, to_bytes(baseline_text(state), errors="surrogate_or_strict"), check_mode) or written
        except ReportWriteError as err:
            result.update(failed=True, path=err.path, msg="cannot save the baseline of %s: %s" % (host, err))
            return result
        except UnicodeError as err:
            result.update(failed=True, path=path, msg="cannot save the baseline of %s: %s cannot be encoded as UTF-8: %s"
                          % (host, path, err))
            return result
        result.update(changed=False, written=written, path=path, saved=saved)
        return self.quiet(result)
