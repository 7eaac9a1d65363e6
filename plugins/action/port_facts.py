# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# portproof.validate.port_facts: runs the module on the host, as Ansible's own action would, and marks its result
# as facts, as Ansible marks the result of setup: with -v and -vv the callback then shows "ok: [host]" instead of
# every listener, rule and mapping of the host (about 6 KB a host on a small host, hundreds on a busy one). -vvv
# shows them. A failed result is always shown whole.

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

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
        if not result.get('failed') and Display().verbosity < SHOW_FACTS_FROM:
            result['_ansible_verbose_override'] = True
        return result
