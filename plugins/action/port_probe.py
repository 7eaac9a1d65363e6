# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Controller side of portproof.validate.port_probe: checks the arguments with the module's own argument spec
# (module_utils/_probe_argspec.py) before anything is sent to the host, runs the module on the host, then
# evaluates the http_json checks the host left to the controller because jmespath does not import there
# (the module returned the parsed body for them). Targets need nothing beyond the standard library.

from __future__ import annotations

import typing as t

from ansible.plugins.action import ActionBase

from ansible_collections.portproof.validate.plugins.module_utils._probe._argspec import argument_error
from ansible_collections.portproof.validate.plugins.module_utils._probe._http import evaluate_deferred

try:
    import jmespath
except ImportError:
    jmespath = None


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = False  # the controller part must see the module result

    def run(self, tmp: t.Any = None, task_vars: t.Optional[t.Dict[str, t.Any]] = None) -> t.Dict[str, t.Any]:
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        # what the module would refuse, refused here in the module's words, without connecting to the host
        error = argument_error(self._task.args)
        if error is not None:
            result.update(failed=True, msg=error)
            return result
        result.update(self._execute_module(module_name='portproof.validate.port_probe', module_args=self._task.args,
                                           task_vars=task_vars))
        if not result.get('failed'):
            evaluate_deferred(result, jmespath.search if jmespath is not None else None)
        return result
