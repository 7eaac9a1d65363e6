# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One live step (plugin_utils/_live_step.py) over the lab of molecule/live: the plan, the probe runs and the results
captured there (fixtures/live, capture.py), and what a step decides, shows and records from them."""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.portproof.validate.plugins.plugin_utils._contract import load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._live_step import (
    LiveStepError, check_kinds, delegated_runs, delegated_work, host_results, load_caps, make_plan, must_probe, probe_targets, record,
    source_part, step_key, summary,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "live")


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".json")) as handle:
        return json.load(handle)


INPUTS = fixture("inputs")
PLAN = fixture("plan")
PROBES = fixture("probes")
GROUPS = INPUTS["groups"]
HOSTS = set(GROUPS["all"])
PLAY = INPUTS["play_hosts"]
KINDS = ["reach", "isolation", "response", "tls", "load"]
KEY = step_key("live", PLAY)
# the delegated live_probe loop as registered: one item per delegated source, its port_probe run under probe
DELEGATED = {"results": [{"item": run["item"], "source": run["item"]["source"], "probe": run, "load": []} for run in PROBES["delegated"]]}


def hostvars():
    result = {}
    for host, address in INPUTS["hostvars"].items():
        result[host] = {"ansible_host": address}
        if host in INPUTS["facts"]:
            result[host]["ansible_facts"] = {"portproof": INPUTS["facts"][host]}
        if host in INPUTS["contracts"]:
            result[host]["portproof_contract"] = load_contract(host, [("portproof_services", INPUTS["contracts"][host])], set(GROUPS), HOSTS)
    return result


def registered(play=PLAY, probes=PROBES):
    """Each host's live_probe result as registered (app1 also ran the load entries of the plan)."""
    return dict((host, {"probe": probes.get(host), "load": probes["load"] if host == "app1" else []}) for host in play)


def test_plan_from_the_hosts_variables_is_the_one_the_roles_made():
    assert make_plan(hostvars(), GROUPS, PLAY, PLAY, timeout=INPUTS["timeout"]) == PLAN


def test_secrets_stay_out_of_the_plan_and_are_added_when_probing():
    made = make_plan(hostvars(), GROUPS, PLAY, PLAY, timeout=2)
    assert "pplive-secret" not in json.dumps(made)
    api = [e for e in made["sources"]["controller"]["probes"] if e["service"] == "api"]
    assert api[0]["secret"] is True
    (target,) = probe_targets(api, hostvars())
    assert target["http"]["headers"] == {"Authorization": "Bearer pplive-secret-token"}
    assert (target["http"]["user"], target["http"]["password"]) == ("probe", "pplive-secret-password")
    assert "headers" not in api[0]["target"]["http"]  # the plan entry itself is left alone


def test_the_sample_and_the_timeout_are_checked():
    for wrong in (-1, "two", True, 1.5):
        with pytest.raises(LiveStepError, match=r"portproof_probe_sample must be a whole number >= 0, got "):
            make_plan(hostvars(), GROUPS, PLAY, PLAY, sample=wrong)
    for wrong in ("soon", 0, -2, float("inf")):
        with pytest.raises(LiveStepError, match=r"portproof_probe_timeout must be a number of seconds"):
            make_plan(hostvars(), GROUPS, PLAY, PLAY, timeout=wrong)
    assert make_plan(hostvars(), GROUPS, PLAY, PLAY, sample="1", timeout="2") == PLAN  # app and web have one host each


def test_a_target_whose_contract_is_wrong_is_an_error_of_the_plan():
    variables = hostvars()
    del variables["ssh1"]["portproof_contract"]
    variables["ssh1"]["portproof_services"] = [{"name": "sshd", "port": 70000}]
    made = make_plan(variables, GROUPS, PLAY, PLAY, timeout=2)
    assert [(e["host"], e["check"], e["status"]) for e in made["errors"]] == [("ssh1", "reach", "error")]
    assert "port 70000 is out of range" in made["errors"][0]["message"]


def test_secrets_are_found_in_a_contract_that_was_not_validated_in_the_play():
    variables = hostvars()
    del variables["tgt1"]["portproof_contract"]
    variables["tgt1"]["portproof_services"] = INPUTS["contracts"]["tgt1"]
    api = [e for e in PLAN["sources"]["controller"]["probes"] if e["service"] == "api"]
    (target,) = probe_targets(api, variables)
    assert target["http"]["headers"] == {"Authorization": "Bearer pplive-secret-token"}
    with pytest.raises(LiveStepError, match="^service api is not in the contract of tgt1, so its HTTP secrets cannot be found$"):
        probe_targets(api, dict(variables, tgt1={}))


def test_the_summary_line_names_each_source_and_how_it_probes():
    assert summary(PLAN) == ("live probes of the play: 20 probes from 4 sources (one port_probe task each): app1 11, "
                             "controller 3 (delegated to localhost), gone1 1 (delegated to gone1), web1 5")
    plan = copy.deepcopy(PLAN)
    plan["sources"]["gone1"]["run"] = "lost"
    plan["sources"]["web1"].update(run="skip", reason="outside")
    plan["errors"] = [{"host": "tgt1"}, {"host": "ssh1"}]
    assert summary(plan) == ("live probes of the play: 20 probes from 4 sources (one port_probe task each): app1 11, "
                             "controller 3 (delegated to localhost), gone1 1 (left the play), web1 5 (outside --limit, not probed); "
                             "2 results decided by the plan itself")
    assert summary({"sources": {}, "errors": []}) == "live probes of the play: 0 probes from 0 sources (one port_probe task each): "


def test_a_step_probes_unless_an_earlier_step_of_the_play_probed_for_other_kinds():
    step = {"key": KEY, "plan": PLAN}
    assert must_probe(["reach"], KEY, None, None) is True  # the first step of the play
    assert must_probe(["response"], KEY, step, {"key": KEY, "recorded": ["reach", "isolation"]}) is False  # reuses that run
    assert must_probe(["reach"], KEY, step, {"key": KEY, "recorded": ["reach", "isolation"]}) is True  # reach again: probe again
    assert must_probe(["response"], KEY, step, {"key": step_key("other", PLAY), "recorded": ["reach"]}) is True  # another play
    assert must_probe(["response"], KEY, {"key": KEY}, {"key": KEY, "recorded": ["reach"]}) is True  # no plan kept


def test_delegated_work_is_the_probes_when_probing_and_the_load_when_checking_load():
    assert delegated_work(PLAN, True, ["reach"]) == [{"source": "controller", "delegate_to": "localhost"},
                                                     {"source": "gone1", "delegate_to": "gone1"}]
    assert delegated_work(PLAN, False, ["response", "tls"]) == []
    plan = copy.deepcopy(PLAN)
    plan["sources"]["controller"]["load"] = [{"source": "controller", "host": "tgt1", "service": "api", "load": {}, "target": {}}]
    assert delegated_work(plan, False, ["load"]) == [{"source": "controller", "delegate_to": "localhost"}]


def test_each_source_gets_its_own_part_only():
    assert source_part(PLAN, "app1", delegated=False) is PLAN["sources"]["app1"]
    assert source_part(PLAN, "tgt1", delegated=False) == {"run": "self", "probes": [], "load": []}  # a target only
    assert source_part(PLAN, "controller", delegated=True) is PLAN["sources"]["controller"]
    assert source_part(PLAN, "controller", delegated=False)["probes"] == []  # the delegated task probes for it
    with pytest.raises(LiveStepError, match="^source app1 is not probed by delegation in the plan \\(it is self\\)$"):
        source_part(PLAN, "app1", delegated=True)


def test_kinds_and_load_caps_are_checked():
    with pytest.raises(LiveStepError, match=r"unknown check kinds latency \(known: reach, isolation, response, tls, protocol, load, dns\)"):
        check_kinds(["reach", "latency"])
    with pytest.raises(LiveStepError, match="must be a list of check kinds"):
        check_kinds("reach")
    assert load_caps("20", 5, "1.5") == {"max_requests": 20, "max_concurrency": 5, "deadline": 1.5}
    with pytest.raises(LiveStepError, match="^portproof_load_max_requests must be a number, got 'many'$"):
        load_caps("many", 5, 1)


def test_only_the_first_host_records_delegated_results_and_plan_errors():
    plan = copy.deepcopy(PLAN)
    plan["errors"] = [{"host": "tgt1", "service": "x", "check": "reach", "status": "error", "source": "app1", "message": "m",
                       "expected": None, "actual": None}]
    probes, loads = delegated_runs(plan, DELEGATED)
    others = host_results(plan, KINDS, "web1", PROBES["web1"], [], False, PLAY, probes, loads)
    assert {r["source"] for r in others} == {"web1"}
    first = host_results(plan, KINDS, "app1", PROBES["app1"], PROBES["load"], True, PLAY, probes, loads)
    assert {r["source"] for r in first} == {"app1", "controller", "gone1"}
    assert sum(1 for r in first if r["service"] == "x") == 1


def test_a_later_step_reuses_the_probe_runs_and_adds_to_what_each_host_recorded():
    first = record(PLAN, ["reach", "isolation"], KEY, True, PLAY, registered(), DELEGATED, {}, None)
    assert first["state"]["recorded"] == ["reach", "isolation"]
    assert first["state"]["kept"]["hosts"]["app1"] is PROBES["app1"]
    previous = dict((host, first["hosts"][host]) for host in PLAY)
    # the second step does not probe: its live_probe tasks return no probe run, only app1's load runs
    second_runs = dict((host, {"probe": None, "load": PROBES["load"] if host == "app1" else []}) for host in PLAY)
    second = record(PLAN, ["response", "tls", "load"], KEY, False, PLAY, second_runs, {"results": []}, previous, first["state"])
    assert second["state"]["recorded"] == ["reach", "isolation", "response", "tls", "load"]
    once = record(PLAN, KINDS, KEY, True, PLAY, registered(), DELEGATED, {}, None)
    for host in PLAY:
        assert {r["check"] for r in second["hosts"][host]["portproof_live_last"]} <= {"response", "tls", "load"}
        assert sorted(second["hosts"][host]["portproof_results"], key=json.dumps) == \
            sorted(once["hosts"][host]["portproof_results"], key=json.dumps)
    # results of earlier checks stay first
    assert second["hosts"]["app1"]["portproof_results"][:len(first["hosts"]["app1"]["portproof_results"])] == \
        first["hosts"]["app1"]["portproof_results"]


def test_a_source_that_went_down_while_probing_is_lost_and_its_probes_are_errors():
    runs = registered()
    runs["web1"] = {"unreachable": True, "msg": "Failed to connect to the host via ssh: Connection timed out", "changed": False}
    made = record(PLAN, KINDS, KEY, True, PLAY, runs, DELEGATED, {"tgt1": {"portproof_lost": None, "portproof_results": [{"a": 1}]}}, None)
    assert made["hosts"]["web1"]["portproof_lost"] == "Failed to connect to the host via ssh: Connection timed out"
    assert made["hosts"]["app1"]["portproof_lost"] is None
    web1 = made["hosts"]["web1"]["portproof_live_last"]
    assert len(web1) == 5 and {r["status"] for r in web1} == {"error"}
    assert web1[0]["message"].endswith("could not probe %s:5432/tcp: unreachable: Failed to connect to the host via ssh: Connection timed out"
                                       % INPUTS["hostvars"]["tgt1"])
    assert made["hosts"]["tgt1"]["portproof_results"] == [{"a": 1}]  # a target only: what it had, nothing new


def test_a_delegated_source_that_is_unreachable_gives_errors_for_its_probes_and_load():
    plan = copy.deepcopy(PLAN)
    load = {"source": "gone1", "host": "tgt1", "service": "api", "load": {"requests": 5}, "target": plan["sources"]["gone1"]["probes"][0]["target"],
            "delegate_to": "gone1"}
    plan["sources"]["gone1"]["load"] = [dict(load)]
    plan["delegated_load"] = [load]
    down = {"item": {"source": "gone1", "delegate_to": "gone1"}, "unreachable": True, "msg": "no route"}
    loop = {"results": [DELEGATED["results"][0], down]}
    probes, loads = delegated_runs(plan, loop)
    assert [p["item"]["source"] for p in probes] == ["controller", "gone1"]
    assert loads == [down]
    results = host_results(plan, KINDS, "app1", PROBES["app1"], PROBES["load"], True, PLAY, probes, loads)
    gone1 = [(r["check"], r["status"], r["message"].split(": ", 1)[1]) for r in results if r["source"] == "gone1"]
    assert gone1 == [("reach", "error", "gone1 could not probe %s:5432/tcp: unreachable: no route" % INPUTS["hostvars"]["tgt1"]),
                     ("load", "error", "gone1 could not put %s:5432/tcp under load: unreachable: no route" % INPUTS["hostvars"]["tgt1"])]
