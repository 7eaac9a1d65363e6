# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Who starts the processes that hold listening sockets (port_facts' ``starters`` subset). Read-only.

Per listener process: its control group (``/proc/PID/cgroup``; systemd puts a unit's processes in
``.../system.slice/NAME.service`` and a login's in ``.../session-N.scope``), and the unit that names.
Per socket-activation socket: the ``.socket`` unit listening (``systemctl list-sockets``). Per unit
found: ``systemctl show`` (file state, WantedBy, Restart, TriggeredBy), and which units the default
target pulls in (``systemctl list-dependencies --plain default.target``): those start at boot.
The parsers are pure functions; every command runs bounded through _command.run.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._command import CommandTimeout, Limits, run
from ansible_collections.portproof.validate.plugins.module_utils._container_boot import (
    container_entries, read_boot_files, units_to_read)
from ansible_collections.portproof.validate.plugins.module_utils._files import read_text

_SMALL = 64 * 1024  # /proc/PID/cgroup, /proc/1/comm

Json = Dict[str, Any]
SHOW_PROPERTIES = ("Id", "LoadState", "UnitFileState", "WantedBy", "RequiredBy", "Restart", "TriggeredBy",
                   "Triggers", "FragmentPath", "SourcePath")
_LIST_PROPERTIES = ("WantedBy", "RequiredBy", "TriggeredBy", "Triggers")
_UNIT = re.compile(r"^[^/]+\.(service|scope)$")


def cgroup_path(text: str) -> Optional[str]:
    """The systemd control group of a process from /proc/PID/cgroup: the ``name=systemd`` hierarchy
    (cgroup v1 and hybrid) if there is one, else the unified one (``0::``)."""
    unified = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[1] == "name=systemd":
            return parts[2]
        if parts[0] == "0" and parts[1] == "":
            unified = parts[2]
    return unified


def unit_of(path: Optional[str]) -> Optional[str]:
    """The unit a control group path names: its last ``.service`` or ``.scope`` component (a container
    engine's own prefix before it, a container's payload group after it, are not units)."""
    if not path:
        return None
    found = None
    for part in path.split("/"):
        if _UNIT.match(part):
            found = part
    return found


def parse_show(text: str) -> Dict[str, Json]:
    """``systemctl show -p ... UNIT...`` output (blocks separated by blank lines) by unit Id."""
    units: Dict[str, Json] = {}
    for block in re.split(r"\n\s*\n", text.strip()):
        props: Json = {}
        for line in block.splitlines():
            if "=" in line:
                key, value = line.split("=", 1)
                props[key] = value.split() if key in _LIST_PROPERTIES else value
        if props.get("Id"):
            units[props["Id"]] = props
    return units


def parse_list_sockets(text: str) -> List[Json]:
    """``systemctl list-sockets --all --no-legend --plain``: LISTEN UNIT ACTIVATES per line."""
    sockets = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1].endswith(".socket"):
            sockets.append({"listen": fields[0], "unit": fields[1], "activates": fields[2:] if len(fields) > 2 else []})
    return sockets


def parse_dependencies(text: str) -> List[str]:
    """``systemctl list-dependencies --plain default.target``: every unit it pulls in."""
    return sorted({line.strip() for line in text.splitlines() if line.strip()})


def listen_port(listen: str) -> Optional[int]:
    """The port of a list-sockets LISTEN column (``[::]:7777``, ``0.0.0.0:80``, ``7777``); None for paths."""
    match = re.match(r"^(?:.*:)?(\d+)$", listen)
    return int(match.group(1)) if match and not listen.startswith("/") else None


def _read(path: str) -> Optional[str]:
    """A small /proc file, read safely (bounded, no FIFO or device); None when it cannot be read."""
    try:
        return read_text(path, _SMALL)
    except OSError:
        return None


def _systemctl(module: Any, args: List[str], limits: Limits) -> Tuple[Optional[str], Optional[str]]:
    """(stdout, None) or (None, reason)."""
    binary = module.get_bin_path("systemctl")
    if not binary:
        return None, "systemctl not found"
    try:
        rc, out, err = run(module, [binary] + args, limits=limits)
    except CommandTimeout as exc:
        return None, str(exc)
    if rc != 0:
        return None, "systemctl %s: rc=%d %s" % (" ".join(args), rc, (err or out).strip()[:300])
    return out, None


def gather_starters(module: Any, listeners: Iterable[Json], limits: Limits, proc: str = "/proc",
                    containers: Optional[Tuple[List[Json], List[Dict[str, str]]]] = None) -> Tuple[Json, List[Dict[str, str]]]:
    """The ``starters`` facts for the host network namespace's listeners and the running CONTAINERS
    (gather_containers' answer; see _container_boot.py), and what could not be read."""
    unavailable: List[Dict[str, str]] = []
    init = (_read(proc + "/1/comm") or "").strip()
    facts: Json = {"init": init or None, "processes": {}, "sockets": [], "units": {}, "default_target": None,
                   "reached": None}
    pids = set()
    for item in listeners:
        if item.get("netns", "host") != "host":
            continue
        for holder in [item] + [h for h in (item.get("shared_with") or []) if isinstance(h, dict)]:
            if holder.get("pid") is not None:
                pids.add(int(holder["pid"]))
    for pid in sorted(pids):
        text = _read("%s/%d/cgroup" % (proc, pid))
        path = cgroup_path(text) if text is not None else None
        facts["processes"][str(pid)] = {"cgroup": path, "unit": unit_of(path)}
    extra: List[str] = []
    if containers is not None:
        facts["containers"] = container_entries(containers[0])
        facts["engines_unread"] = ["%s: %s" % (p["tool"], p["reason"]) for p in containers[1] if p["tool"] in ("podman", "docker")]
        extra = units_to_read(facts["containers"])
    if init != "systemd":
        if extra:  # what the unit files say the next boot starts
            facts["boot"], problems = read_boot_files(module, extra, limits)
            unavailable.extend(problems)
        return facts, unavailable  # no systemd: the control groups are all there is to read
    out, reason = _systemctl(module, ["list-sockets", "--all", "--no-legend", "--plain", "--no-pager"], limits)
    if reason:
        unavailable.append({"subset": "starters", "tool": "systemctl", "reason": reason})
    else:
        facts["sockets"] = parse_list_sockets(out or "")
    out, reason = _systemctl(module, ["get-default"], limits)
    if reason:
        unavailable.append({"subset": "starters", "tool": "systemctl", "reason": reason})
    else:
        facts["default_target"] = (out or "").strip() or None
    out, reason = _systemctl(module, ["list-dependencies", "--plain", "--no-pager", "default.target"], limits)
    if reason:
        unavailable.append({"subset": "starters", "tool": "systemctl", "reason": reason})
    else:
        facts["reached"] = parse_dependencies(out or "")
    names = {entry["unit"] for entry in facts["processes"].values() if entry["unit"] and entry["unit"].endswith(".service")}
    names.update(socket["unit"] for socket in facts["sockets"] if listen_port(socket["listen"]) is not None)
    names.update(extra)
    if names:
        out, reason = _systemctl(module, ["show", "-p", ",".join(SHOW_PROPERTIES), "--"] + sorted(names), limits)
        if reason:
            unavailable.append({"subset": "starters", "tool": "systemctl", "reason": reason})
        else:
            facts["units"] = parse_show(out or "")
    return facts, unavailable
