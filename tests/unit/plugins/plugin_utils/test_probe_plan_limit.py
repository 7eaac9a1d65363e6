# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The probe plan under --limit (fixtures/live: the lab of molecule/live), and the address index of the fleet."""

from __future__ import annotations

from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import host_addresses
from ansible_collections.portproof.validate.plugins.plugin_utils._live_checks import play_results
from ansible_collections.portproof.validate.plugins.plugin_utils._probe_plan import build_plan
# the same inputs (fixtures/live) and hostvars as the live step's tests
from ansible_collections.portproof.validate.tests.unit.plugins.plugin_utils.test_live_step import GROUPS, hostvars


def limited_plan():
    """ansible-playbook post_deploy --limit tgt1: app1, web1 and gone1 are outside the limit, the controller is not a host."""
    variables = hostvars()
    return build_plan(variables, GROUPS, ["tgt1"], ["tgt1"], [("tgt1", variables["tgt1"]["portproof_contract"])], timeout=2,
                      limit_hosts=["tgt1"], limit="tgt1")


def test_sources_outside_the_limit_are_skipped_not_delegated():
    plan = limited_plan()
    runs = dict((name, (source["run"], source["delegate_to"], source.get("reason"))) for name, source in plan["sources"].items())
    assert runs == {
        "app1": ("skip", None, "app1 is outside the --limit of this run (tgt1), so it does not probe"),
        "gone1": ("skip", None, "gone1 is outside the --limit of this run (tgt1), so it does not probe"),
        "web1": ("skip", None, "web1 is outside the --limit of this run (tgt1), so it does not probe"),
        "controller": ("delegate", "localhost", None),
    }
    assert plan["delegated"] == [{"source": "controller", "delegate_to": "localhost"}]
    # api can still be put under load from the controller; slow has only app, which is outside the limit
    assert [(e["source"], e["service"]) for e in plan["delegated_load"]] == [("controller", "api")]
    assert [(r["host"], r["service"], r["check"], r["status"], r["source"], r["message"]) for r in plan["errors"]] == [
        ("tgt1", "slow", "load", "skip", None,
         "slow: not put under load: every allowed source (app1) is outside the --limit of this run (tgt1)")]


def test_the_first_host_records_skip_results_for_them():
    plan = limited_plan()
    results = play_results(plan, ["reach", "isolation", "response", "tls", "load"], ["tgt1"])
    skipped = [r for r in results if r["source"] in ("app1", "web1", "gone1")]
    assert {r["status"] for r in skipped} == {"skip"}
    assert len(skipped) == sum(1 + len(e.get("checks") or []) for name in ("app1", "web1", "gone1") for e in plan["sources"][name]["probes"])
    first = [r for r in skipped if r["service"] == "postgres"]
    assert sorted((r["check"], r["source"], r["message"]) for r in first) == [
        ("isolation", "web1", "postgres: not probed from web1 at 10.231.105.14:5432/tcp: web1 is outside the --limit of this run (tgt1), "
                              "so it does not probe"),
        ("reach", "app1", "postgres: not probed from app1 at 10.231.105.14:5432/tcp: app1 is outside the --limit of this run (tgt1), "
                          "so it does not probe"),
        ("reach", "gone1", "postgres: not probed from gone1 at 10.231.105.14:5432/tcp: gone1 is outside the --limit of this run (tgt1), "
                           "so it does not probe"),
    ]
    assert not [r for r in results if r["status"] == "error" and r["source"] in ("app1", "web1", "gone1")]


def test_without_a_limit_the_same_sources_are_delegated():
    variables = hostvars()
    plan = build_plan(variables, GROUPS, ["tgt1"], ["tgt1"], [("tgt1", variables["tgt1"]["portproof_contract"])], timeout=2)
    assert dict((name, source["run"]) for name, source in plan["sources"].items()) == {
        "app1": "delegate", "gone1": "delegate", "web1": "delegate", "controller": "delegate"}


def test_host_addresses_keeps_the_address_variables_only():
    variables = {
        "db1": {"ansible_host": "10.0.0.5", "portproof_address": "10.1.0.5", "ansible_facts": {"portproof": {}}, "other": 1},
        "app1": {"ansible_host": "app1.example", "portproof_controller_address": "192.0.2.1"},
        "bare": {},
    }
    assert host_addresses(variables, ["db1", "app1", "bare", "absent"]) == {
        "db1": {"ansible_host": "10.0.0.5", "portproof_address": "10.1.0.5"},
        "app1": {"ansible_host": "app1.example", "portproof_controller_address": "192.0.2.1"},
        "bare": {},
        "absent": {},
    }
