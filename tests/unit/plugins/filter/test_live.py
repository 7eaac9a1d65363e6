# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The live filters (probe_plan, probe_targets, live_results) over the lab of molecule/live (plugin_utils/fixtures/live)."""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.portproof.validate.plugins.filter.live import live_results_filter, probe_plan_filter, probe_targets_filter
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import load_contract

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "plugin_utils", "fixtures", "live")


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
DELEGATED = {"results": PROBES["delegated"]}
LOAD = {"results": PROBES["load"]}


def hostvars():
    result = {}
    for host, address in INPUTS["hostvars"].items():
        result[host] = {"ansible_host": address}
        if host in INPUTS["facts"]:
            result[host]["ansible_facts"] = {"portproof": INPUTS["facts"][host]}
        if host in INPUTS["contracts"]:
            result[host]["portproof_contract"] = load_contract(host, [("portproof_services", INPUTS["contracts"][host])], set(GROUPS), HOSTS)
    return result


def test_plan_from_the_hosts_variables_is_the_one_the_roles_made():
    assert probe_plan_filter(hostvars(), GROUPS, PLAY, PLAY, timeout=INPUTS["timeout"]) == PLAN


def test_secrets_stay_out_of_the_plan_and_are_added_when_probing():
    made = probe_plan_filter(hostvars(), GROUPS, PLAY, PLAY, timeout=2)
    assert "pplive-secret" not in json.dumps(made)
    api = [e for e in made["sources"]["controller"]["probes"] if e["service"] == "api"]
    assert api[0]["secret"] is True
    (target,) = probe_targets_filter(api, hostvars())
    assert target["http"]["headers"] == {"Authorization": "Bearer pplive-secret-token"}
    assert (target["http"]["user"], target["http"]["password"]) == ("probe", "pplive-secret-password")
    assert "headers" not in api[0]["target"]["http"]  # the plan entry itself is left alone


def test_filter_validates_the_sample():
    for wrong in (-1, "two", True, 1.5):
        with pytest.raises(Exception, match="sample"):
            probe_plan_filter(hostvars(), GROUPS, PLAY, PLAY, sample=wrong)
    assert probe_plan_filter(hostvars(), GROUPS, PLAY, PLAY, sample="1", timeout=2) == PLAN  # app and web have one host each


def test_filter_reports_a_target_whose_contract_is_wrong():
    variables = hostvars()
    del variables["ssh1"]["portproof_contract"]
    variables["ssh1"]["portproof_services"] = [{"name": "sshd", "port": 70000}]
    made = probe_plan_filter(variables, GROUPS, PLAY, PLAY, timeout=2)
    assert [(e["host"], e["check"], e["status"]) for e in made["errors"]] == [("ssh1", "reach", "error")]
    assert "port 70000 is out of range" in made["errors"][0]["message"]


def test_only_the_first_host_records_delegated_results_and_plan_errors():
    plan = copy.deepcopy(PLAN)
    plan["errors"] = [{"host": "tgt1", "service": "x", "check": "reach", "status": "error", "source": "app1", "message": "m",
                       "expected": None, "actual": None}]
    others = live_results_filter(plan, KINDS, source="web1", probe=PROBES["web1"], first=False, play_hosts=PLAY, delegated=DELEGATED)
    assert {r["source"] for r in others} == {"web1"}
    first = live_results_filter(plan, KINDS, source="app1", probe=PROBES["app1"], load=LOAD, first=True, play_hosts=PLAY, delegated=DELEGATED)
    assert {r["source"] for r in first} == {"app1", "controller", "gone1"}
    assert sum(1 for r in first if r["service"] == "x") == 1


def test_unknown_kinds_are_refused():
    with pytest.raises(Exception, match="unknown check kinds latency"):
        live_results_filter(PLAN, ["reach", "latency"], source="app1")


def test_secrets_are_found_in_a_contract_that_was_not_validated_in_the_play():
    variables = hostvars()
    del variables["tgt1"]["portproof_contract"]
    variables["tgt1"]["portproof_services"] = INPUTS["contracts"]["tgt1"]
    api = [e for e in PLAN["sources"]["controller"]["probes"] if e["service"] == "api"]
    (target,) = probe_targets_filter(api, variables)
    assert target["http"]["headers"] == {"Authorization": "Bearer pplive-secret-token"}
    with pytest.raises(Exception, match="probe_targets: service api is not in the contract of tgt1"):
        probe_targets_filter(api, dict(variables, tgt1={}))
