# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Sliced runs: the port facts of other slices from the fact cache, the partial results of a slice, and their merge.

A sliced run (``portproof_run_id`` set) is several ``--limit`` runs of one inventory, each a slice: it gathers its
own hosts (the facts go to Ansible's fact cache with ``gathered_at`` and ``run_id``), runs the static checks of its
hosts, probes from its hosts to every target (the facts of targets in other slices read from the cache, waiting a
bounded time for their slice to gather them) and writes its partial results to
``portproof_results_dir/<run_id>/<slice>.json`` (``slice_document``). The merge (``merge_slices``) reads the slices
of one run id, checks that every host of the inventory was covered exactly once, and gives what the report's
``collect`` reads: each host's variables, in the order of the inventory.

Which slice records what, so that the merge equals one unsliced run: a probe is recorded by the slice of its source
(the controller's probes and the plan's own results by the slice of the target), and what an unsliced run records
on the play's first host (``PLAY_MARK``) is moved by the merge to the first host of the inventory.
"""

from __future__ import annotations

import datetime
import json
import re

from typing import Any, Dict, Iterable, List, Optional, Protocol, Sequence, Tuple

Json = Dict[str, Any]

SLICE_VERSION = 1
# The results an unsliced run records on the play's first host carry this key in a slice; the merge removes it.
PLAY_MARK = "_portproof_play"
# What a slice keeps of each of its hosts: what the report reads (collect, and render_facts for facts/<host>.json).
HOST_VARIABLES = ("portproof_results", "portproof_lost", "portproof_address", "ansible_host", "portproof_contract")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# A run id and a slice name become a directory and a file name: nothing else than these.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class HostVarsLookup(Protocol):
    """What slice_document reads of hostvars (Ansible's, or the report action's lookup that reads each host once)."""

    def __contains__(self, host: object) -> bool:
        ...

    def __getitem__(self, host: str) -> Any:
        ...


class SliceError(ValueError):
    """A sliced run that cannot go on as given: the message says what is wrong and where."""


def utc_now_text(now: Optional[datetime.datetime] = None) -> str:
    """The time NOW (default: now) as the facts carry it: UTC, 'YYYY-MM-DDTHH:MM:SSZ'."""
    return (now or datetime.datetime.now(datetime.timezone.utc)).strftime(TIME_FORMAT)


def parse_time(text: object) -> Optional[datetime.datetime]:
    """A gathered_at text as an aware UTC datetime; None when it is not one."""
    try:
        return datetime.datetime.strptime(str(text), TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def check_name(what: str, value: object) -> str:
    """VALUE as a run id or slice name (letters, digits, '_', '.', '-'; 128 at most); SliceError naming WHAT."""
    text = "" if value is None else str(value)
    if not _NAME.match(text):
        raise SliceError("%s must be 1 to 128 letters, digits, '_', '.' or '-' (not starting with '.', '_' or '-'), got %r" % (what, value))
    return text


def check_seconds(what: str, value: object, allow_zero: bool = True) -> float:
    """VALUE as a number of seconds >= 0 (> 0 unless ALLOW_ZERO); SliceError naming WHAT."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SliceError("%s must be a number of seconds, got %r" % (what, value))
    if not (0 <= seconds < float("inf")) or (not allow_zero and seconds == 0):
        raise SliceError("%s must be a number of seconds %s 0, got %r" % (what, ">=" if allow_zero else "above", value))
    return seconds


def cached_facts_state(host: str, facts: Any, run_id: str, now: datetime.datetime, max_age: float) -> Tuple[str, str]:
    """(state, why) of the cached port facts FACTS of HOST for the run RUN_ID at NOW:

    - ``ok``: gathered by this run, within MAX_AGE seconds (0: no limit);
    - ``lost``: its slice could not gather them this run (the host was unreachable or failed): the target is then
      one whose facts were not gathered, as in an unsliced run;
    - ``wait``: none yet, or those of another run (its slice has not gathered yet);
    - ``stale``: gathered by this run, but longer ago than MAX_AGE: never used."""
    if not isinstance(facts, dict) or not facts:
        return "wait", "%s: no port facts in the fact cache" % host
    if facts.get("run_id") != run_id:
        return "wait", "%s: the port facts in the fact cache are of %s, not of this run (%s)" % (
            host, "run %s" % facts.get("run_id") if facts.get("run_id") else "a run with no portproof_run_id", run_id)
    if facts.get("lost"):
        return "lost", "%s: %s" % (host, facts["lost"])
    gathered = parse_time(facts.get("gathered_at"))
    if gathered is None:
        return "stale", "%s: the port facts in the fact cache carry no gather time (gathered_at %r)" % (host, facts.get("gathered_at"))
    age = (now - gathered).total_seconds()
    if max_age and age > max_age:
        return "stale", "%s: its port facts were gathered at %s, %d s ago, more than portproof_facts_max_age (%g s)" % (
            host, utc_now_text(gathered), int(age), max_age)
    return "ok", ""


def lost_marker(run_id: str, now: Optional[datetime.datetime] = None) -> Json:
    """What a slice puts in the fact cache as the port facts of its host that left the play before it was gathered, so that
    the other slices do not wait for them."""
    return {"run_id": run_id, "gathered_at": utc_now_text(now),
            "lost": "its slice could not gather its port facts (unreachable, or failed before)"}


def stale_message(run_id: str, stale: Sequence[str]) -> str:
    return ("sliced run %s: refusing stale port facts from the fact cache: %s; gather them again (run their slice again, with the same "
            "portproof_run_id) or raise portproof_facts_max_age" % (run_id, "; ".join(stale)))


def missing_message(run_id: str, waiting: Sequence[str], waited: float) -> str:
    return ("sliced run %s: after waiting %g s (portproof_slice_wait), the fact cache still has no port facts of this run for %d host(s): "
            "%s; is the slice of each running with the same portproof_run_id and fact cache (fact_caching, fact_caching_connection)?"
            % (run_id, waited, len(waiting), "; ".join(waiting)))


def keep_entry(source: Optional[str], target: str, slice_hosts: Iterable[str], all_hosts: Iterable[str]) -> bool:
    """Whether this slice records a plan entry or plan result of SOURCE about TARGET: the slice of the source when it is a
    host of the run, else (the controller, a CIDR, no source) the slice of the target."""
    owner = source if source is not None and source in all_hosts else target
    return owner in slice_hosts


def _plain(value: Any) -> Any:
    """JSON-able plain values (Ansible's tagged and unsafe types as their plain ones)."""
    return json.loads(json.dumps(value, default=str))


def slice_document(run_id: str, slice_name: str, hostvars: HostVarsLookup, hosts_all: Sequence[str], hosts_live: Sequence[str],
                   generated: Optional[str] = None, known: Optional[Sequence[str]] = None) -> Json:
    """The partial results of one slice: {version, run_id, slice, generated, hosts: [names in play order], live: [names],
    known: [every host of the run the slice knew, its targets], vars: {host: {variable: value}}} with, for each host, what
    the report reads (HOST_VARIABLES and its port facts)."""
    variables: Json = {}
    for host in hosts_all:
        hvars = hostvars[host] if host in hostvars else {}
        kept = dict((name, _plain(hvars.get(name))) for name in HOST_VARIABLES if hvars.get(name) is not None)
        facts = (hvars.get("ansible_facts") or {}).get("portproof")
        if facts is not None and not (isinstance(facts, dict) and facts.get("lost")):  # not the mark of a host not gathered
            kept["ansible_facts"] = {"portproof": _plain(facts)}
        variables[host] = kept
    return {"version": SLICE_VERSION, "run_id": run_id, "slice": slice_name, "generated": generated or utc_now_text(),
            "hosts": list(hosts_all), "known": list(hosts_all if known is None else known),
            "live": [host for host in hosts_all if host in set(hosts_live)], "vars": variables}


def _check_document(name: str, document: Any, run_id: str) -> Json:
    if not isinstance(document, dict) or document.get("version") != SLICE_VERSION or not isinstance(document.get("hosts"), list) \
            or not isinstance(document.get("vars"), dict) or not isinstance(document.get("live"), list):
        raise SliceError("merge of run %s: %s is not the partial results of a slice (version %d with hosts, live and vars)"
                         % (run_id, name, SLICE_VERSION))
    if document.get("run_id") != run_id:
        raise SliceError("merge of run %s: %s holds the results of run %r, not of this run" % (run_id, name, document.get("run_id")))
    return document


def merge_slices(run_id: str, documents: Sequence[Tuple[str, Any]], inventory_hosts: Sequence[str]) -> Tuple[Dict[str, Json], List[str]]:
    """The merged variables of every host ({host: variables}, as collect reads them) and the hosts that stayed in their play
    (live), from DOCUMENTS ([(file name, document)]) of the run RUN_ID; SliceError when a host of INVENTORY_HOSTS is in no
    slice or in more than one, when a slice holds a host outside them, or when there is no slice at all.

    The results each slice marked with PLAY_MARK (recorded on its first host, where an unsliced run records them on the
    play's first host) are moved to the first host of INVENTORY_HOSTS, after its own."""
    if not documents:
        raise SliceError("merge of run %s: no slice wrote its results (no <slice>.json for this run id); did the slices run with "
                         "portproof_run_id %s and the same portproof_results_dir?" % (run_id, run_id))
    owners: Dict[str, List[str]] = {}
    checked = [(name, _check_document(name, document, run_id)) for name, document in documents]
    for name, document in checked:
        for host in document["hosts"]:
            owners.setdefault(str(host), []).append(name)
    wanted = [str(host) for host in inventory_hosts]
    twice = ["%s (in %s)" % (host, ", ".join(owners[host])) for host in wanted if len(owners.get(host, [])) > 1]
    if twice:
        raise SliceError("merge of run %s: duplicated slice: %d host(s) were checked by more than one slice: %s; each host must be in "
                         "exactly one slice (remove the extra slice's file or run the run again with a new portproof_run_id)"
                         % (run_id, len(twice), "; ".join(twice)))
    missing = [host for host in wanted if host not in owners]
    if missing:
        raise SliceError("merge of run %s: missing slice: %d host(s) of the inventory were checked by no slice: %s (slices found: %s); "
                         "run the missing slice with portproof_run_id %s, or check its job's log for why it wrote no results"
                         % (run_id, len(missing), ", ".join(missing), ", ".join(name for name, _document in checked), run_id))
    outside = sorted(set(owners) - set(wanted))
    if outside:
        raise SliceError("merge of run %s: slice(s) %s checked host(s) outside the inventory of the merge (portproof_hosts): %s"
                         % (run_id, ", ".join(sorted(set(name for host in outside for name in owners[host]))), ", ".join(outside)))
    for name, document in checked:
        unknown = [host for host in wanted if host not in set(str(known) for known in document.get("known") or [])]
        if unknown:
            raise SliceError("merge of run %s: slice %s did not know %d host(s) of the run (%s), so it neither probed them nor probed "
                             "from its hosts to them: its inventory was pared down to its own hosts (AWX or Automation Controller "
                             "job slicing does that) or its portproof_hosts differs; run each slice with the whole inventory and its "
                             "own --limit (docs/execution-environment.md)" % (run_id, name, len(unknown), ", ".join(unknown)))
    merged: Dict[str, Json] = {}
    live: List[str] = []
    moved: List[Json] = []
    for _name, document in checked:
        for host in document["hosts"]:
            host = str(host)
            hvars = dict(document["vars"].get(host) or {})
            own = []
            for item in hvars.get("portproof_results") or []:
                if isinstance(item, dict) and item.get(PLAY_MARK):
                    moved.append(dict((key, value) for key, value in item.items() if key != PLAY_MARK))
                else:
                    own.append(item)
            hvars["portproof_results"] = own
            merged[host] = hvars
        live.extend(str(host) for host in document["live"])
    if moved:
        merged[wanted[0]]["portproof_results"] = list(merged[wanted[0]]["portproof_results"]) + moved
    return merged, [host for host in wanted if host in set(live)]
