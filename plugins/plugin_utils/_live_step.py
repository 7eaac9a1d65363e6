# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""One live step of a play (roles/validate/tasks/live.yml), as the private action plugins live_plan,
live_probe and live_record run it on the controller.

A step checks the kinds it is given (``portproof_live_kinds``). The first step of a play plans the
probes of the whole play once (``_probe_plan``); a later step of the same play reuses that plan and
the probe runs it made unless one of its kinds was already recorded (then it probes again). Load
runs are made by every step that checks ``load``. This module decides, plans, says what each source
has to do, and turns what the sources returned into the results each host of the play records
(``_live_checks``). The step's state is what its run_once tasks registered (on every host of the
play): the plan (live_plan), and the probe runs with the kinds recorded (live_record).
"""

from __future__ import annotations

import typing as t

from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import HAS_NETADDR
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import ContractError, contract_variables, load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._live_checks import dns_results, interpret, load_results, play_results
from ansible_collections.portproof.validate.plugins.plugin_utils._probe_plan import (
    CONTROLLER, DEFAULT_TIMEOUT, LIVE_KINDS, build_plan, secret_options,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._slices import PLAY_MARK
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import Result

Json = t.Dict[str, t.Any]

# What each host of the play records (a set_fact copies them from what live_record returned).
RECORDED_VARIABLES = ("portproof_results", "portproof_live_last", "portproof_lost")


class LiveStepError(ValueError):
    """Input of a live step that cannot be used as given; the message names it."""


def check_kinds(kinds: t.Any) -> t.List[str]:
    """KINDS as a list of live check kinds; LiveStepError naming the unknown ones."""
    if not isinstance(kinds, (list, tuple)) or not all(isinstance(kind, str) for kind in kinds):
        raise LiveStepError("portproof_live_kinds must be a list of check kinds (%s), got %r" % (", ".join(LIVE_KINDS), kinds))
    unknown = sorted(set(kinds) - set(LIVE_KINDS))
    if unknown:
        raise LiveStepError("portproof_live_kinds: unknown check kinds %s (known: %s)" % (", ".join(unknown), ", ".join(LIVE_KINDS)))
    return list(kinds)


def check_sample(sample: t.Any) -> t.Optional[int]:
    """portproof_probe_sample as a whole number (None or 0: every host); LiveStepError when it is not one."""
    if isinstance(sample, str) and sample.strip().isdigit():
        sample = int(sample)  # from -e on the command line
    if sample is not None and (not isinstance(sample, int) or isinstance(sample, bool) or sample < 0):
        raise LiveStepError("portproof_probe_sample must be a whole number >= 0, got %r" % (sample,))
    return sample or None


def step_key(play_name: str, play_hosts_all: t.Sequence[str]) -> str:
    """What identifies the play whose probes a step may reuse."""
    return "%s|%s" % (play_name, ",".join(str(host) for host in play_hosts_all))


def must_probe(kinds: t.Sequence[str], key: str, step: t.Any, state: t.Any) -> bool:
    """Whether the step probes (True) or reuses the plan and probe runs of an earlier step of the same play.

    STEP is what the last live_plan returned (its plan and key), STATE what the last live_record returned as
    ``state`` (key and kinds recorded since the play last probed). A step reuses only when both are of this play
    (KEY) and none of KINDS was recorded since."""
    if not isinstance(step, dict) or step.get("key") != key or not isinstance(step.get("plan"), dict):
        return True
    if not isinstance(state, dict) or state.get("key") != key:
        return True
    return bool(set(kinds) & set(state.get("recorded") or []))


def contracts(hostvars: t.Mapping[str, t.Any], groups: t.Mapping[str, t.Sequence[str]],
              hosts: t.Sequence[str]) -> t.List[t.Tuple[str, t.Any]]:
    """[(host, normalised services, or the message of why its contract cannot be used)] for HOSTS."""
    names = set(groups.get("all", [])) | set(groups.get("ungrouped", []))
    found: t.List[t.Tuple[str, t.Any]] = []
    for host in hosts:
        hvars = hostvars.get(host) or {}
        services = hvars.get("portproof_contract")
        if services is None:
            try:
                services = load_contract(host, contract_variables(hvars), set(groups), names, address=hvars.get("portproof_address"))
            except ContractError as exc:
                services = "no live check of %s: %s" % (host, exc)
        found.append((host, services))
    return found


def make_plan(hostvars: t.Mapping[str, t.Any], groups: t.Mapping[str, t.Sequence[str]], play_hosts_all: t.Sequence[str],
              play_hosts: t.Sequence[str], sample: t.Any = None, timeout: t.Any = None, controller: str = "localhost",
              limit_hosts: t.Optional[t.Sequence[str]] = None, limit: t.Optional[str] = None,
              slice_of: t.Optional[t.Sequence[str]] = None, cached: t.Optional[t.Mapping[str, Json]] = None) -> Json:
    """The probe plan of the play (``_probe_plan.build_plan``) from the hosts' variables.

    In a slice of a sliced run, SLICE_OF lists every host of the run (the targets), CACHED the port facts of those outside
    this slice (from the fact cache); the play's hosts are the slice's."""
    if not HAS_NETADDR:
        raise LiveStepError("the Python library netaddr is required on the controller for the live checks (pip install netaddr)")
    number = check_sample(sample)
    try:
        seconds = float(timeout) if timeout is not None else None
    except (TypeError, ValueError):
        raise LiveStepError("portproof_probe_timeout must be a number of seconds, got %r" % (timeout,))
    if seconds is not None and not 0 < seconds < float("inf"):
        raise LiveStepError("portproof_probe_timeout must be a number of seconds above 0, got %r" % (timeout,))
    hosts = [str(host) for host in play_hosts_all]
    targets = hosts if slice_of is None else [str(host) for host in slice_of]
    return build_plan(hostvars, groups, hosts, [str(host) for host in play_hosts], contracts(hostvars, groups, targets),
                      sample=number, timeout=seconds, controller=controller, limit_hosts=None if slice_of is not None else limit_hosts,
                      limit=limit, slice_of=slice_of, cached=cached)


def summary(plan: Json) -> str:
    """The line the step shows: how many probes from which sources, and how each source probes."""
    sources = plan["sources"]
    probing = [name for name in sorted(sources, key=lambda name: name.lower()) if sources[name]["probes"]]
    parts = []
    for name in probing:
        source = sources[name]
        how = {"delegate": " (delegated to %s)" % source.get("delegate_to"), "lost": " (left the play)",
               "skip": " (outside --limit, not probed)"}.get(source["run"], "")
        parts.append("%s %d%s" % (name, len(source["probes"]), how))
    line = "live probes of the play: %d probes from %d sources (one port_probe task each): %s" % (
        sum(len(source["probes"]) for source in sources.values()), len(probing), ", ".join(parts))
    if plan.get("errors"):
        line += "; %d results decided by the plan itself" % len(plan["errors"])
    return line


def delegated_work(plan: Json, fresh: bool, kinds: t.Sequence[str]) -> t.List[Json]:
    """[{source, delegate_to}]: the sources probed by delegation that have something to do in this step
    (probes when it probes, load runs when it checks load), in name order."""
    work = []
    for name in sorted(plan["sources"]):
        source = plan["sources"][name]
        if source["run"] == "delegate" and ((fresh and (source["probes"] or source.get("names"))) or ("load" in kinds and source["load"])):
            work.append({"source": name, "delegate_to": source["delegate_to"]})
    return work


def probing_hosts(plan: Json, fresh: bool, kinds: t.Sequence[str]) -> t.List[str]:
    """The sources in the play that have something to do in this step (probes when it probes, load runs when
    it checks load), in name order: the live_probe task runs on these hosts only."""
    return [name for name in sorted(plan["sources"]) if plan["sources"][name]["run"] == "self"
            and ((fresh and (plan["sources"][name]["probes"] or plan["sources"][name].get("names")))
                 or ("load" in kinds and plan["sources"][name]["load"]))]


def source_part(plan: Json, source: str, delegated: bool) -> Json:
    """The part of the plan of SOURCE (its probes and load runs); LiveStepError if it does not probe as asked
    (from itself, or by DELEGATED delegation)."""
    part = (plan.get("sources") or {}).get(source)
    if part is None:
        return {"run": "self" if not delegated else "delegate", "probes": [], "load": []}
    if part["run"] != ("delegate" if delegated else "self"):
        if not delegated:
            return {"run": part["run"], "probes": [], "load": []}  # the play's first host records those
        raise LiveStepError("source %s is not probed by delegation in the plan (it is %s)" % (source, part["run"]))
    return part


def _service_check(hostvars: t.Mapping[str, t.Any], host: str, service: str) -> Json:
    """The check block of SERVICE as the contract variables give it: the validated contract masks the secrets."""
    hvars = hostvars.get(host) or {}
    # the contract variables as the validate role saw them (play and role vars too), else the host's own
    given = hvars.get("portproof_contract_variables")
    given = given if isinstance(given, dict) else hvars
    services = [item for _name, value in contract_variables(given) for item in value or [] if isinstance(item, dict)]
    services += hvars.get("portproof_contract") or []  # set without its variables (for example by a test)
    for item in services:
        if item.get("name") == service:
            return item.get("check") or {}
    raise LiveStepError("service %s is not in the contract of %s, so its HTTP secrets cannot be found" % (service, host))


def probe_targets(entries: t.Sequence[Json], hostvars: t.Mapping[str, t.Any]) -> t.List[Json]:
    """port_probe targets of plan ENTRIES, with the HTTP secrets (headers, basic auth) that the plan leaves out."""
    targets = []
    for entry in entries:
        target = dict(entry["target"])
        if entry.get("secret"):
            target["http"] = dict(target.get("http") or {}, **secret_options(_service_check(hostvars, entry["host"], entry["service"])))
        targets.append(target)
    return targets


def resolve_names(entries: t.Sequence[Json]) -> t.Optional[Json]:
    """port_probe's resolve option for a source's names ENTRIES (each name once, the plan's timeout), None without any."""
    names = list(dict.fromkeys(str(entry["name"]) for entry in entries))
    if not names:
        return None
    return {"names": names, "timeout": max(float(entry.get("timeout") or DEFAULT_TIMEOUT) for entry in entries)}


def load_caps(max_requests: t.Any, max_concurrency: t.Any, deadline: t.Any) -> Json:
    """The load caps of port_probe from the role variables (portproof_load_*), checked."""
    caps: Json = {}
    for name, value, kind in (("max_requests", max_requests, int), ("max_concurrency", max_concurrency, int), ("deadline", deadline, float)):
        try:
            caps[name] = kind(value)
        except (TypeError, ValueError):
            raise LiveStepError("portproof_load_%s must be a number, got %r" % (name, value))
    return caps


def _registered(value: t.Any) -> t.Optional[Json]:
    return value if isinstance(value, dict) else None


def own_runs(registered: t.Any) -> t.Tuple[t.Optional[Json], t.List[t.Optional[Json]]]:
    """(probe run, load runs) of a live_probe result as registered: a host that was unreachable gives that
    result for both (each load entry then reads why)."""
    registered = _registered(registered)
    if registered is None or registered.get("skipped"):
        return None, []
    if registered.get("unreachable") or registered.get("failed"):
        return registered, [registered]
    return _registered(registered.get("probe")), list(registered.get("load") or [])


def delegated_runs(plan: Json, registered: t.Any) -> t.Tuple[t.List[Json], t.List[t.Optional[Json]]]:
    """What ``play_results`` takes from the registered loop of the delegated live_probe task: the probe runs
    (each with its item's source) and the load runs in the order of the plan's ``delegated_load``."""
    loop = (_registered(registered) or {}).get("results") or []
    probes, loads = [], {}
    for item in loop:
        source = (item.get("item") or {}).get("source")
        probe, load = own_runs(item)
        if probe is not None:
            probes.append(dict(probe, item={"source": source}))
        loads[source] = load
    ordered: t.List[t.Optional[Json]] = []
    taken: t.Dict[str, int] = {}
    for entry in plan.get("delegated_load") or []:
        runs = loads.get(entry["source"]) or []
        index = taken.get(entry["source"], 0)
        taken[entry["source"]] = index + 1
        ordered.append(runs[0] if len(runs) == 1 and runs[0] is not None and runs[0].get("unreachable")
                       else (runs[index] if index < len(runs) else None))
    return probes, ordered


def host_results(plan: Json, kinds: t.Sequence[str], host: str, probe: t.Optional[Json], load: t.Sequence[t.Optional[Json]],
                 first: bool, play_hosts: t.Sequence[str], delegated: t.Sequence[Json],
                 delegated_load: t.Sequence[t.Optional[Json]]) -> t.List[Result]:
    """The results of KINDS that HOST records: its own probes and load runs, and on the play's first host
    (FIRST) those of delegated, lost and departed sources and the plan's own results."""
    kinds = check_kinds(kinds)
    results: t.List[Result] = []
    own = plan["sources"].get(host)
    if own is not None and own["run"] == "self":
        results.extend(interpret(own["probes"], probe, kinds))
        if "dns" in kinds:
            results.extend(dns_results(list(own.get("names") or []), probe, plan.get("owners") or {}))
        if "load" in kinds:
            runs = list(load)
            if len(runs) == 1 and runs[0] is not None and runs[0].get("unreachable"):
                runs = runs * len(own["load"])
            results.extend(load_results(own["load"], runs))
    if first:
        found = play_results(plan, kinds, play_hosts, delegated, delegated_load)
        if plan.get("sliced"):
            # an unsliced run records these on the play's first host: the merge moves them there
            found = [t.cast(Result, dict(item, **{PLAY_MARK: True})) for item in found]
        results.extend(found)
    return results


def record(plan: Json, kinds: t.Sequence[str], key: str, fresh: bool, play_hosts: t.Sequence[str],
           registered: t.Mapping[str, t.Any], delegated: t.Any, previous: t.Mapping[str, t.Mapping[str, t.Any]],
           state: t.Optional[Json]) -> Json:
    """What each host of PLAY_HOSTS records, and the state a later step of the play reads.

    REGISTERED: each host's live_probe result of this step; DELEGATED: the registered loop of the delegated
    live_probe task; PREVIOUS: each host's variables of RECORDED_VARIABLES as they are; STATE: what the last
    step returned as ``state`` ({key, recorded, kept}), its ``kept`` the probe runs of the step that probed
    ({hosts: {host: run}, delegated: [runs]}), read when this step does not probe.
    Returns {hosts: {host: {variable: value}}, state}."""
    kinds = check_kinds(kinds)
    state = state if isinstance(state, dict) and state.get("key") == key else {}
    probes_now, loads_now = delegated_runs(plan, delegated)
    kept: Json = {"hosts": {}, "delegated": probes_now} if fresh else dict(state.get("kept") or {})
    delegated_probes = kept.get("delegated") or []
    records: Json = {}
    for index, host in enumerate(play_hosts):
        probe, load = own_runs(registered.get(host))
        if fresh:
            kept["hosts"][host] = probe
        else:
            probe = (kept.get("hosts") or {}).get(host)
        before = previous.get(host) or {}
        new = host_results(plan, kinds, host, probe, load, index == 0, play_hosts, delegated_probes, loads_now)
        lost = before.get("portproof_lost")
        if fresh and probe is not None and probe.get("unreachable"):
            lost = probe.get("msg") or "unreachable"  # a source that went down since it was gathered
        records[host] = {"portproof_results": list(before.get("portproof_results") or []) + new, "portproof_live_last": new,
                         "portproof_lost": lost}
    recorded = list(kinds) if fresh else list(state.get("recorded") or []) + list(kinds)
    return {"hosts": records, "state": {"key": key, "recorded": recorded, "kept": kept}}


__all__ = ["CONTROLLER", "LiveStepError", "check_kinds", "check_sample", "contracts", "delegated_runs", "delegated_work",
           "host_results", "load_caps", "make_plan", "must_probe", "own_runs", "probe_targets", "probing_hosts", "record", "resolve_names",
           "source_part", "step_key", "summary"]
