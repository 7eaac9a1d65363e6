#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: restart_unit
short_description: Restart the systemd unit or container of a service and measure its downtime (private to the role restart_drill)
version_added: 0.1.0
description:
  - "Private to the roles of this collection: not a public interface, may change without notice. The role
    C(portproof.validate.restart_drill) runs it."
  - "B(Changes the host): restarts a systemd service unit or a container. It is the only module of the collection that does."
  - Finds the C(.service) unit whose processes hold the listening socket of O(port)/O(proto) (their control groups),
    runs C(systemctl restart UNIT) and waits, at most O(timeout) seconds, until the port listens again or the unit's
    processes listen on another port; returns the C(restart) result (downtime, and whether address, process and user
    are the same as before).
  - With O(container), restarts that container instead (C(podman restart) or C(docker restart), the engine that runs
    it) and waits, at most O(timeout) seconds in all, until its O(container_port) listens again inside it and the
    engine publishes it again; the result also says on which host port it is published before and after.
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
    description: The declared port (the host port with O(container)); required without O(container), omitted for C(port=auto).
    type: int
  container:
    description: The container that publishes the service (the contract's C(publish.container)).
    type: str
  container_port:
    description: The port inside the container (the contract's C(publish.container_port)); required with O(container).
    type: int
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
port:
  description: The host port the service listens on (published on, for a container) after the restart; null when it did not.
  returned: always
  type: int
downtime_s:
  description: Seconds from C(systemctl restart) (or the engine's C(restart)) until the port listened again; null when it did not.
  returned: always
  type: float
measured:
  description:
    - What was measured (outcome, unit, listeners before and after, downtime), from which the role judges the
      C(restart) result again once an allowed source has polled the port (C(reachable_s)).
  returned: always
  type: dict
"""

import os
import time
from typing import Any, Dict, List, Optional, Set

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portproof.validate.plugins.module_utils._command import CommandTimeout, Limits, run
from ansible_collections.portproof.validate.plugins.module_utils._files import read_text
from ansible_collections.portproof.validate.plugins.module_utils._mappings._containers import gather_containers
from ansible_collections.portproof.validate.plugins.module_utils._restart import shape, verdict
from ansible_collections.portproof.validate.plugins.module_utils._sockets import _listeners
from ansible_collections.portproof.validate.plugins.module_utils._sockets._listeners import read_namespace_sockets
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


def _containers(module: AnsibleModule, end: float) -> List[Dict[str, Any]]:
    left = max(0.5, end - time.monotonic())
    records, _problems = gather_containers(module, timeout=left, limits=Limits(left))
    return records


def _record(records: List[Dict[str, Any]], name: str) -> Optional[Dict[str, Any]]:
    for record in records:
        if record.get("name") == name or (len(name) >= 12 and str(record.get("id", "")).startswith(name)):
            return record
    return None


def _published(record: Optional[Dict[str, Any]], container_port: int, proto: str) -> List[int]:
    if record is None:
        return []
    return sorted({int(p["host_port"]) for p in record.get("ports") or []
                   if p.get("container_port") == container_port and p.get("proto") == proto and p.get("host_port")})


def _inside(record: Dict[str, Any], container_port: int, proto: str) -> List[Dict[str, Any]]:
    """The container's listeners of CONTAINER_PORT/PROTO with process and user (port_facts' view of its namespace)."""
    listeners, _unavailable, _warnings = _listeners.gather("all", containers=[record])
    return [item for item in listeners if item.get("container") == record["name"] and item.get("port") == container_port
            and item.get("proto") == proto]


def _listening(pid: Optional[int], container_port: int, proto: str) -> bool:
    """Whether CONTAINER_PORT/PROTO listens in the network namespace of PID (one sock_diag dump, cheap to poll)."""
    if not pid:
        return False
    try:
        sockets, _missing = read_namespace_sockets("/proc/%d/ns/net" % pid, proc_net="/proc/%d/net" % pid)
    except (OSError, ValueError):
        return False
    return any(item.get("port") == container_port and item.get("proto") == proto for item in sockets)


def restart_container(module: AnsibleModule, name: str, container_port: int, proto: str, timeout: float) -> Dict[str, Any]:
    """Restart container NAME through its engine and measure until CONTAINER_PORT listens in it and is published again."""
    measured: Dict[str, Any] = {"timeout": timeout, "container": name, "container_port": container_port}
    end = time.monotonic() + timeout
    record = _record(_containers(module, end), name)
    if record is None or record.get("state") != "running":
        measured.update(outcome="no_container", why="no running container %s on this host" % name)
        return measured
    before = _inside(record, container_port, proto)
    if not before:
        measured["outcome"] = "not_listening"
        return measured
    measured.update(unit="container %s" % name, before=shape(before), published_before=_published(record, container_port, proto))
    if module.check_mode:
        measured["outcome"] = "check_mode"
        return measured
    engine = module.get_bin_path(record["engine"])
    if not engine:
        measured.update(outcome="restart_failed", why="the %s command is not installed" % record["engine"])
        return measured
    started = time.monotonic()
    try:
        rc, out, err = run(module, [engine, "restart", record["id"]], limits=Limits(timeout), option="timeout")
    except CommandTimeout as exc:
        rc, out, err = 1, "", str(exc)
    if rc != 0:
        measured.update(outcome="restart_failed", why=(err or out).strip()[:500])
        return measured
    measured["outcome"] = "restarted"
    end = started + timeout
    while True:
        record = _record(_containers(module, end), name) or {}
        pid = record.get("pid")
        while pid and not _listening(pid, container_port, proto) and time.monotonic() <= end:
            time.sleep(POLL_S)
            if not os.path.exists("/proc/%d" % pid):
                break  # the container's process ended: ask the engine again
        published = _published(record or None, container_port, proto)
        if pid and published and _listening(pid, container_port, proto):
            measured.update(downtime_s=round(time.monotonic() - started, 3), after=shape(_inside(record, container_port, proto)),
                            published_after=published)
            return measured
        if time.monotonic() > end:
            measured["published_after"] = published
            return measured
        time.sleep(POLL_S)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(host=dict(type="str", required=True), service=dict(type="str", required=True),
                           port=dict(type="int"), proto=dict(type="str", default="tcp", choices=["tcp", "udp"]),
                           container=dict(type="str"), container_port=dict(type="int"),
                           max_s=dict(type="float", default=30.0), timeout=dict(type="float", default=60.0)),
        required_one_of=[["port", "container"]],
        required_together=[["container", "container_port"]],
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] <= 0 or params["max_s"] <= 0:
        module.fail_json(msg="timeout and max_s must be seconds above 0, got %s and %s" % (params["timeout"], params["max_s"]))
    port, proto = params["port"], params["proto"]
    if params["container"]:
        measured = restart_container(module, params["container"], params["container_port"], proto, params["timeout"])
        result = verdict(params["host"], params["service"], port, proto, params["max_s"], measured)
        module.exit_json(changed=measured.get("outcome") in ("restarted", "restart_failed"), result=result,
                         unit=measured.get("unit"), downtime_s=result["downtime_s"], measured=measured,
                         port=(measured.get("published_after") or [None])[0] if result["downtime_s"] is not None else None)
    measured = {"timeout": params["timeout"]}
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
                     unit=measured.get("unit"), downtime_s=result["downtime_s"], measured=measured,
                     port=port if result["downtime_s"] is not None else None)


if __name__ == "__main__":
    main()
