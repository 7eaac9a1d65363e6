# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The restart drill's verdict (check kind ``restart``) from what the module restart_unit measured. Pure functions."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

Json = Dict[str, Any]
KIND = "restart"


def where(item: Json) -> str:
    """0.0.0.0:8080 or [::]:8080."""
    address = "[%s]" % item["address"] if ":" in str(item.get("address")) else str(item.get("address"))
    return "%s:%s" % (address, item.get("port"))


def shape(items: List[Json]) -> List[Json]:
    """What the drill compares of the listeners before and after: address, port, process, user (each once)."""
    seen = {(str(i.get("address")), i.get("port"), i.get("process"), i.get("user")) for i in items}
    return [{"address": a, "port": p, "process": c, "user": u} for a, p, c, u in sorted(seen, key=str)]


def describe(items: List[Json]) -> str:
    return ", ".join("%s (process %s user %s)" % (where(i), i.get("process"), i.get("user")) for i in shape(items)) or "nothing"


def _result(host: str, service: str, status: str, message: str, expected: Optional[str], actual: Optional[str],
            downtime_s: Optional[float], source: Optional[str] = None, reachable_s: Optional[float] = None) -> Json:
    return {"host": host, "service": service, "check": KIND, "status": status, "source": source, "message": message,
            "expected": expected, "actual": actual, "downtime_s": downtime_s, "reachable_s": reachable_s}


def seen(reach: Json) -> str:
    """What the allowed source saw on its last attempt: 'timeout connecting to 10.0.0.5:8080' or why it did not probe."""
    if reach.get("error"):
        return str(reach["error"])
    return "%s connecting to %s" % (reach.get("state") or "no answer", reach.get("address") or "the service")


def verdict(host: str, service: str, port: Optional[int], proto: str, max_s: float, run: Json, reach: Optional[Json] = None) -> Json:
    """The ``restart`` result of one service from the measurement RUN (see restart_unit's return values) and, when an
    allowed source polled the port after the restart, what it saw (REACH: source, held, elapsed_s, state, address or
    error). reachable_s is downtime_s plus the source's elapsed time from its first attempt until it connected.
    A container's RUN (key container) also holds the host ports it was published on before and after; PORT None is
    the contract's port: auto (the port it is published on now)."""
    outcome = run.get("outcome")
    unit = run.get("unit")
    container = run.get("container")
    note = ""
    if container:
        before_ports, after_ports = run.get("published_before") or [], run.get("published_after") or []
        inside = "%s/%s inside container %s" % (run.get("container_port", "its port"), proto, container)
        if outcome == "no_container":
            return _result(host, service, "skip", "%s: %s, so there is nothing to restart (see mapping)" % (service, run.get("why")),
                           None, None, None)
        if outcome == "not_listening":
            return _result(host, service, "skip", "%s: nothing listens on %s, so there is nothing to restart (see listen)"
                           % (service, inside), None, None, None)
        if outcome == "restart_failed":
            return _result(host, service, "fail", "%s: restart of %s failed: %s" % (service, unit, run.get("why")),
                           "back within %g s" % max_s, None, None)
        if outcome == "restarted" and run.get("downtime_s") is None:
            return _result(host, service, "fail", "%s did not listen on %s and published again within %g s after restart of %s"
                           % (service, inside, float(run.get("timeout") or 0), unit),
                           "back within %g s" % max_s, "nothing", None)
        if outcome == "restarted" and after_ports != before_ports:
            shown = ", ".join(str(p) for p in after_ports)
            if port is not None and port not in after_ports:
                return _result(host, service, "fail", "%s came back on another host port after restart of %s: %s/%s instead of %s/%s"
                               % (service, unit, shown, proto, port, proto), "published on %s/%s" % (port, proto),
                               "published on %s/%s" % (shown, proto), run.get("downtime_s"))
            if port is None:
                note = "; published on host port %s now, was %s (port: auto follows it)" % (
                    shown, ", ".join(str(p) for p in before_ports) or "none")
        if port is None:
            port = after_ports[0] if after_ports else before_ports[0] if before_ports else None
    result = _measured(host, service, "%s/%s" % (port, proto), port, max_s, run, reach)
    result["message"] += note
    return result


def _measured(host: str, service: str, spec: str, port: Optional[int], max_s: float, run: Json, reach: Optional[Json]) -> Json:
    """verdict's part for a unit or a container that was restarted (or found not restartable: skip)."""
    outcome = run.get("outcome")
    unit = run.get("unit")
    if outcome == "not_listening":
        return _result(host, service, "skip", "%s: nothing listens on %s, so there is nothing to restart (see listen)"
                       % (service, spec), None, None, None)
    if outcome == "no_unit":
        return _result(host, service, "skip", "%s: the processes holding %s are not one systemd service unit (%s), so the "
                       "drill does not restart it (see persist)" % (service, spec, run.get("why")), None, None, None)
    if outcome == "check_mode":
        return _result(host, service, "skip", "%s: check mode, %s was not restarted" % (service, unit), None, None, None)
    if outcome == "restart_failed":
        return _result(host, service, "fail", "%s: systemctl restart %s failed: %s" % (service, unit, run.get("why")),
                       "back within %g s" % max_s, None, None)
    before, after, elsewhere = run.get("before") or [], run.get("after") or [], run.get("elsewhere") or []
    downtime = run.get("downtime_s")
    expected = "back within %g s on %s" % (max_s, describe(before))
    if downtime is None:
        if elsewhere:
            return _result(host, service, "fail", "%s came back on another port after restart of %s: %s instead of port %s"
                           % (service, unit, describe(elsewhere), port), expected, describe(elsewhere), None)
        return _result(host, service, "fail", "%s did not listen on %s again within %g s after restart of %s"
                       % (service, spec, float(run.get("timeout") or 0), unit), expected, "nothing", None)
    changed = []
    for key, label in (("address", "bound to"), ("process", "process"), ("user", "user")):
        was = sorted({str(i.get(key)) for i in before})
        now = sorted({str(i.get(key)) for i in after})
        if was != now:
            changed.append("%s %s instead of %s" % (label, ", ".join(now), ", ".join(was)))
    source = reach.get("source") if reach else None
    reachable = None
    if reach and reach.get("held") and reach.get("elapsed_s") is not None:
        reachable = round(downtime + float(reach["elapsed_s"]), 3)
    elif reach:
        changed.append("not reachable from %s within restart.max_s %g (%s)" % (source, max_s, seen(reach)))
    if downtime > max_s:
        return _result(host, service, "fail", "%s was down %.1f s after restart of %s, over restart.max_s %g"
                       % (service, downtime, unit, max_s), expected, describe(after), downtime, source, reachable)
    if changed:
        return _result(host, service, "fail", "%s came back on %s %.1f s after restart of %s, but %s"
                       % (service, spec, downtime, unit, "; ".join(changed)), expected, describe(after), downtime, source, reachable)
    if reachable is not None and reachable > max_s:
        return _result(host, service, "fail", "%s came back on %s %.1f s after restart of %s, but was reachable from %s only "
                       "%.1f s after it, over restart.max_s %g" % (service, spec, downtime, unit, source, reachable, max_s),
                       expected, describe(after), downtime, source, reachable)
    if reachable is not None:
        message = "%s came back on %s %.1f s after restart of %s and was reachable from %s %.1f s after it (restart.max_s %g), " \
                  "the same as before: %s" % (service, spec, downtime, unit, source, reachable, max_s, describe(after))
        return _result(host, service, "pass", message, expected, describe(after), downtime, source, reachable)
    return _result(host, service, "pass", "%s came back on %s %.1f s after restart of %s (restart.max_s %g), the same as "
                   "before: %s" % (service, spec, downtime, unit, max_s, describe(after)), expected, describe(after), downtime)
