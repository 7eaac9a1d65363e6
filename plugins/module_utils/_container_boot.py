# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""What starts the running containers again at boot (part of port_facts' ``starters`` subset). Read-only.

Per container (from the engines' ``inspect``, see _mappings/_containers.py): its restart policy,
``--rm``, and the systemd unit that runs it (label ``PODMAN_SYSTEMD_UNIT``). The units that decide
are that unit, ``podman-restart.service`` (Podman starts containers at boot only through it) and
``docker.service`` (Docker starts them when its daemon starts). On a host whose PID 1 is systemd,
their state comes from the manager with the other units (_starters.py). Where PID 1 is not systemd
(a chroot, a container, the collection's lab), systemd's own offline reading of the unit files says
it: ``systemctl --root=/ get-default`` and ``systemctl --root=/ is-enabled UNIT``, with the links of
the unit in the ``.wants`` directories of the default target, taken only when ``/sbin/init`` is systemd.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._command import CommandTimeout, Limits, run

Json = Dict[str, Any]
PODMAN_RESTART = "podman-restart.service"
DOCKER_UNIT = "docker.service"
ENGINE_UNITS = {"podman": PODMAN_RESTART, "docker": DOCKER_UNIT}
UNIT_DIR = "/etc/systemd/system"
# Targets that the default target pulls in, as systemd's shipped targets say (graphical.target Requires multi-user.target).
_PULLED_IN = {"graphical.target": ["multi-user.target"]}
_STATES = ("enabled", "enabled-runtime", "linked", "linked-runtime", "alias", "masked", "masked-runtime", "static",
           "indirect", "disabled", "generated", "transient", "bad", "not-found")


def container_entries(records: Iterable[Json]) -> List[Json]:
    """One entry per running container: engine, id, name, pod, infra (a pod's infra container) and its ``boot`` settings."""
    entries = []
    for record in records:
        entry = {"engine": record["engine"], "id": record["id"], "name": record["name"], "pod": record.get("pod"),
                 "infra": bool(record.get("infra"))}
        entry.update(record.get("boot") or {})
        entries.append(entry)
    return sorted(entries, key=lambda e: (e["engine"], e["name"]))


def units_to_read(entries: Iterable[Json]) -> List[str]:
    """The units whose state decides whether these containers start at boot."""
    names = set()
    for entry in entries:
        if entry.get("systemd_unit"):
            names.add(entry["systemd_unit"])
        elif entry["engine"] in ENGINE_UNITS:
            names.add(ENGINE_UNITS[entry["engine"]])
    return sorted(names)


def parse_is_enabled(rc: int, out: str, err: str) -> Optional[str]:
    """The state ``systemctl is-enabled`` printed (rc 1 for a disabled unit), ``not-found``, or None (not understood)."""
    word = (out or "").strip().split("\n")[0].strip()
    if word in _STATES:
        return word
    if rc != 0 and "No such file or directory" in (err or ""):
        return "not-found"
    return None


def wants_links(unit: str, default_target: str, root: str = "/") -> List[str]:
    """The targets pulled in at boot whose ``.wants`` directory (``/etc/systemd/system``) links UNIT."""
    targets = ["default.target", default_target] + _PULLED_IN.get(default_target, [])
    found = []
    for target in targets:
        if os.path.lexists(os.path.join(root, UNIT_DIR.lstrip("/"), target + ".wants", unit)) and target not in found:
            found.append(target)
    return found


def _offline(module: Any, binary: str, args: List[str], limits: Limits) -> Tuple[int, str, str]:
    return run(module, [binary, "--root=/"] + args, limits=limits)


def read_boot_files(module: Any, units: List[str], limits: Limits,
                    root: str = "/") -> Tuple[Json, List[Dict[str, str]]]:
    """Without systemd as PID 1: the init the host boots, its default target and each unit's state, from the files."""
    boot: Json = {"init": os.path.realpath(os.path.join(root, "sbin/init")), "default_target": None, "units": {}}
    unavailable: List[Dict[str, str]] = []
    binary = module.get_bin_path("systemctl")
    if not binary:
        return boot, [{"subset": "starters", "tool": "systemctl", "reason": "systemctl not found"}]
    try:
        rc, out, err = _offline(module, binary, ["get-default"], limits)
        if rc != 0 or not out.strip():
            raise ValueError("systemctl --root=/ get-default: rc=%d %s" % (rc, (err or out).strip()[:300]))
        boot["default_target"] = out.strip()
        for unit in units:
            rc, out, err = _offline(module, binary, ["is-enabled", "--", unit], limits)
            state = parse_is_enabled(rc, out, err)
            if state is None:
                raise ValueError("systemctl --root=/ is-enabled %s: rc=%d %s" % (unit, rc, (err or out).strip()[:300]))
            boot["units"][unit] = {"state": state, "wanted_by": wants_links(unit, boot["default_target"], root)}
    except (CommandTimeout, ValueError) as exc:
        unavailable.append({"subset": "starters", "tool": "systemctl", "reason": str(exc)})
    return boot, unavailable
