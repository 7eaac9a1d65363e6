# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Whether the unit that loads each saved firewall file at boot is enabled (part of port_facts' ``saved_firewall``).

A saved file is only loaded at boot by its loader: ``/etc/iptables/rules.v4`` and ``rules.v6`` by
``netfilter-persistent.service`` (iptables-persistent), ``/etc/sysconfig/iptables`` by ``iptables.service``
and ``ip6tables`` by ``ip6tables.service`` (iptables-services), an nft script by ``nftables.service``, ufw's
files by ``ufw.service``, firewalld's by ``firewalld.service``. Read-only: where PID 1 is systemd,
``systemctl show -p Id,LoadState,UnitFileState`` (as _starters.py asks it); elsewhere the unit files and the
``*.wants/`` and ``*.requires/`` links below ``/etc/systemd/system`` and ``/lib/systemd/system``. A state that
does not say whether the unit starts at boot (``static``, ``indirect``, ``generated``, a SysV script...) is
``undecided``, with the reason: never a guess.

``loaders``: unit -> {state: enabled|disabled|masked|missing|undecided, detail, how}.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._command import CommandTimeout, Limits, run
from ansible_collections.portproof.validate.plugins.module_utils._files import read_text
from ansible_collections.portproof.validate.plugins.module_utils._starters import parse_show

Json = Dict[str, Any]
SUBSET = "saved_firewall"
_SMALL = 64 * 1024
# loader (as _saved.py names it) -> its unit; iptables-services has one unit per IP family
UNITS = {"iptables-persistent": "netfilter-persistent.service", "nftables": "nftables.service", "ufw": "ufw.service",
         "firewalld": "firewalld.service"}
_SERVICES = {"/etc/sysconfig/iptables": "iptables.service", "/etc/sysconfig/ip6tables": "ip6tables.service"}
# UnitFileState -> state after a reboot (enabled-runtime and linked-runtime links are in /run: gone at reboot)
_FILE_STATES = {"enabled": "enabled", "disabled": "disabled", "linked": "disabled", "linked-runtime": "disabled",
                "enabled-runtime": "disabled", "masked": "masked", "masked-runtime": "masked"}
UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
_LINK_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")


def unit_for(path: str, loader: str) -> Optional[str]:
    """The unit that loads the saved configuration PATH of LOADER at boot."""
    return _SERVICES.get(path) if loader == "iptables-services" else UNITS.get(loader)


def state_from_show(unit: str, props: Optional[Json]) -> Json:
    """A loader's state from its ``systemctl show`` properties (None: systemctl did not list it)."""
    if props is None:
        return {"state": "undecided", "detail": "systemctl show did not list it", "how": "systemctl"}
    load, file_state = props.get("LoadState") or "", props.get("UnitFileState") or ""
    if load == "not-found":
        return {"state": "missing", "detail": "not installed (no unit file)", "how": "systemctl"}
    if load == "masked":
        return {"state": "masked", "detail": "masked", "how": "systemctl"}
    state = _FILE_STATES.get(file_state)
    if state is None:
        return {"state": "undecided", "how": "systemctl",
                "detail": "UnitFileState=%s does not say whether it starts at boot" % (file_state or "(empty)")}
    return {"state": state, "detail": file_state, "how": "systemctl"}


def _has_install(text: str) -> bool:
    return any(line.strip().lower() == "[install]" for line in text.splitlines())


def state_from_files(unit: str, root: str = "/") -> Json:
    """A loader's state from the unit files below ROOT (PID 1 is not systemd: nothing to ask)."""
    def full(path: str) -> str:
        return os.path.join(root, path.lstrip("/"))
    how = "unit files"
    found = None
    for folder in UNIT_DIRS:
        path = full(os.path.join(folder, unit))
        if os.path.islink(path) and os.readlink(path) == "/dev/null":
            return {"state": "masked", "detail": "%s links to /dev/null" % os.path.join(folder, unit), "how": how}
        if os.path.lexists(path):
            found = path
            break
    if found is None:
        script = "/etc/init.d/" + unit[:-len(".service")]
        if os.path.lexists(full(script)):
            return {"state": "undecided", "detail": "no unit file; the SysV script %s is not read" % script, "how": how}
        return {"state": "missing", "detail": "not installed (no unit file)", "how": how}
    for folder in _LINK_DIRS:
        try:
            names = sorted(os.listdir(full(folder)))
        except OSError:
            continue
        for name in names:
            if name.endswith((".wants", ".requires")) and os.path.lexists(full(os.path.join(folder, name, unit))):
                return {"state": "enabled", "detail": "linked in %s" % os.path.join(folder, name), "how": how}
    try:
        text = read_text(found, _SMALL)
    except (IOError, OSError) as exc:
        return {"state": "undecided", "detail": "its unit file could not be read: %s" % (exc.strerror or exc), "how": how}
    if not _has_install(text):
        return {"state": "undecided", "detail": "static (no [Install] section): what pulls it in is not read", "how": how}
    return {"state": "disabled", "detail": "disabled", "how": how}


def loader_units(saved: Json) -> List[str]:
    """The units that load the saved configuration of a ``saved_firewall`` fact (sources and unsupported)."""
    units = [unit_for(item.get("path") or "", item.get("loader") or "")
             for item in list(saved.get("sources") or []) + list(saved.get("unsupported") or [])]
    return sorted(set(unit for unit in units if unit))


def gather_loaders(module: Any, units: Iterable[str], limits: Limits, root: str = "/",
                   proc: str = "/proc") -> Tuple[Dict[str, Json], List[Dict[str, str]]]:
    """(loaders by unit, unavailable entries) for UNITS."""
    names = sorted(set(units))
    if not names:
        return {}, []
    try:
        init = read_text(os.path.join(proc, "1", "comm"), _SMALL).strip()
    except (IOError, OSError):
        init = ""
    if init != "systemd":
        return dict((unit, state_from_files(unit, root)) for unit in names), []
    binary = module.get_bin_path("systemctl")
    reason = None
    if not binary:
        reason = "systemctl not found"
    else:
        args = ["show", "-p", "Id,LoadState,UnitFileState", "--"] + names
        try:
            rc, out, err = run(module, [binary] + args, limits=limits)
        except CommandTimeout as exc:
            reason = str(exc)
        else:
            if rc != 0:
                reason = "systemctl %s: rc=%d %s" % (" ".join(args), rc, (err or out).strip()[:300])
    if reason:
        return (dict((unit, {"state": "undecided", "detail": reason, "how": "systemctl"}) for unit in names),
                [{"subset": SUBSET, "tool": "systemctl", "reason": reason}])
    shown = parse_show(out or "")
    return dict((unit, state_from_show(unit, shown.get(unit))) for unit in names), []
