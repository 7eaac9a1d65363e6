# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sliced runs (plugin_utils/_slices.py, the sliced plan of _probe_plan.py, the cache wait of action/live_plan.py): the
age and run of cached facts, the exact messages of stale facts and of a missing or duplicated slice, the merge, and
that the plans of the slices together are the plan of one unsliced run (over the plan fixture captured in the lab of
molecule/live, fixtures/live)."""

from __future__ import annotations

import datetime
import json
import os

import pytest

from ansible_collections.portproof.validate.plugins.action.live_plan import cached_facts
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._probe_plan import build_plan
from ansible_collections.portproof.validate.plugins.plugin_utils._slices import (
    PLAY_MARK, SliceError, cached_facts_state, check_name, check_seconds, lost_marker, merge_slices, slice_document,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "live")
NOW = datetime.datetime(2026, 12, 6, 19, 0, 0, tzinfo=datetime.timezone.utc)


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".json")) as handle:
        return json.load(handle)


INPUTS = fixture("inputs")
GROUPS = INPUTS["groups"]
PLAY = INPUTS["play_hosts"]


def facts(run_id="r1", gathered_at="2026-12-06T18:59:00Z"):
    found = {"listeners": []}
    if run_id is not None:
        found["run_id"] = run_id
    if gathered_at is not None:
        found["gathered_at"] = gathered_at
    return found


@pytest.mark.parametrize("cached, state, why", [
    (facts(), "ok", ""),
    (facts(gathered_at="2026-12-06T18:00:01Z"), "ok", ""),
    (None, "wait", "db1: no port facts in the fact cache"),
    ({}, "wait", "db1: no port facts in the fact cache"),
    (facts(run_id="r0"), "wait", "db1: the port facts in the fact cache are of run r0, not of this run (r1)"),
    (facts(run_id=None), "wait", "db1: the port facts in the fact cache are of a run with no portproof_run_id, not of this run (r1)"),
    (facts(gathered_at="2026-12-06T17:59:59Z"), "stale",
     "db1: its port facts were gathered at 2026-12-06T17:59:59Z, 3601 s ago, more than portproof_facts_max_age (3600 s)"),
    (facts(gathered_at=None), "stale", "db1: the port facts in the fact cache carry no gather time (gathered_at None)"),
    (facts(gathered_at="yesterday"), "stale", "db1: the port facts in the fact cache carry no gather time (gathered_at 'yesterday')"),
])
def test_the_state_of_cached_facts(cached, state, why):
    assert cached_facts_state("db1", cached, "r1", NOW, 3600) == (state, why)


def test_no_age_limit_takes_old_facts_of_the_run():
    assert cached_facts_state("db1", facts(gathered_at="2020-01-01T00:00:00Z"), "r1", NOW, 0) == ("ok", "")


class Clock(object):
    """A clock the wait advances by sleeping, and a cache whose entries appear at given times."""

    def __init__(self, appear):
        self.now = 0.0
        self.appear = appear  # {host: (time, facts)}
        self.reads = []

    def read(self, host):
        self.reads.append((self.now, host))
        at, found = self.appear.get(host, (None, None))
        return found if at is not None and self.now >= at else None

    def sleep(self, seconds):
        self.now += seconds


def test_a_slice_waits_for_the_facts_of_the_other_slices():
    fresh = facts(gathered_at=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    clock = Clock({"db1": (0.0, fresh), "db2": (3.0, fresh)})
    rounds = []
    found = cached_facts("r1", ["db1", "db2"], clock.read, 3600, 10, clock=lambda: clock.now, sleep=clock.sleep,
                         refresh=lambda: rounds.append(clock.now))
    assert found == {"db1": fresh, "db2": fresh}
    # the cache is read anew in each round (a cache plugin keeps what it read: db2 of another run, say)
    assert rounds == [0.0, 1.0, 2.0, 3.0]
    # db1 read once (kept), db2 until it appeared
    assert [host for _at, host in clock.reads].count("db1") == 1 and clock.now == 3.0


def test_a_slice_whose_other_slices_never_gather_fails_after_its_wait():
    clock = Clock({"db1": (0.0, facts(run_id="r0"))})
    with pytest.raises(SliceError) as caught:
        cached_facts("r1", ["db1", "db2"], clock.read, 3600, 5, clock=lambda: clock.now, sleep=clock.sleep)
    assert str(caught.value) == (
        "sliced run r1: after waiting 5 s (portproof_slice_wait), the fact cache still has no port facts of this run for 2 host(s): "
        "db1: the port facts in the fact cache are of run r0, not of this run (r1); db2: no port facts in the fact cache; is the slice "
        "of each running with the same portproof_run_id and fact cache (fact_caching, fact_caching_connection)?")
    assert clock.now == 5.0


def test_stale_facts_fail_at_once_and_are_never_used():
    clock = Clock({"db1": (0.0, facts(gathered_at="2026-01-01T00:00:00Z"))})
    with pytest.raises(SliceError) as caught:
        cached_facts("r1", ["db1"], clock.read, 60, 300, clock=lambda: clock.now, sleep=clock.sleep)
    message = str(caught.value)
    assert message.startswith("sliced run r1: refusing stale port facts from the fact cache: db1: its port facts were gathered at "
                              "2026-01-01T00:00:00Z, ")
    assert message.endswith(" s ago, more than portproof_facts_max_age (60 s); gather them again (run their slice again, with the same "
                            "portproof_run_id) or raise portproof_facts_max_age")
    assert clock.now == 0.0


@pytest.mark.parametrize("value", ["", "../x", ".hidden", "a b", "x" * 129, None])
def test_a_run_id_must_be_a_plain_name(value):
    with pytest.raises(SliceError, match=r"^portproof_run_id must be 1 to 128 letters, digits"):
        check_name("portproof_run_id", value)


def test_seconds_are_checked():
    assert check_seconds("portproof_facts_max_age", "30") == 30.0
    with pytest.raises(SliceError, match=r"^portproof_slice_wait must be a number of seconds, got 'soon'$"):
        check_seconds("portproof_slice_wait", "soon")
    with pytest.raises(SliceError, match=r"^portproof_facts_max_age must be a number of seconds >= 0, got -1$"):
        check_seconds("portproof_facts_max_age", -1)


def result(host, check, source, play=False):
    item = {"host": host, "service": "svc", "check": check, "status": "pass", "source": source, "message": ""}
    if play:
        item[PLAY_MARK] = True
    return item


def document(name, hosts, results, run_id="r1", live=None):
    hostvars = dict((host, {"portproof_results": results.get(host, []), "ansible_host": "192.0.2.%d" % (index + 1),
                            "ansible_facts": {"portproof": {"listeners": []}}}) for index, host in enumerate(hosts))
    return name, slice_document(run_id, name.split(".")[0], hostvars, hosts, hosts if live is None else live, generated="2026-12-06T19:00:00Z",
                                known=INVENTORY)


INVENTORY = ["a1", "a2", "b1", "b2"]


def test_the_merge_gives_every_host_its_variables_and_moves_the_play_results_to_the_first_host():
    first = document("1.json", ["a1", "b1"], {"a1": [result("b2", "reach", "a1")], "b1": [result("a2", "reach", "controller", play=True)]})
    second = document("2.json", ["a2", "b2"], {"a2": [result("a2", "listen", None)], "b2": [result("b2", "reach", "controller", play=True)]},
                      live=["b2"])
    merged, live = merge_slices("r1", [first, second], INVENTORY)
    assert live == ["a1", "b1", "b2"]  # a2 left its slice's play (unreachable)
    assert merged["a1"]["portproof_results"] == [result("b2", "reach", "a1"), result("a2", "reach", "controller"),
                                                 result("b2", "reach", "controller")]
    assert merged["b1"]["portproof_results"] == [] and merged["b2"]["portproof_results"] == []
    assert merged["a2"]["portproof_results"] == [result("a2", "listen", None)]
    assert merged["b2"]["ansible_host"] == "192.0.2.2" and merged["b2"]["ansible_facts"] == {"portproof": {"listeners": []}}


def test_a_missing_slice_fails_the_merge_naming_the_hosts():
    with pytest.raises(SliceError) as caught:
        merge_slices("r1", [document("1.json", ["a1", "b1"], {})], INVENTORY)
    assert str(caught.value) == (
        "merge of run r1: missing slice: 2 host(s) of the inventory were checked by no slice: a2, b2 (slices found: 1.json); run the "
        "missing slice with portproof_run_id r1, or check its job's log for why it wrote no results")


def test_a_duplicated_slice_fails_the_merge_naming_the_hosts_and_slices():
    slices = [document("1.json", ["a1", "b1"], {}), document("2.json", ["a2", "b2"], {}), document("2-retry.json", ["a2", "b2"], {})]
    with pytest.raises(SliceError) as caught:
        merge_slices("r1", slices, INVENTORY)
    assert str(caught.value) == (
        "merge of run r1: duplicated slice: 2 host(s) were checked by more than one slice: a2 (in 2.json, 2-retry.json); b2 (in 2.json, "
        "2-retry.json); each host must be in exactly one slice (remove the extra slice's file or run the run again with a new "
        "portproof_run_id)")


def test_no_slice_other_runs_and_hosts_outside_the_inventory_fail_the_merge():
    with pytest.raises(SliceError, match=r"^merge of run r1: no slice wrote its results \(no <slice>.json for this run id\)"):
        merge_slices("r1", [], INVENTORY)
    with pytest.raises(SliceError, match=r"^merge of run r1: 1.json holds the results of run 'r0', not of this run$"):
        merge_slices("r1", [document("1.json", INVENTORY, {}, run_id="r0")], INVENTORY)
    with pytest.raises(SliceError, match=r"^merge of run r1: slice\(s\) 1.json checked host\(s\) outside the inventory of the merge "
                                         r"\(portproof_hosts\): c9$"):
        merge_slices("r1", [document("1.json", INVENTORY + ["c9"], {})], INVENTORY)
    with pytest.raises(SliceError, match=r"^merge of run r1: x.json is not the partial results of a slice"):
        merge_slices("r1", [("x.json", {"hosts": INVENTORY})], INVENTORY)


def hostvars():
    hosts = set(GROUPS["all"])
    found = {}
    for host, address in INPUTS["hostvars"].items():
        found[host] = {"ansible_host": address}
        if host in INPUTS["facts"]:
            found[host]["ansible_facts"] = {"portproof": INPUTS["facts"][host]}
        if host in INPUTS["contracts"]:
            found[host]["portproof_contract"] = load_contract(host, [("portproof_services", INPUTS["contracts"][host])], set(GROUPS), hosts)
    return found


def entries(made):
    """Every probe and load entry of a plan, as (source, how it runs, entry), and its own results."""
    probes = sorted(json.dumps([name, source["run"], entry], sort_keys=True) for name, source in made["sources"].items()
                    for entry in source["probes"] + source["load"])
    return probes, sorted(json.dumps(item, sort_keys=True) for item in made["errors"])


@pytest.mark.parametrize("slices", [[["app1", "tgt1"], ["web1", "ssh1"]], [["app1"], ["web1"], ["tgt1"], ["ssh1"]], [PLAY]])
def test_the_plans_of_the_slices_together_are_the_plan_of_one_run(slices):
    variables = hostvars()
    contracts = [(host, variables[host].get("portproof_contract") or []) for host in PLAY]
    whole = build_plan(variables, GROUPS, PLAY, PLAY, contracts, timeout=INPUTS["timeout"])
    probes, errors = [], []
    for hosts in slices:
        # each slice's hostvars hold the facts of its own hosts only; the others' come from the cache
        own = dict((host, dict(value, ansible_facts={}) if host not in hosts else value) for host, value in variables.items())
        cached = dict((host, INPUTS["facts"][host]) for host in PLAY if host not in hosts and host in INPUTS["facts"])
        made = build_plan(own, GROUPS, hosts, hosts, contracts, timeout=INPUTS["timeout"], slice_of=PLAY, cached=cached)
        assert made["sliced"] is True
        assert all(source["run"] in ("self", "delegate") for source in made["sources"].values())
        found = entries(made)
        probes.extend(found[0])
        errors.extend(found[1])
    assert sorted(probes) == entries(whole)[0]
    assert sorted(errors) == entries(whole)[1]


def test_a_slice_that_did_not_know_every_host_of_the_run_fails_the_merge():
    """AWX job slicing gives each slice an inventory of its own hosts only: such a slice probed nothing of the others."""
    name, pared = document("1.json", ["a1", "b1"], {})
    pared["known"] = ["a1", "b1"]
    with pytest.raises(SliceError) as caught:
        merge_slices("r1", [(name, pared), document("2.json", ["a2", "b2"], {})], INVENTORY)
    assert str(caught.value) == (
        "merge of run r1: slice 1.json did not know 2 host(s) of the run (a2, b2), so it neither probed them nor probed from its hosts "
        "to them: its inventory was pared down to its own hosts (AWX or Automation Controller job slicing does that) or its "
        "portproof_hosts differs; run each slice with the whole inventory and its own --limit (docs/execution-environment.md)")


def test_a_host_its_slice_could_not_gather_is_not_waited_for():
    """Its slice marks it in the cache (lost_marker): the other slices plan it as a target whose facts were not gathered."""
    fresh = facts(gathered_at=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    clock = Clock({"db1": (0.0, fresh), "db2": (0.0, lost_marker("r1"))})
    assert cached_facts("r1", ["db1", "db2"], clock.read, 3600, 300, clock=lambda: clock.now, sleep=clock.sleep) == {"db1": fresh}
    assert clock.now == 0.0
    assert cached_facts_state("db2", lost_marker("r1"), "r1", NOW, 3600) == (
        "lost", "db2: its slice could not gather its port facts (unreachable, or failed before)")
    # a mark of another run is waited past like any other run's facts
    assert cached_facts_state("db2", lost_marker("r0"), "r1", NOW, 3600)[0] == "wait"
    # nor does the slice's own file keep the mark as facts
    kept = slice_document("r1", "1", {"db2": {"ansible_facts": {"portproof": lost_marker("r1")}}}, ["db2"], [])
    assert kept["vars"]["db2"] == {}
