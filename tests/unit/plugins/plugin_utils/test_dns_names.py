# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The contract key ``names`` and the live check ``dns``: the plan (who resolves what, probes by name), the verdict of
each answer port_probe's ``resolved`` can hold, and the controller's path (a delegated source) through play_results.
The port facts' ``addresses`` have the shape port_facts gathered in the lab of molecule/live (fixtures/live/inputs.json);
the resolved items the shape port_probe returns (tests/unit/plugins/module_utils/test_probe_names.py)."""

from __future__ import annotations

from ansible_collections.portproof.validate.plugins.plugin_utils._contract import load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._live_checks import dns, dns_results, play_results
from ansible_collections.portproof.validate.plugins.plugin_utils._live_step import host_results, resolve_names
from ansible_collections.portproof.validate.plugins.plugin_utils._probe_plan import build_plan

GROUPS = {"all": ["app1", "db1", "db2", "web1"], "ungrouped": [], "app": ["app1"], "db": ["db1", "db2"], "web": ["web1"]}
ADDRESSES = {"app1": ("10.231.7.11", "fd70:7070:7::b"), "db1": ("10.231.7.12", "fd70:7070:7::c"),
             "db2": ("10.231.7.13", "fd70:7070:7::d"), "web1": ("10.231.7.14", "fd70:7070:7::e")}
SERVICE = {"name": "db", "port": 8443, "names": ["db.internal", "pg.example.test"], "allow_from": ["app", "controller"],
           "deny_from": ["web"], "check": {"tls": {"ca": "/etc/ssl/lab-ca.pem"}, "http": {"path": "/health"}}}


def facts(host):
    v4, v6 = ADDRESSES[host]
    return {"addresses": [
        {"address": v4, "family": "ipv4", "interface": "eth0", "prefix": 24, "scope": "global"},
        {"address": v6, "family": "ipv6", "interface": "eth0", "prefix": 64, "scope": "global"},
        {"address": "127.0.0.1", "family": "ipv4", "interface": "lo", "prefix": 8, "scope": "host"},
        {"address": "::1", "family": "ipv6", "interface": "lo", "prefix": 128, "scope": "host"}]}


def hostvars(gathered=("app1", "db1", "db2", "web1")):
    made = {}
    for host in GROUPS["all"]:
        made[host] = {"ansible_host": ADDRESSES[host][0]}
        if host in gathered:
            made[host]["ansible_facts"] = {"portproof": facts(host)}
    made["db1"]["portproof_contract"] = load_contract("db1", [("portproof_services", [SERVICE])], set(GROUPS), set(GROUPS["all"]))
    return made


def make(play=("app1", "db1", "db2", "web1")):
    variables = hostvars(gathered=play)
    contracts = [(host, variables[host].get("portproof_contract") or []) for host in play]
    return build_plan(variables, GROUPS, list(play), list(play), contracts, timeout=2)


def entry(source, name):
    return {"source": source, "host": "db1", "service": "db", "kind": "dns", "name": name,
            "addresses": ["10.231.7.12", "fd70:7070:7::c"], "timeout": 2.0}


def test_allowed_sources_resolve_each_name_and_probe_by_the_first():
    plan = make()
    assert plan["sources"]["app1"]["names"] == [entry("app1", "db.internal"), entry("app1", "pg.example.test")]
    assert plan["sources"]["controller"]["names"] == [entry("controller", "db.internal"), entry("controller", "pg.example.test")]
    assert "names" not in plan["sources"]["web1"]  # a denied source does not resolve: resolving is not reaching
    reach = plan["sources"]["app1"]["probes"][0]
    assert (reach["kind"], reach["checks"], reach["target"]) == ("reach", ["response", "tls"], {
        "name": "db@db1", "host": "db.internal", "port": 8443, "proto": "tcp", "timeout": 2.0,
        "http": {"path": "/health", "host_header": "db.internal"}, "tls": {"ca": "/etc/ssl/lab-ca.pem", "hostname": "db.internal"}})
    isolation = plan["sources"]["web1"]["probes"][0]
    assert (isolation["kind"], isolation["target"]["host"]) == ("isolation", "10.231.7.12")  # isolation stays on the address
    assert plan["owners"] == {"10.231.7.11": ["app1"], "fd70:7070:7::b": ["app1"], "10.231.7.12": ["db1"], "fd70:7070:7::c": ["db1"],
                              "10.231.7.13": ["db2"], "fd70:7070:7::d": ["db2"], "10.231.7.14": ["web1"], "fd70:7070:7::e": ["web1"]}
    assert plan["delegated"] == [{"source": "controller", "delegate_to": "localhost"}]
    assert resolve_names(plan["sources"]["app1"]["names"]) == {"names": ["db.internal", "pg.example.test"], "timeout": 2.0}
    assert resolve_names([]) is None


def test_the_names_block_sets_neither_sni_nor_host_when_the_check_names_them():
    service = dict(SERVICE, check={"tls": {"hostname": "legacy.example.test"}, "http": {"host": "www.example.test"}})
    variables = hostvars()
    variables["db1"]["portproof_contract"] = load_contract("db1", [("portproof_services", [service])], set(GROUPS), set(GROUPS["all"]))
    plan = build_plan(variables, GROUPS, ["app1", "db1"], ["app1", "db1"], [("db1", variables["db1"]["portproof_contract"])], timeout=2)
    target = plan["sources"]["app1"]["probes"][0]["target"]
    assert (target["host"], target["tls"]["hostname"], target["http"]["host_header"]) == ("db.internal", "legacy.example.test", "www.example.test")


def test_a_plan_without_names_has_no_owners():
    variables = hostvars()
    without = dict((key, value) for key, value in SERVICE.items() if key != "names")
    variables["db1"]["portproof_contract"] = load_contract("db1", [("portproof_services", [without])], set(GROUPS), set(GROUPS["all"]))
    plan = build_plan(variables, GROUPS, ["app1", "db1"], ["app1", "db1"], [("db1", variables["db1"]["portproof_contract"])], timeout=2)
    assert "owners" not in plan and "names" not in plan["sources"]["app1"]
    assert plan["sources"]["app1"]["probes"][0]["target"]["host"] == "10.231.7.12"


OWNERS = make()["owners"]


def answer(name, addresses=None, error=None, reason=None):
    return {"name": name, "addresses": addresses, "error": error, "reason": reason, "ms": 0.8}


def test_the_answer_inside_the_target_passes():
    assert dns(entry("app1", "db.internal"), answer("db.internal", ["10.231.7.12", "FD70:7070:7:0::c"]), OWNERS) == {
        "host": "db1", "service": "db", "check": "dns", "status": "pass", "source": "app1",
        "message": "db: db.internal resolves to 10.231.7.12 (db1), fd70:7070:7::c (db1) from app1",
        "expected": "10.231.7.12, fd70:7070:7::c", "actual": "10.231.7.12 (db1), fd70:7070:7::c (db1)", "latency_ms": 0.8}


def test_an_answer_of_another_host_fails_naming_it():
    item = dns(entry("app1", "db.internal"), answer("db.internal", ["10.231.7.13"]), OWNERS)
    assert (item["status"], item["message"], item["actual"]) == (
        "fail", "db: db.internal resolves to 10.231.7.13 (db2) from app1, not to db1 (10.231.7.12, fd70:7070:7::c)", "10.231.7.13 (db2)")
    item = dns(entry("app1", "db.internal"), answer("db.internal", ["10.231.7.12", "192.0.2.9"]), OWNERS)
    assert (item["status"], item["message"]) == (
        "fail", "db: db.internal resolves to 10.231.7.12 (db1), 192.0.2.9 from app1, not to db1 (10.231.7.12, fd70:7070:7::c)")


def test_resolver_errors_fail_and_say_which():
    cases = [
        ("nxdomain", "Name or service not known (EAI_NONAME)", "NXDOMAIN", "the name does not exist"),
        ("servfail", "Temporary failure in name resolution (EAI_AGAIN)", "SERVFAIL",
         "the resolver failed or did not answer (SERVFAIL or timeout inside the resolver)"),
        ("no_address", "No address associated with hostname (EAI_NODATA)", "no address", "the name exists but has no address"),
        ("timeout", "no answer within 2.0 s", "timeout", "no answer in time"),
        ("other", "Non-recoverable failure in name resolution (EAI_FAIL)", "error", "it cannot be resolved"),
    ]
    for kind, reason, actual, meaning in cases:
        item = dns(entry("app1", "pg.example.test"), answer("pg.example.test", error=kind, reason=reason), OWNERS)
        assert (item["status"], item["actual"], item["message"]) == (
            "fail", actual, "db: pg.example.test cannot be resolved from app1: %s, %s (%s), so its clients there cannot find db1"
            % (actual, meaning, reason)), kind


def test_missing_answers_and_failed_runs_are_errors():
    entries = [entry("app1", "db.internal")]
    assert [(i["status"], i["message"]) for i in dns_results(entries, {"probes": [], "resolved": []}, OWNERS)] == [
        ("error", "db: port_probe on app1 returned no answer for db.internal")]
    assert [(i["status"], i["message"]) for i in dns_results(entries, {"probes": []}, OWNERS)] == [
        ("error", "db: app1 could not probe db.internal: port_probe returned no resolved names")]
    assert [(i["status"], i["message"]) for i in dns_results(entries, {"unreachable": True, "msg": "ssh: timeout"}, OWNERS)] == [
        ("error", "db: app1 could not probe db.internal: unreachable: ssh: timeout")]
    no_address = dict(entry("app1", "db.internal"), addresses=[])
    assert dns(no_address, answer("db.internal", ["10.231.7.13"]), OWNERS)["message"] == (
        "db: db.internal resolves to 10.231.7.13 (db2) from app1, but no address of db1 is known to compare with "
        "(set portproof_address, or gather its addresses)")


def test_the_controller_resolves_on_the_controller_and_its_results_come_with_the_play():
    """controller is delegated to localhost: its port_probe run (with resolve) comes back in the delegated loop."""
    plan = make()
    run = {"probes": [{"state": "open", "connected": True, "latency_ms": 0.3, "response": [], "total_ms": 0.5}],
           "resolved": [answer("db.internal", ["10.231.7.12"]),
                        answer("pg.example.test", error="nxdomain", reason="Name or service not known (EAI_NONAME)")],
           "item": {"source": "controller"}}
    results = [(i["source"], i["check"], i["status"], i["message"]) for i in play_results(plan, ["dns"], ["app1", "db1", "db2", "web1"], [run])]
    assert results == [
        ("controller", "dns", "pass", "db: db.internal resolves to 10.231.7.12 (db1) from controller"),
        ("controller", "dns", "fail", "db: pg.example.test cannot be resolved from controller: NXDOMAIN, the name does not exist "
                                      "(Name or service not known (EAI_NONAME)), so its clients there cannot find db1")]
    # a source of the play records its own; dns not asked: nothing
    own = {"probes": [{"state": "open", "connected": True}], "resolved": [answer("db.internal", ["10.231.7.13"]),
                                                                          answer("pg.example.test", ["10.231.7.12"])]}
    mine = host_results(plan, ["dns"], "app1", own, [], False, ["app1"], [], [])
    assert [(i["source"], i["status"], i["message"]) for i in mine] == [
        ("app1", "fail", "db: db.internal resolves to 10.231.7.13 (db2) from app1, not to db1 (10.231.7.12, fd70:7070:7::c)"),
        ("app1", "pass", "db: pg.example.test resolves to 10.231.7.12 (db1) from app1")]
    assert host_results(plan, ["reach"], "app1", own, [], False, ["app1"], [], []) == [
        {"host": "db1", "service": "db", "check": "reach", "status": "pass", "source": "app1", "message":
         "db: app1 reached db.internal:8443/tcp (connected in None ms)", "expected": "open", "actual": "open"}]


def test_a_source_that_left_the_play_or_is_outside_the_limit_gets_dns_errors_or_skips():
    plan = make(play=("app1", "db1", "db2", "web1"))
    results = play_results(plan, ["dns"], ["db1", "db2", "web1"], [])  # app1 left the play after the plan
    assert [(i["source"], i["status"], i["message"]) for i in results if i["source"] == "app1"] == [
        ("app1", "error", "db: app1 could not probe db.internal: the source left the play before probing (unreachable or failed)"),
        ("app1", "error", "db: app1 could not probe pg.example.test: the source left the play before probing (unreachable or failed)")]
