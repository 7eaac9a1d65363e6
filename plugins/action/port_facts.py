# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.port_facts: runs the module on the host, as Ansible's own action would, and marks its result
# as facts, as Ansible marks the result of setup: with -v and -vv the callback then shows "ok: [host]" instead of
# every listener, rule and mapping of the host (about 6 KB a host on a small host, hundreds on a busy one). -vvv
# shows them. A failed result is always shown whole.
# The facts are Ansible facts (ansible_facts), so that a persistent fact cache (fact_caching) keeps them for the other
# slices of a sliced run and for later jobs: the action adds when they were gathered (gathered_at, UTC, the
# controller's clock) and, in a sliced run, its id (run_id, the variable portproof_run_id).

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.portproof.validate.plugins.plugin_utils._slices import utc_now_text

from typing import Any, Dict, Optional

# From this verbosity on, the facts are shown.
SHOW_FACTS_FROM = 3


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: Optional[str] = None, task_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        result.update(self._execute_module(module_name='portproof.validate.port_facts', module_args=self._task.args,
                                           task_vars=task_vars))
        facts = (result.get('ansible_facts') or {}).get('portproof')
        if isinstance(facts, dict):
            facts['gathered_at'] = utc_now_text()
            run_id = self._templar.template((task_vars or {}).get('portproof_run_id') or '')
            if run_id:
                facts['run_id'] = str(run_id)
        if not result.get('failed') and Display().verbosity < SHOW_FACTS_FROM:
            result['_ansible_verbose_override'] = True
        return result
