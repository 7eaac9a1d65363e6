#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: restart_unit
short_description: Restart the systemd unit of a service and measure its downtime (private to the role restart_drill)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice. The role
    C(portproof.validate.restart_drill) runs it."
  - "B(Changes the host): restarts a systemd service unit. It is the only module of the collection that does."
  - Finds the C(.service) unit whose processes hold the listening socket of O(port)/O(proto) (their control groups),
    runs C(systemctl restart UNIT) and waits, at most O(timeout) seconds, until the port listens again or the unit's
    processes listen on another port; returns the C(restart) result (downtime, and whether address, process and user
    are the same as before).
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  host:
    description: The inventory name of the host, for the result.
    type: str
    required: true
  service:
    description: The declared service's name, for the result.
    type: str
    required: true
  port:
    description: The declared port.
    type: int
    required: true
  proto:
    description: The declared protocol.
    type: str
    choices: [tcp, udp]
    default: tcp
  max_s:
    description: The longest the service may be down (its C(restart.max_s)).
    type: float
    default: 30
  timeout:
    description: Seconds to wait for the restart and for the port to listen again.
    type: float
    default: 60
attributes:
  check_mode:
    support: full
    details: In check mode nothing is restarted; the result is a C(skip).
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Restart the unit of postgres and measure (the role restart_drill does this)
  portproof.validate.restart_unit:
    host: "{{ inventory_hostname }}"
    service: postgres
    port: 5432
    max_s: 30
"""

RETURN = r"""
result:
  description: The C(restart) result (SPEC section 5 fields, and C(downtime_s)).
  returned: always
  type: dict
unit:
  description: The unit restarted (or that would have been).
  returned: when one was found
  type: str
downtime_s:
  description: Seconds from C(systemctl restart) until the port listened again; null when it did not.
  returned: always
  type: float
measured:
  description:
    - What was measured (outcome, unit, listeners before and after, downtime), from which the role judges the
      C(restart) result again once an allowed source has polled the port (C(reachable_s)).
  returned: always
  type: dict
"""

import time
from typing import Any, Dict, List, Optional, Set

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portproof.validate.plugins.module_utils._command import CommandTimeout, Limits, run
from ansible_collections.portproof.validate.plugins.module_utils._files import read_text
from ansible_collections.portproof.validate.plugins.module_utils._restart import shape, verdict
from ansible_collections.portproof.validate.plugins.module_utils._sockets import _listeners
from ansible_collections.portproof.validate.plugins.module_utils._starters import cgroup_path, unit_of

POLL_S = 0.05


def _host_listeners(proto: str) -> List[Dict[str, Any]]:
    listeners, _unavailable, _warnings = _listeners.gather("host")
    return [item for item in listeners if item.get("proto") == proto and item.get("netns", "host") == "host"]


def _pids(items: List[Dict[str, Any]]) -> Set[int]:
    pids = set()
    for item in items:
        for holder in [item] + [h for h in (item.get("shared_with") or []) if isinstance(h, dict)]:
            if holder.get("pid") is not None:
                pids.add(int(holder["pid"]))
    return pids


def _unit(pid: int) -> Optional[str]:
    try:
        return unit_of(cgroup_path(read_text("/proc/%d/cgroup" % pid, 64 * 1024)))
    except OSError:
        return None


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(host=dict(type="str", required=True), service=dict(type="str", required=True),
                           port=dict(type="int", required=True), proto=dict(type="str", default="tcp", choices=["tcp", "udp"]),
                           max_s=dict(type="float", default=30.0), timeout=dict(type="float", default=60.0)),
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] <= 0 or params["max_s"] <= 0:
        module.fail_json(msg="timeout and max_s must be seconds above 0, got %s and %s" % (params["timeout"], params["max_s"]))
    port, proto = params["port"], params["proto"]
    measured: Dict[str, Any] = {"timeout": params["timeout"]}
    before = [item for item in _host_listeners(proto) if item["port"] == port]
    units = sorted({_unit(pid) or "no unit" for pid in _pids(before)})
    services = [u for u in units if u.endswith(".service")]
    unit = services[0] if len(services) == 1 else None
    if not before:
        measured["outcome"] = "not_listening"
    elif unit is None:
        measured.update(outcome="no_unit", why=", ".join(units))
    elif module.check_mode:
        measured.update(outcome="check_mode", unit=unit)
    else:
        measured.update(unit=unit, before=shape(before))
        # ports the unit held before besides the declared one: coming up there is not "another port"
        held = {item["port"] for item in _host_listeners(proto) if any(_unit(pid) == unit for pid in _pids([item]))}
        systemctl = module.get_bin_path("systemctl", required=True)
        started = time.monotonic()
        try:
            rc, out, err = run(module, [systemctl, "restart", unit], limits=Limits(params["timeout"]), option="timeout")
        except CommandTimeout as exc:
            rc, out, err = 1, "", str(exc)
        if rc != 0:
            measured.update(outcome="restart_failed", why=(err or out).strip()[:500])
        else:
            measured["outcome"] = "restarted"
            end = started + params["timeout"]
            while True:
                now = _host_listeners(proto)
                after = [item for item in now if item["port"] == port]
                if after:
                    measured.update(downtime_s=round(time.monotonic() - started, 3), after=shape(after))
                    break
                mine = [item for item in now if item["port"] not in held and any(_unit(pid) == unit for pid in _pids([item]))]
                if mine or time.monotonic() > end:  # the unit listens elsewhere, or the wait is over
                    measured["elsewhere"] = shape(mine)
                    break
                time.sleep(POLL_S)
    result = verdict(params["host"], params["service"], port, proto, params["max_s"], measured)
    module.exit_json(changed=measured.get("outcome") in ("restarted", "restart_failed"), result=result,
                     unit=measured.get("unit"), downtime_s=result["downtime_s"], measured=measured)


if __name__ == "__main__":
    main()
