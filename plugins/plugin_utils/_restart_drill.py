# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The restart drill's plan and record (role restart_drill, action restart_step). Pure functions.

The plan lists the services to restart, host after host in play order, each service in contract order, each with
the allowed source that polls its port after the restart: the first ``allow_from`` entry that is an inventory host
(not the target), a group with a member other than the target (its first, sorted), or ``controller`` (delegated to
the machine running Ansible); CIDRs and ``public`` name no host that could probe. A service without such an entry
gets no source: its reachability is not measured (``reachable_s`` null).
The record judges each service from what restart_unit measured on the target and what the source saw.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.portproof.validate.plugins.module_utils._restart import verdict
from ansible_collections.portproof.validate.plugins.plugin_utils._firewall_checks import host_address

Json = Dict[str, Any]
CONTROLLER = "controller"
DEFAULT_MAX_S = 30.0
# Each attempt of the source waits at most ATTEMPT_S for a connection (a dropping firewall makes it wait), one every
# POLL_S; the source polls for what is left of restart.max_s after the downtime, at least MIN_WAIT_S (the role's task
# computes that wait from these figures of each step, bounded by portproof_restart_timeout).
ATTEMPT_S = 1.0
MIN_WAIT_S = 1.0
POLL_S = 0.05


def allowed_source(service: Mapping[str, Any], target: str, groups: Mapping[str, Sequence[str]]) -> Optional[str]:
    """The inventory host (or 'controller') that polls SERVICE of TARGET after its restart, None when none can."""
    for entry in service.get("allow_from") or []:
        kind, name = entry.get("kind"), entry.get("name")
        if kind == "host" and name != target:
            return str(name)
        if kind == "group":
            members = sorted(str(member) for member in groups.get(str(name)) or [] if member != target)
            if members:
                return members[0]
        if kind == CONTROLLER:
            return CONTROLLER
    return None


def plan(contracts: Mapping[str, Optional[Sequence[Mapping[str, Any]]]], play_hosts: Sequence[str],
         groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any], controller: str = "localhost") -> List[Json]:
    """The drill's steps: one per declared service of each host of PLAY_HOSTS (in that order) with a contract in
    CONTRACTS; a service published from a container names the container (port None for port: auto)."""
    steps = []
    for host in play_hosts:
        for service in contracts.get(host) or []:
            publish = service.get("publish") or {}
            # a silent UDP service cannot be told from a dropped one: only TCP is polled from a source
            source = allowed_source(service, host, groups) if (service.get("proto") or "tcp") == "tcp" else None
            steps.append({
                "host": host, "service": service["name"], "port": None if service["port"] == "auto" else service["port"],
                "proto": service.get("proto") or "tcp",
                "container": publish.get("container"), "container_port": publish.get("container_port"),
                "max_s": float((service.get("restart") or {}).get("max_s", DEFAULT_MAX_S)),
                "source": source, "delegate_to": None if source is None else controller if source == CONTROLLER else source,
                "address": publish.get("host_ip") or host_address(hostvars, host, fallback_to_name=True),
                "attempt_s": ATTEMPT_S, "min_wait_s": MIN_WAIT_S, "poll_s": POLL_S,
            })
    return steps


def reach_of(step: Mapping[str, Any], probed: Optional[Mapping[str, Any]]) -> Optional[Json]:
    """What STEP's source saw, as _restart.verdict takes it; None when no source polled (none, or not listening)."""
    if step.get("source") is None or not probed or probed.get("skipped"):
        return None
    source = step["source"]
    if probed.get("unreachable"):
        return {"source": source, "held": False, "error": "%s could not be reached to probe from: %s"
                % (source, str(probed.get("msg") or "unreachable").strip()[:300])}
    probes = probed.get("probes") or []
    if probed.get("failed") and not probes:
        return {"source": source, "held": False, "error": "the probe from %s failed: %s" % (source, str(probed.get("msg") or "")[:300])}
    last = probes[0] if probes else {}
    wait = probed.get("wait") or {}
    held = bool(wait.get("held")) and bool(last.get("ok"))
    address = last.get("resolved") or last.get("host")
    return {"source": source, "held": held, "elapsed_s": round(float(wait.get("elapsed_ms") or 0.0) / 1000.0, 3) if held else None,
            "state": last.get("state"), "address": "%s:%s" % ("[%s]" % address if ":" in str(address) else address, last.get("port"))}


def record(step: Mapping[str, Any], restarted: Mapping[str, Any], probed: Optional[Mapping[str, Any]]) -> Json:
    """The restart result of STEP from restart_unit's result RESTARTED and port_probe's PROBED (None: not probed)."""
    measured = restarted.get("measured")
    if restarted.get("unreachable") or restarted.get("failed") or not isinstance(measured, Mapping):
        why = str(restarted.get("msg") or "no measurement returned").strip()[:500]
        return {"host": step["host"], "service": step["service"], "check": "restart", "status": "error", "source": None,
                "message": "%s: the restart drill could not run on %s: %s" % (step["service"], step["host"], why),
                "expected": None, "actual": None, "downtime_s": None, "reachable_s": None, "recorded_on": step["host"]}
    result = verdict(step["host"], step["service"], step["port"], step["proto"], float(step["max_s"]), dict(measured),
                     reach_of(step, probed))
    result["recorded_on"] = step["host"]
    return result
