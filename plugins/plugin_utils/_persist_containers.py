# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The ``persist`` check of a service published from a container: does something start the container at boot?

From port_facts' ``starters`` subset (``containers``, and the units of module_utils/_container_boot.py):

- a container run with ``--rm`` is removed when it stops: nothing starts it again;
- one whose label ``PODMAN_SYSTEMD_UNIT`` names a unit (quadlet, ``podman generate systemd --new``)
  comes back when that unit starts at boot;
- otherwise Podman starts a container at boot only through ``podman-restart.service``, and only one
  whose restart policy is ``always`` (the unit runs ``podman start --all --filter restart-policy=always``);
  Docker starts those with ``always`` or ``unless-stopped`` when ``docker.service`` starts.

A unit "starts at boot" as for any service (_persist_services._verdict) where PID 1 is systemd; where it
is not, from systemd's offline reading of the unit files when ``/sbin/init`` is systemd. For ``port: auto``
the result says that the host port is dynamic.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._container_boot import DOCKER_UNIT, PODMAN_RESTART
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import Service
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import (
    ID_PREFIX, Facts, Result, host_ports, result,
)

KIND = "persist"
Verdict = Tuple[Optional[bool], str]
UnitVerdict = Callable[[Dict[str, Any], str], Tuple[bool, str]]
_ENGINE_POLICIES = {"podman": ("always",), "docker": ("always", "unless-stopped")}
_ENGINE_NAMES = {"podman": "Podman", "docker": "Docker"}


def _matches(entry: Dict[str, Any], container: str) -> bool:
    """The container that publish.container names, by name, ID prefix, or its pod's name (the pod's containers
    but its infra container, which Podman creates and starts with the pod)."""
    if container == entry.get("name") or (container == entry.get("pod") and not entry.get("infra")):
        return True
    return len(container) >= ID_PREFIX and str(entry.get("id") or "").startswith(container)


def _offline_unit(starters: Dict[str, Any], unit: str) -> Verdict:
    """(starts at boot, why) from the unit files, where PID 1 is not systemd."""
    boot = starters.get("boot") or {}
    init = str(boot.get("init") or "unreadable")
    if not init.endswith("/systemd"):
        return None, "PID 1 is %s, not systemd, and /sbin/init is %s" % (starters.get("init") or "unreadable", init)
    entry = (boot.get("units") or {}).get(unit)
    if not entry:
        return None, "the state of %s could not be read" % unit
    state, wanted = entry.get("state"), list(entry.get("wanted_by") or [])
    where = "read from the unit files, systemd is not PID 1 now"
    if state == "enabled" and wanted:
        return True, "%s enabled (%s, in %s)" % (unit, where, ", ".join("%s.wants" % t for t in wanted))
    if state == "enabled":
        return False, "%s is enabled for a target the default target %s does not pull in (%s)" % (
            unit, boot.get("default_target"), where)
    return False, "%s is %s (%s)" % (unit, "not installed" if state == "not-found" else state, where)


def _unit(starters: Dict[str, Any], unit: str, unit_verdict: UnitVerdict) -> Verdict:
    if starters.get("init") != "systemd":
        return _offline_unit(starters, unit)
    props = (starters.get("units") or {}).get(unit)
    if props is None:
        return None, "the state of %s could not be read" % unit
    if props.get("LoadState") == "not-found":
        return False, "%s is not installed" % unit
    ok, why = unit_verdict(starters, unit)
    if ok and str(props.get("SourcePath") or "").endswith(".container"):
        why = "%s (quadlet %s, %s)" % (unit, props["SourcePath"], props.get("UnitFileState") or "unknown state")
    return ok, why


def _starter(starters: Dict[str, Any], entry: Dict[str, Any], unit_verdict: UnitVerdict) -> Verdict:
    """(True: started at boot / False: nothing starts it / None: not known, why) for one container."""
    if entry.get("auto_remove"):
        return False, "it was run with --rm, so it is removed when it stops"
    if entry.get("systemd_unit"):
        ok, why = _unit(starters, entry["systemd_unit"], unit_verdict)
        return ok, ("started at boot by " + why) if ok else "its unit: " + why
    engine, policy = entry.get("engine"), entry.get("restart_policy") or "no"
    if entry.get("restart_retries") and policy == "on-failure":
        policy = "on-failure:%s" % entry["restart_retries"]
    unit = {"podman": PODMAN_RESTART, "docker": DOCKER_UNIT}.get(str(engine))
    if unit is None:
        return None, "container engine %s is not known" % engine
    if policy not in _ENGINE_POLICIES[str(engine)]:
        if engine == "podman" and policy != "no":
            return False, "restart policy %s (%s starts only containers whose restart policy is always)" % (policy, PODMAN_RESTART)
        return False, "restart policy %s" % policy
    ok, why = _unit(starters, unit, unit_verdict)
    if ok:
        return True, "restart policy %s, %s" % (policy, why)
    if ok is None:
        return None, "restart policy %s, but %s" % (policy, why)
    return False, "restart policy %s but %s, so %s does not start it at boot" % (policy, why, _ENGINE_NAMES[str(engine)])


def _dynamic(facts: Facts, service: Service) -> str:
    """For port: auto, what the result says about the host port."""
    if service["port"] != "auto":
        return ""
    ports = host_ports(facts, service)
    if not ports:
        return "; the host port is dynamic (port: auto) and none is published now (see mapping)"
    return "; host port%s %s %s dynamic (port: auto): it moves on every restart and the checks follow it" % (
        "s" if len(ports) > 1 else "", ", ".join(str(p) for p in ports), "are" if len(ports) > 1 else "is")


def check_container(host: str, service: Service, facts: Facts, unit_verdict: UnitVerdict) -> Result:
    """Whether the container that publishes SERVICE is started again after a reboot."""
    name, container = service["name"], service["publish"]["container"]
    starters = facts.raw.get("starters")
    dynamic = _dynamic(facts, service)
    entries = starters.get("containers") if isinstance(starters, dict) else None
    if not isinstance(starters, dict) or entries is None:
        return result(host, name, KIND, "error", "%s: who starts container %s is not known: %s%s"
                      % (name, container, facts.reason("starters"), dynamic), source="services")
    found = [e for e in entries if _matches(e, container)]
    if not found:
        unread = starters.get("engines_unread") or []
        if unread:
            return result(host, name, KIND, "error", "%s: who starts container %s is not known: these container engines"
                          " could not be read: %s%s" % (name, container, "; ".join(unread), dynamic))
        return result(host, name, KIND, "skip", "%s: container %s does not run now, so nothing to start (see mapping)%s"
                      % (name, container, dynamic))
    verdicts = [(entry["name"], _starter(starters, entry, unit_verdict)) for entry in found]
    failing = ["container %s: %s" % (c, why) for c, (ok, why) in verdicts if ok is False]
    unknown = ["container %s: %s" % (c, why) for c, (ok, why) in verdicts if ok is None]
    passing = ["container %s, %s" % (c, why) if why.startswith("started") else "container %s: %s" % (c, why)
               for c, (ok, why) in verdicts if ok]
    actual = "; ".join(failing + unknown + passing)
    if failing:
        return result(host, name, KIND, "fail", "after a reboot nothing starts %s: %s%s" % (name, "; ".join(failing), dynamic),
                      "started at boot", actual)
    if unknown:
        return result(host, name, KIND, "error", "%s: who starts it after a reboot is not known: %s%s"
                      % (name, "; ".join(unknown), dynamic), "started at boot", actual)
    return result(host, name, KIND, "pass", "%s runs in %s%s" % (name, "; ".join(passing), dynamic), "started at boot", actual)
