# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.slice_write (private to the roles of this collection): the end of one slice of a sliced run, once
# for the play on the controller. Writes what the report reads of every host of the play (its results, whether it stayed
# in the play, its contract and port facts) to portproof_results_dir/<run_id>/<slice>.json, atomically, for the merge
# (merge_write). Never connects to a host.

from __future__ import annotations

import json
import os
import typing as t

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.portproof.validate.plugins.action.report_write import ReportWriteError, _make_dirs, write_file, _HostVars
from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import evidence_name
from ansible_collections.portproof.validate.plugins.plugin_utils._slices import SliceError, check_name, slice_document
from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction


def slice_path(results_dir: str, run_id: str, slice_name: str) -> str:
    """Where the slice SLICE_NAME of the run RUN_ID writes its results."""
    return os.path.join(results_dir, run_id, "%s.json" % slice_name)


class ActionModule(StepAction):

    ARGUMENT_SPEC = {
        "dest": {"type": "path", "required": True},
        "run_id": {"type": "str", "required": True},
        "slice": {"type": "str", "default": ""},
        # every host of the run this slice knows (portproof_hosts of its inventory): the merge checks it knew them all
        "hosts": {"type": "list", "elements": "str", "required": True},
    }

    def step(self, result: t.Dict[str, t.Any], task_vars: t.Dict[str, t.Any], args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        hosts_all = [str(host) for host in task_vars["ansible_play_hosts_all"]]
        hosts_live = [str(host) for host in task_vars["ansible_play_hosts"]]
        try:
            run_id = check_name("portproof_run_id", args["run_id"])
            # no slice name: the slice is named after its first host
            slice_name = check_name("portproof_slice", args["slice"]) if args["slice"] else evidence_name(hosts_all[0])
        except SliceError as exc:
            raise AnsibleActionFail("sliced run: %s" % exc)
        document = slice_document(run_id, slice_name, _HostVars(task_vars["hostvars"]), hosts_all, hosts_live,
                                  known=[str(host) for host in args["hosts"]])
        path = slice_path(os.path.realpath(args["dest"]), run_id, slice_name)
        data = to_bytes(json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n", errors="surrogate_or_strict")
        try:
            _make_dirs(os.path.dirname(path), bool(self._task.check_mode))
            changed = write_file(path, data, check_mode=bool(self._task.check_mode))
        except ReportWriteError as err:
            raise AnsibleActionFail("sliced run %s: cannot write the results of slice %s: %s" % (run_id, slice_name, err))
        result.update(changed=changed, path=path, slice=slice_name, hosts=len(hosts_all),
                      msg="sliced run %s: slice %s wrote the results of %d host(s) to %s; run the merge (portproof.validate.merge) "
                          "when every slice is done" % (run_id, slice_name, len(hosts_all), path))
        return result
