# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""From port_probe results to the live check results: reach, isolation, response, tls, protocol, load, dns.

Pure functions over the plan entries of one source (see ``_probe_plan``) and what its
``port_probe`` task returned. Every result is a result of the target (``host``: where the
service is, ``source``: the probing host or ``controller``), with ``latency_ms`` when a time
was measured and ``sample`` when the source was sampled out of its group. How each check
decides is described in docs/live-checks.md.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.portproof.validate.plugins.module_utils._probe._checks import safe_excerpt
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import Result, result

from typing import Any, Callable, Collection, Dict, Iterable, List, Mapping, Optional, Tuple, cast

# One plan entry of a source (see _probe_plan).
Entry = Dict[str, Any]
# What port_probe returned for one target of its probes list: {state, connected, latency_ms, response, ...}.
Probe = Dict[str, Any]
# A registered port_probe task result: {probes: [Probe], load, failed, unreachable, skipped, msg, ...}.
Run = Dict[str, Any]

GOT_THROUGH_NOT = ("refused", "timeout", "unreachable")
TLS_ENTRIES = ("tls_handshake", "tls_verify", "tls_hostname", "tls_days", "tls_version")


def _result(entry: Entry, check: str, status: str, message: str, expected: Optional[str] = None, actual: Optional[str] = None,
            latency: Any = None) -> Result:
    item = result(entry["host"], entry["service"], check, status, message, expected, actual, source=entry["source"])
    if latency is not None:
        item["latency_ms"] = latency
    if entry.get("sample"):
        item["sample"] = entry["sample"]
    return item


def entry_kinds(entry: Entry) -> List[str]:
    """The result kinds a plan entry feeds."""
    return [entry["kind"]] + list(entry.get("checks") or [])


def where(entry: Entry) -> str:
    if entry.get("kind") == "dns":
        return entry["name"]
    target = entry["target"]
    host = "[%s]" % target["host"] if ":" in target["host"] else target["host"]
    return "%s:%s/%s" % (host, target["port"], target["proto"])


def _state_text(probe: Probe) -> str:
    text = probe.get("state") or "no outcome"
    if probe.get("reason"):
        text += " (%s)" % probe["reason"]
    return text


VERBS = {"accept": "accepts", "drop": "drops", "reject": "rejects"}


def _silence(entry: Entry, wanted: bool) -> Tuple[str, str]:
    """Decide UDP silence (open_filtered) from the static verdict and the listener.

    WANTED is True for reach (silence passes only when the firewall accepts the datagram and the
    service listens) and False for isolation (silence fails exactly then: the datagram got
    through, the service just did not answer). Returns (status, explanation)."""
    info = entry.get("silence") or {"error": "no static verdict was planned"}
    if "error" in info:
        return "error", "whether it gets through cannot be decided: %s" % info["error"]
    if info["verdict"] not in VERBS:
        return "error", "the firewall of %s gives no static verdict for it: %s" % (info["firewall"], info["how"])
    firewall = "the firewall of %s %s it (%s)" % (info["firewall"], VERBS[info["verdict"]], info["how"])
    through = info["verdict"] == "accept" and info["listener"]
    if through:
        detail = "%s and the service listens" % firewall
    elif info["verdict"] == "accept":
        detail = "%s but nothing listens on the port" % firewall
    else:
        detail = firewall
    return ("pass" if through == wanted else "fail"), detail


def reach(entry: Entry, probe: Probe) -> Result:
    name, source, target = entry["service"], entry["source"], where(entry)
    state, latency = probe.get("state"), probe.get("latency_ms")
    expected = "open"
    if entry["target"]["proto"] == "tcp":
        if probe.get("connected"):
            message = "%s: %s reached %s (connected in %s ms)" % (name, source, target, latency)
            if state != "open":
                message += "; then %s, see response" % _state_text(probe)
            return _result(entry, "reach", "pass", message, expected, "open", latency)
    else:
        if state == "open":
            return _result(entry, "reach", "pass", "%s: %s got a reply from %s in %s ms" % (name, source, target, latency),
                           expected, "open", latency)
        if state == "open_filtered":
            if entry["target"].get("expect_reply"):
                return _result(entry, "reach", "fail", "%s: %s got no reply from %s: %s; the service must answer its request"
                               % (name, source, target, _state_text(probe)), "a reply", state)
            status, why = _silence(entry, True)
            verdict = {"pass": "counted as reached", "fail": "not reached", "error": "undecided"}[status]
            return _result(entry, "reach", status, "%s: %s got no reply from %s (open_filtered), %s: %s" % (name, source, target, verdict, why),
                           "open, or silence the firewall accepts and a listener", state)
    if state in GOT_THROUGH_NOT or state == "dns_error":
        return _result(entry, "reach", "fail", "%s: %s cannot reach %s: %s" % (name, source, target, _state_text(probe)), expected, state)
    return _result(entry, "reach", "error", "%s: %s could not probe %s: %s" % (name, source, target, _state_text(probe)), expected, state)


def isolation(entry: Entry, probe: Probe) -> Result:
    name, source, target = entry["service"], entry["source"], where(entry)
    state, latency = probe.get("state"), probe.get("latency_ms")
    expected = "timeout, refused or unreachable"
    if entry["target"]["proto"] == "tcp" and probe.get("connected"):
        return _result(entry, "isolation", "fail", "%s: %s must not get through, but connected to %s in %s ms" % (name, source, target, latency),
                       expected, "open", latency)
    if entry["target"]["proto"] == "udp" and state == "open":
        return _result(entry, "isolation", "fail", "%s: %s must not get through, but got a reply from %s in %s ms" % (name, source, target, latency),
                       expected, "open", latency)
    if state in GOT_THROUGH_NOT:
        return _result(entry, "isolation", "pass", "%s: %s is kept out of %s: %s" % (name, source, target, _state_text(probe)), expected, state)
    if state == "open_filtered":
        status, why = _silence(entry, False)
        if status == "fail":
            message = "%s: %s must not get through, but %s; no reply came (open_filtered)" % (name, source, why)
        else:
            message = "%s: %s got no reply from %s (open_filtered): %s" % (name, source, target, why)
        return _result(entry, "isolation", status, message, expected, state)
    return _result(entry, "isolation", "error", "%s: %s could not probe %s: %s" % (name, source, target, _state_text(probe)), expected, state)


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_value(item) for item in value)
    return "null" if value is None else str(value)


PROBING_HOST = "(evaluated on the probing host)"


def _verdict_text(item: Dict[str, Any], source: str) -> str:
    """The message of a response entry, naming the probing host where the module could only say so."""
    message = item.get("message") or ""
    if item.get("evaluated_on") == "target" and message.endswith(PROBING_HOST):
        who = "the controller" if source == "controller" else source
        message = message[:-len(PROBING_HOST)] + "(evaluated on %s, the probing host)" % who
    return message


def _combined(entry: Entry, check: str, probe: Probe, checks: List[Dict[str, Any]]) -> Result:
    """One result from the response entries of a probe that belong to CHECK."""
    name, source, target = entry["service"], entry["source"], where(entry)
    if not checks:
        return _result(entry, check, "skip", "%s: port_probe ran no %s check for %s" % (name, check, target))
    connected = probe.get("connected") or probe.get("state") == "open"
    if not connected:
        return _result(entry, check, "skip", "%s: not checked, %s could not get through to %s (%s); see reach"
                       % (name, source, target, _state_text(probe)))
    statuses = [item["status"] for item in checks]
    if "fail" in statuses:
        status = "fail"
    elif "error" in statuses or "unavailable" in statuses:
        status = "error"
    elif "skip" in statuses:
        status = "skip"
    else:
        status = "pass"
    shown = checks if status == "pass" else [item for item in checks if item["status"] == status]
    verdicts = "; ".join("%s %s: %s" % (item["name"], item["status"], _verdict_text(item, source)) for item in shown)
    message = "%s from %s at %s: %s" % (name, source, target, verdicts)
    expected = "; ".join("%s: %s" % (item["name"], _value(item.get("expected"))) for item in checks if item.get("expected") is not None)
    actual = "; ".join("%s: %s" % (item["name"], _value(item.get("actual"))) for item in checks if item.get("actual") is not None)
    return _result(entry, check, status, message, expected or None, actual or None, probe.get("total_ms"))


def response(entry: Entry, probe: Probe) -> Result:
    return _combined(entry, "response", probe, [item for item in probe.get("response") or []
                                                if item["name"] not in TLS_ENTRIES and item["name"] != "protocol"])


def protocol(entry: Entry, probe: Probe) -> Result:
    """Whether the port answers as the declared check.protocol: the probe's ``protocol`` identification,
    its safe excerpt of what the port sent in ``actual`` when something else (or nothing recognisable) answered."""
    name, source, target = entry["service"], entry["source"], where(entry)
    expected = entry["target"].get("protocol")
    connected = probe.get("connected") or probe.get("state") == "open"
    found = probe.get("protocol")
    if not isinstance(found, dict):
        if not connected:
            return _result(entry, "protocol", "skip", "%s: not checked, %s could not get through to %s (%s); see reach"
                           % (name, source, target, _state_text(probe)), expected)
        checks = [item for item in probe.get("response") or [] if item["name"] == "protocol"]
        why = checks[0].get("message") if checks else "port_probe returned no protocol identification"
        return _result(entry, "protocol", "error", "%s from %s at %s: %s" % (name, source, target, why), expected)
    answered = found.get("answered")
    if found.get("verdict") == "pass":
        actual = answered
    elif answered is not None:
        actual = "%s (%s)" % (answered, safe_excerpt(found["excerpt"]) if found.get("excerpt") else "no bytes")
    else:
        actual = "nothing recognisable: %s" % (safe_excerpt(found["excerpt"]) if found.get("excerpt") else "no bytes")
    status = "pass" if found.get("verdict") == "pass" else "fail"
    return _result(entry, "protocol", status, "%s from %s: %s" % (name, source, found.get("message")), expected, actual,
                   probe.get("total_ms"))


# The probe's TLS evidence a tls result carries (``tls``): what clients of the port see.
TLS_EVIDENCE = ("protocol", "cipher", "chain", "chain_visible", "chain_note", "ocsp_stapled")
TRUST_STORE = "the trust store of the probing host"


def tls(entry: Entry, probe: Probe) -> Result:
    """The tls result; a verdict against the trust store names the source whose store it is, and
    the result carries the protocol, cipher, chain as presented and OCSP stapling (``tls``) when
    port_probe reported the chain."""
    who = "the controller" if entry["source"] == "controller" else entry["source"]
    checks = [dict(item, message=item["message"].replace(TRUST_STORE, "the trust store of %s" % who))
              if item["name"] == "tls_verify" and isinstance(item.get("message"), str) else item
              for item in probe.get("response") or [] if item["name"] in TLS_ENTRIES]
    item = _combined(entry, "tls", probe, checks)
    evidence = probe.get("tls")
    if isinstance(evidence, dict) and "chain" in evidence and item["status"] != "skip":
        item["tls"] = dict((key, evidence[key]) for key in TLS_EVIDENCE if key in evidence)
    return item


DECIDE: Dict[str, Callable[[Entry, Probe], Result]] = {"reach": reach, "isolation": isolation, "response": response, "tls": tls,
                                                       "protocol": protocol}


def failure(run: Optional[Run]) -> Optional[str]:
    """Why a registered port_probe task result holds no probes, or None when it does."""
    if run is None:
        return "the port_probe task did not run"
    if run.get("unreachable"):
        return "unreachable: %s" % (run.get("msg") or "no reason given")
    if run.get("skipped"):
        return "the port_probe task was skipped"
    if "probes" not in run:
        return "port_probe failed: %s" % (run.get("msg") or "no result")
    return None


def _per_check(entries: Iterable[Entry], kinds: Collection[str], status: str, describe: Callable[[Entry], str]) -> List[Result]:
    """One result of STATUS for every check of KINDS that ENTRIES feed, its message describe(entry)."""
    return [_result(entry, check, status, describe(entry)) for entry in entries for check in entry_kinds(entry) if check in kinds]


def source_errors(entries: Iterable[Entry], kinds: Collection[str], message: str) -> List[Result]:
    """Error results for every check of KINDS that ENTRIES feed, when their source could not probe."""
    return _per_check(entries, kinds, "error", lambda entry: "%s: %s could not probe %s: %s" % (
        entry["service"], entry["source"], where(entry), message))


def interpret(entries: List[Entry], run: Optional[Run], kinds: Collection[str]) -> List[Result]:
    """Results of KINDS from one source's plan ENTRIES and its registered port_probe result RUN."""
    if not entries:
        return []
    why = failure(run)
    probes: List[Probe] = [] if why is not None else cast(Run, run)["probes"]  # no failure: a result with probes
    if why is None and len(probes) != len(entries):
        why = "port_probe returned %d probes for %d targets" % (len(probes), len(entries))
    if why is not None:
        return source_errors(entries, kinds, why)
    results: List[Result] = []
    for entry, probe in zip(entries, probes):
        for check in entry_kinds(entry):
            if check in kinds:
                results.append(DECIDE[check](entry, probe))
    return results


# The words of a resolver error kind (port_probe's resolved[].error): (actual, what it means).
DNS_ERRORS = {
    "nxdomain": ("NXDOMAIN", "the name does not exist"),
    "servfail": ("SERVFAIL", "the resolver failed or did not answer (SERVFAIL or timeout inside the resolver)"),
    "no_address": ("no address", "the name exists but has no address"),
    "timeout": ("timeout", "no answer in time"),
    "other": ("error", "it cannot be resolved"),
}


def _address(text: str) -> str:
    """An address in one spelling (IPv6 compressed, lower case), so that answers and facts compare."""
    try:
        return str(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        return text


def _owned(address: str, host: str, owners: Mapping[str, List[str]]) -> str:
    """ADDRESS with the inventory hosts that hold it: '10.0.0.21 (db2)'; the target HOST first when it is one of them."""
    holders = owners.get(address) or []
    holders = ([host] if host in holders else []) + [name for name in holders if name != host]
    return "%s (%s)" % (address, ", ".join(holders)) if holders else address


def dns(entry: Entry, answer: Optional[Dict[str, Any]], owners: Mapping[str, List[str]]) -> Result:
    """Whether ENTRY's name, as its source resolved it (ANSWER: port_probe's ``resolved`` item), lies inside the target's
    addresses. ``actual`` holds the answer, each address with the inventory host that holds it (OWNERS), so the answers of
    one name from several sources can be compared in the report (split horizon)."""
    name, source, host, svc = entry["name"], entry["source"], entry["host"], entry["service"]
    mine = [_address(address) for address in entry.get("addresses") or []]
    expected = ", ".join(mine) or None
    if answer is None:
        return _result(entry, "dns", "error", "%s: port_probe on %s returned no answer for %s" % (svc, source, name), expected)
    latency = answer.get("ms")
    if answer.get("error"):
        actual, meaning = DNS_ERRORS.get(answer["error"], DNS_ERRORS["other"])
        message = "%s: %s cannot be resolved from %s: %s, %s (%s), so its clients there cannot find %s" % (
            svc, name, source, actual, meaning, answer.get("reason") or "no reason given", host)
        return _result(entry, "dns", "fail", message, expected, actual, latency)
    got = [_address(address) for address in answer.get("addresses") or []]
    shown = ", ".join(_owned(address, host, owners) for address in got)
    if not mine:
        return _result(entry, "dns", "error", "%s: %s resolves to %s from %s, but no address of %s is known to compare with "
                       "(set portproof_address, or gather its addresses)" % (svc, name, shown, source, host), None, shown, latency)
    if got and all(address in mine for address in got):
        return _result(entry, "dns", "pass", "%s: %s resolves to %s from %s" % (svc, name, shown, source), expected, shown, latency)
    message = "%s: %s resolves to %s from %s, not to %s (%s)" % (svc, name, shown or "no address", source, host, expected)
    return _result(entry, "dns", "fail", message, expected, shown, latency)


def dns_results(entries: List[Entry], run: Optional[Run], owners: Mapping[str, List[str]]) -> List[Result]:
    """The dns results of one source's names ENTRIES from its registered port_probe result RUN."""
    if not entries:
        return []
    why = failure(run)
    if why is None and not isinstance(cast(Run, run).get("resolved"), list):
        why = "port_probe returned no resolved names"
    if why is not None:
        return source_errors(entries, ("dns",), why)
    answers = dict((item.get("name"), item) for item in cast(Run, run)["resolved"] if isinstance(item, dict))
    return [dns(entry, answers.get(entry["name"]), owners) for entry in entries]


def load_result(entry: Entry, run: Optional[Run]) -> Result:
    """The load result of one load plan entry from its registered port_probe result."""
    name, source, target = entry["service"], entry["source"], where(entry)
    why = failure(run)
    if why is None and "load" not in cast(Run, run):  # no failure: a result
        why = "port_probe returned no load result"
    if why is not None:
        return _result(entry, "load", "error", "%s: %s could not put %s under load: %s" % (name, source, target, why))
    load = cast(Run, run)["load"]
    checks = load.get("checks") or []
    statuses = [item["status"] for item in checks]
    if "fail" in statuses:
        status = "fail"
    elif "error" in statuses or "unavailable" in statuses or not checks:
        status = "error"
    elif "skip" in statuses:
        status = "skip"
    else:
        status = "pass"
    message = "%s from %s at %s: %s requests, %s in flight, %s failed, p50 %s ms, p95 %s ms, max %s ms" % (
        name, source, target, load.get("completed"), load.get("concurrency"), load.get("errors"), load.get("p50_ms"), load.get("p95_ms"),
        load.get("max_ms"))
    bad = [item for item in checks if item["status"] != "pass"]
    if bad:
        message += "; " + "; ".join("%s %s: %s" % (item["name"], item["status"], item.get("message") or "") for item in bad)
    limits = entry["load"]
    expected = "p95 <= %s ms, errors <= %s" % (limits.get("p95_ms", "any"), limits.get("max_errors", 0))
    actual = "p95 %s ms, errors %s" % (load.get("p95_ms"), load.get("errors"))
    return _result(entry, "load", status, message, expected, actual, load.get("p95_ms"))


def load_results(entries: Iterable[Entry], runs: Optional[Iterable[Optional[Run]]]) -> List[Result]:
    """Load results for ENTRIES from a registered loop over them (RUNS: its ``results``, same order)."""
    runs = list(runs or [])
    results: List[Result] = []
    for index, entry in enumerate(entries):
        results.append(load_result(entry, runs[index] if index < len(runs) else None))
    return results


def source_skips(entries: Iterable[Entry], kinds: Collection[str], reason: str) -> List[Result]:
    """Skip results for every check of KINDS that ENTRIES feed, when their source is not to probe (outside --limit)."""
    return _per_check(entries, kinds, "skip", lambda entry: "%s: not probed from %s at %s: %s" % (
        entry["service"], entry["source"], where(entry), reason))


def play_results(plan: Mapping[str, Any], kinds: Collection[str], play_hosts: Iterable[str], delegated: Optional[Iterable[Run]] = None,
                 delegated_load: Optional[Iterable[Optional[Run]]] = None) -> List[Result]:
    """What the play's first host records: the results of delegated sources (controller and hosts
    outside the play), errors for sources that are lost or left the play, skips for sources outside
    the run's --limit, and the plan's own results."""
    results = [item for item in plan.get("errors") or [] if item["check"] in kinds]
    runs: Dict[Any, Run] = {}
    for run in delegated or []:
        runs[(run.get("item") or {}).get("source")] = run
    in_play = frozenset(play_hosts)
    owners = plan.get("owners") or {}
    for name in sorted(plan["sources"]):
        source = plan["sources"][name]
        names = list(source.get("names") or []) if "dns" in kinds else []
        if source["run"] == "delegate":
            results.extend(interpret(source["probes"], runs.get(name), kinds))
            results.extend(dns_results(names, runs.get(name), owners))
        elif source["run"] == "skip":
            results.extend(source_skips(source["probes"] + names, kinds, source.get("reason") or "the source is not to probe"))
        elif source["run"] == "lost":
            results.extend(source_errors(source["probes"] + names, kinds,
                                         "the source left the play before the plan was made (unreachable or failed)"))
        elif name not in in_play:
            results.extend(source_errors(source["probes"] + names, kinds, "the source left the play before probing (unreachable or failed)"))
            if "load" in kinds:
                results.extend(source_errors([dict(e, kind="load") for e in source["load"]], kinds, "the source left the play before the load run"))
    if "load" in kinds:
        results.extend(load_results(plan.get("delegated_load") or [], delegated_load))
    return results
