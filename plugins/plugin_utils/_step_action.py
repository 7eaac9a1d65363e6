# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""What the private action plugins of the collection's roles share: the controller-side step shape (the run
preamble: the result of ActionBase.run, the task's variables, the arguments checked against the action's
ARGUMENT_SPEC), the task's variables, templated, and a quiet result.

The actions run on the controller for each host and read what they need from the task's variables,
which hold every variable the task sees (inventory, play and role vars, include_role vars, -e), as
a Jinja expression in the task would see them. Their results can be large (every result of a
host); below SHOW_FROM the callback shows only "ok: [host]" (as for setup), from -vvv all of it.
A failed result is always shown whole.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import host_addresses

# From this verbosity on, the callback shows the whole result of a step.
SHOW_FROM = 3
# The variable the step of the play registers the address index of the inventory in.
HOST_INDEX = "portproof_host_index"


def module_data(hostvars: Mapping[str, Any], host: str) -> Mapping[str, Any]:
    """HOST's variables as they are stored, not templated ({} for a host the inventory lacks): for what a module of
    the play gave the host (ansible_facts, a registered result) only, never for the user's variables. A module's
    result holds no template, so templating it only copies it: hostvars[HOST][NAME] templates NAME's whole value
    (every listener and rule of the host), which made reading the play's facts on the controller cost more than
    gathering them. The value is Ansible's own: read it, never change it."""
    raw_get = getattr(hostvars, "raw_get", None)
    data = raw_get(host) if raw_get is not None else hostvars.get(host)  # a plain mapping in unit tests
    return data if isinstance(data, Mapping) else {}


class StepAction(ActionBase):
    """A private action of the roles: runs on the controller, never connects to the host it runs for unless it sets
    _requires_connection (to run a module there). A subclass sets ARGUMENT_SPEC and implements step()."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False
    # The action's arguments, checked by validate_argument_spec before step() runs (none by default).
    ARGUMENT_SPEC: Dict[str, Any] = {}

    def run(self, tmp: Any = None, task_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        result = super(StepAction, self).run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        return self.step(result, task_vars or {}, args)

    def step(self, result: Dict[str, Any], task_vars: Dict[str, Any], args: Dict[str, Any]) -> Dict[str, Any]:
        """The action itself: RESULT (ActionBase's) updated and returned, from TASK_VARS and the checked ARGS."""
        raise NotImplementedError

    def var(self, task_vars: Mapping[str, Any], name: str, default: Any = None) -> Any:
        """The variable NAME as the task sees it (templated), DEFAULT if it is not set."""
        if name not in task_vars:
            return default
        return self._templar.template(task_vars[name])

    def flag(self, task_vars: Mapping[str, Any], name: str) -> bool:
        """The variable NAME as a boolean (false when not set), as Jinja's bool filter reads it."""
        value = self.var(task_vars, name, False)
        return boolean(value, strict=False) if value is not None else False

    def probe_timeout(self, task_vars: Mapping[str, Any], default: float) -> Tuple[float, Optional[str]]:
        """portproof_probe_timeout in seconds (DEFAULT when not set), and the message refusing it (None when valid)."""
        raw = self.var(task_vars, "portproof_probe_timeout", default)
        try:
            timeout = float(raw if raw is not None else default)
        except (TypeError, ValueError):
            timeout = -1.0
        if not 0 < timeout <= 3600:
            return timeout, "portproof_probe_timeout must be a number of seconds above 0 (at most 3600), not %r" % (raw,)
        return timeout, None

    def address(self, task_vars: Mapping[str, Any]) -> str:
        """Where the host is reached: portproof_address, else ansible_host, else its inventory name."""
        return str(self.var(task_vars, "portproof_address") or self.var(task_vars, "ansible_host")
                   or task_vars["inventory_hostname"])

    def addresses(self, task_vars: Mapping[str, Any]) -> Mapping[str, Any]:
        """The address index of the inventory (made once for the play by the action host_index), else hostvars."""
        index = self.var(task_vars, HOST_INDEX)
        if isinstance(index, Mapping) and isinstance(index.get("host_addresses"), Mapping):
            return index["host_addresses"]
        hostvars = task_vars["hostvars"]
        return host_addresses(hostvars, list(self.var(task_vars, "groups", {}).get("all", [])))

    @staticmethod
    def port_facts(task_vars: Mapping[str, Any]) -> Any:
        """The host's port facts (ansible_facts.portproof), None if not gathered. Facts come from a module's result
        and hold no template: they are read as they are (templating would only copy them)."""
        facts = task_vars.get("ansible_facts")
        return facts.get("portproof") if isinstance(facts, Mapping) else None

    @staticmethod
    def quiet(result: Dict[str, Any]) -> Dict[str, Any]:
        """RESULT, shown as "ok: [host]" below -vvv unless it failed."""
        if not result.get("failed") and Display().verbosity < SHOW_FROM:
            result["_ansible_verbose_override"] = True
        return result
