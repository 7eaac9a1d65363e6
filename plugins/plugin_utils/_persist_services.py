# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The ``persist`` check of a declared service: does something start it again after a reboot?

Decided from port_facts' ``starters`` subset (see module_utils/_starters.py). For each process
holding the service's listening socket: the unit its control group names; a socket held by
systemd itself (PID 1) belongs to the ``.socket`` unit listening on that port (socket
activation). A unit starts at boot when the default target pulls it in (or, for a service, the
socket that triggers it), and its enablement is not only for this boot (``enabled-runtime``,
``transient``). A process in a scope (a login's ``session-N.scope``, ``systemd-run --scope``) or
in no unit is started by nothing after a reboot.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.portproof.validate.plugins.plugin_utils._contract import Service
from ansible_collections.portproof.validate.plugins.plugin_utils._persist_containers import check_container
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import (
    Facts, Item, Result, endpoint, holders, result,
)

KIND = "persist"
# Unit file states whose unit is gone, or not enabled, after a reboot.
_THIS_BOOT_ONLY = ("enabled-runtime", "linked-runtime", "masked-runtime", "transient")


def _unit_words(props: Dict[str, Any]) -> str:
    """How a unit is set up, for a message: enabled, WantedBy multi-user.target, Restart=on-failure."""
    words = [str(props.get("UnitFileState") or "unknown state")]
    for key in ("WantedBy", "RequiredBy"):
        if props.get(key):
            words.append("%s %s" % (key, " ".join(props[key])))
    if props.get("Restart"):
        words.append("Restart=%s" % props["Restart"])
    return ", ".join(words)


def _socket_unit(starters: Dict[str, Any], listener: Item) -> Optional[str]:
    for socket in starters.get("sockets") or []:
        listen = str(socket.get("listen") or "")
        if listen.rsplit(":", 1)[-1] == str(listener["port"]):
            return str(socket["unit"])
    return None


def _verdict(starters: Dict[str, Any], unit: str) -> Tuple[bool, str]:
    """(starts at boot, why) for a unit found holding the service's socket."""
    units = starters.get("units") or {}
    props = units.get(unit) or {}
    reached = set(starters.get("reached") or [])
    default = starters.get("default_target") or "default.target"
    words = _unit_words(props) if props else "not a unit systemd knows"
    if props.get("LoadState") not in (None, "loaded"):
        return False, "%s is %s" % (unit, props.get("LoadState"))
    if props.get("UnitFileState") in ("masked", "masked-runtime"):
        return False, "%s is masked" % unit
    if props.get("UnitFileState") in _THIS_BOOT_ONLY:
        return False, "%s (%s) exists for this boot only" % (unit, words)
    triggers = [s for s in props.get("TriggeredBy") or [] if s in reached
                and (units.get(s) or {}).get("UnitFileState") not in _THIS_BOOT_ONLY + ("masked",)]
    if unit in reached:
        return True, "%s (%s)" % (unit, words)
    if triggers:
        return True, "%s (%s), activated by %s, which starts at boot" % (unit, words, ", ".join(triggers))
    return False, "%s (%s) is not pulled in by the default target %s" % (unit, words, default)


def _starter(starters: Dict[str, Any], holder: Item, listener: Item) -> Tuple[Optional[bool], str]:
    """(True: starts at boot / False: nothing starts it / None: not known, why)."""
    process = "%s (pid %s)" % (holder.get("process"), holder.get("pid"))
    entry = (starters.get("processes") or {}).get(str(holder.get("pid"))) or {}
    if holder.get("pid") == 1 and starters.get("init") == "systemd":
        unit = _socket_unit(starters, listener)
        if not unit:
            return None, "%s is held by systemd (pid 1) and no socket unit lists port %s" % (endpoint(listener), listener["port"])
        ok, why = _verdict(starters, unit)
        return ok, "socket activation: " + why
    cgroup, unit = entry.get("cgroup"), entry.get("unit")
    if cgroup is None:
        return None, "the control group of %s could not be read" % process
    if not unit or unit.endswith(".scope"):
        how = "started from a shell" if unit and unit.startswith("session-") else "in no service unit"
        return False, "%s, %s: cgroup %s" % (process, how, cgroup)
    ok, why = _verdict(starters, unit)
    return ok, why


def check_persist(host: str, service: Service, facts: Facts) -> Result:
    """Whether what holds the service's listening sockets is started again after a reboot."""
    name, proto = service["name"], service["proto"]
    starters = facts.raw.get("starters")
    if service["publish"]:
        return check_container(host, service, facts, _verdict)
    found = facts.on(service["port"], proto)
    if not found:
        return result(host, name, KIND, "skip", "%s: nothing listens on %s/%s, so nothing to start (see listen)"
                      % (name, service["port"], proto))
    if not isinstance(starters, dict):
        return result(host, name, KIND, "error", "%s: who starts it is not known: %s" % (name, facts.reason("starters")),
                      source="services")
    if starters.get("init") != "systemd":
        return result(host, name, KIND, "error", "%s: who starts it after a reboot is not known: PID 1 is %s, not systemd"
                      % (name, starters.get("init") or "unreadable"))
    if [e for e in facts.unavailable if e.get("subset") == "starters"]:
        return result(host, name, KIND, "error", "%s: who starts it is not known: %s" % (name, facts.reason("starters")),
                      source="services")
    passing: List[str] = []
    failing: List[str] = []
    unknown: List[str] = []
    for listener in found:
        verdicts = [_starter(starters, holder, listener) for holder in holders(listener) if holder.get("pid") is not None]
        if not verdicts:
            unknown.append("the owner of %s could not be read (gather facts as root, become: true)" % endpoint(listener))
        elif any(ok for ok, _why in verdicts):
            passing.extend(why for ok, why in verdicts if ok)
        elif any(ok is None for ok, _why in verdicts):
            unknown.extend(why for ok, why in verdicts if ok is None)
        else:
            failing.extend(why for _ok, why in verdicts)
    actual = "; ".join(sorted(set(passing + failing + unknown)))
    if failing:
        return result(host, name, KIND, "fail", "after a reboot nothing starts %s: %s" % (name, "; ".join(sorted(set(failing)))),
                      "started at boot", actual)
    if unknown:
        return result(host, name, KIND, "error", "%s: who starts it is not known: %s" % (name, "; ".join(sorted(set(unknown)))),
                      "started at boot", actual)
    return result(host, name, KIND, "pass", "%s is started by %s" % (name, "; ".join(sorted(set(passing)))),
                  "started at boot", actual)
