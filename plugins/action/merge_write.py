# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.merge_write (private to the roles of this collection): the merge of a sliced run, once on the
# controller. Reads the partial results of every slice of one run id (portproof_results_dir/<run_id>/*.json, written by
# slice_write), checks that every host of the run (hosts: portproof_hosts of the inventory) was covered by exactly one
# slice, and writes the report of the whole run as report_write does for one unsliced run. Never connects to a host.

from __future__ import annotations

import datetime
import json
import os
import typing as t

from ansible.errors import AnsibleActionFail

from ansible_collections.portproof.validate.plugins.action.report_write import (
    GENERATED_FORMAT, report_files, write_or_withdraw,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._report_console import console
from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import collect
from ansible_collections.portproof.validate.plugins.plugin_utils._slices import SliceError, check_name, merge_slices
from ansible_collections.portproof.validate.plugins.plugin_utils._step_action import StepAction


def read_slices(run_dir: str, run_id: str) -> t.List[t.Tuple[str, t.Any]]:
    """[(file name, document)] of every <slice>.json in RUN_DIR, in name order; SliceError for one that cannot be read."""
    if not os.path.isdir(run_dir):
        return []
    documents = []
    for name in sorted(os.listdir(run_dir)):
        if not name.endswith(".json") or name.startswith("."):
            continue
        path = os.path.join(run_dir, name)
        try:
            with open(path, "rb") as handle:
                documents.append((name, json.loads(handle.read().decode("utf-8"))))
        except (OSError, ValueError) as exc:
            raise SliceError("merge of run %s: cannot read the results of slice %s: %s" % (run_id, path, exc))
    return documents


class ActionModule(StepAction):

    ARGUMENT_SPEC = {
        "src": {"type": "path", "required": True},
        "dest": {"type": "path", "required": True},
        "run_id": {"type": "str", "required": True},
        "hosts": {"type": "list", "elements": "str", "required": True},
    }

    def step(self, result: t.Dict[str, t.Any], task_vars: t.Dict[str, t.Any], args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        report_dir = os.path.realpath(args["dest"])
        try:
            run_id = check_name("portproof_run_id", args["run_id"])
            hosts = [str(host) for host in args["hosts"]]
            if not hosts:
                raise SliceError("merge of run %s: no host of the inventory matches portproof_hosts; give the inventory of the run (-i)" % run_id)
            run_dir = os.path.join(os.path.realpath(args["src"]), run_id)
            merged, live = merge_slices(run_id, read_slices(run_dir, run_id), hosts)
        except SliceError as exc:
            raise AnsibleActionFail("portproof: %s" % exc)
        generated = datetime.datetime.now(datetime.timezone.utc).strftime(GENERATED_FORMAT)
        report = collect(merged, hosts, live, generated=generated, report_dir=report_dir)
        files = report_files(report, merged, hosts)
        written = write_or_withdraw(report_dir, files, result, bool(self._task.check_mode))
        if written is None:
            return result
        changed, paths = written
        shown = console(report, live)
        # the merge runs on the controller alone: every failure is its own (one message for the run)
        result.update(changed=changed, summary=report["summary"], files=paths, console=shown,
                      failed_hosts=sorted(shown["hosts"]))
        return self.quiet(result)
