# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The live probe plan over the contracts and port facts of the lab of molecule/live (fixtures/live, capture.py)."""

from __future__ import annotations

import copy
import json
import os
import time

import pytest

from ansible_collections.portproof.validate.plugins.plugin_utils._contract import load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._probe_plan import SourceIndex, build_plan, probe_checks

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "live")


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".json")) as handle:
        return json.load(handle)


INPUTS = fixture("inputs")
PLAN = fixture("plan")
GROUPS = INPUTS["groups"]
HOSTS = set(GROUPS["all"])
PLAY = INPUTS["play_hosts"]


def hostvars(facts=None):
    facts = INPUTS["facts"] if facts is None else facts
    result = {}
    for host, address in INPUTS["hostvars"].items():
        result[host] = {"ansible_host": address}
        if host in facts:
            result[host]["ansible_facts"] = {"portproof": facts[host]}
        if host in INPUTS["contracts"]:
            result[host]["portproof_contract"] = load_contract(host, [("portproof_services", INPUTS["contracts"][host])], set(GROUPS), HOSTS)
    return result


def plan(play=PLAY, play_all=PLAY, variables=None, **options):
    variables = variables or hostvars()
    contracts = [(host, (variables.get(host) or {}).get("portproof_contract") or []) for host in play_all]
    options.setdefault("timeout", INPUTS["timeout"])
    return build_plan(variables, GROUPS, play_all, play, contracts, **options)


def table(source_plan):
    return sorted((e["source"], e["host"], e["service"], e["kind"], ",".join(e.get("checks") or [])) for e in source_plan["probes"])


def test_plan_is_the_one_the_roles_made_in_the_lab():
    assert plan() == PLAN


def test_sources_and_how_they_probe():
    made = plan()
    assert {name: (src["run"], src["delegate_to"], len(src["probes"])) for name, src in made["sources"].items()} == {
        "app1": ("self", None, 11), "web1": ("self", None, 5), "controller": ("delegate", "localhost", 3), "gone1": ("delegate", "gone1", 1)}
    assert made["delegated"] == [{"source": "controller", "delegate_to": "localhost"}, {"source": "gone1", "delegate_to": "gone1"}]
    assert made["errors"] == [] and made["delegated_load"] == []


def test_every_probe_of_the_denied_source_is_plain():
    web1 = plan()["sources"]["web1"]
    assert table(web1) == [("web1", "tgt1", s, "isolation", "") for s in ("memcached", "ntp", "postgres", "redis", "syslog")]
    assert [sorted(e["target"]) for e in web1["probes"]] == [["host", "name", "port", "proto", "timeout"]] * 5


def test_allowed_source_carries_the_check_blocks():
    app1 = plan()["sources"]["app1"]
    assert table(app1) == [
        ("app1", "tgt1", "api", "reach", "response"), ("app1", "tgt1", "api_down", "reach", "response"),
        ("app1", "tgt1", "dns", "reach", "response"), ("app1", "tgt1", "hang", "reach", "response"),
        ("app1", "tgt1", "memcached", "reach", ""), ("app1", "tgt1", "postgres", "reach", ""),
        ("app1", "tgt1", "redis", "reach", ""), ("app1", "tgt1", "slow", "reach", "response"),
        ("app1", "tgt1", "syslog", "reach", ""),
        ("app1", "tgt1", "tls", "reach", "response,tls"), ("app1", "tgt1", "tls_ok", "reach", "tls")]
    by_service = {(e["host"], e["service"]): e["target"] for e in app1["probes"]}
    address = INPUTS["hostvars"]["tgt1"]
    assert by_service[("tgt1", "dns")] == {"name": "dns@tgt1", "host": address, "port": 5353, "proto": "udp", "timeout": 2.0,
                                           "send": "PING", "expect": "^PONG", "expect_reply": True}
    assert by_service[("tgt1", "api")]["http"] == {"path": "/health", "status": [200], "json_query": "status == 'ok' && version > `2`"}
    assert by_service[("tgt1", "slow")]["max_ms"] == 150
    assert by_service[("tgt1", "tls_ok")]["tls"]["hostname"] == "tgt1.pplive.test"
    controller = {(e["host"], e["service"]): e for e in plan()["sources"]["controller"]["probes"]}
    assert sorted(controller) == [("ssh1", "sshd"), ("tgt1", "api"), ("tgt1", "sshd")]
    assert controller[("ssh1", "sshd")]["target"]["ssh"] == {"auth_methods": ["publickey"]}
    assert controller[("ssh1", "sshd")]["checks"] == ["response"]
    assert [(e["service"], e["load"], "max_ms" in e["target"]) for e in app1["load"]] == [
        ("api", {"concurrency": 5, "requests": 50, "p95_ms": 1000, "max_errors": 0}, False),
        ("slow", {"concurrency": 5, "requests": 10, "p95_ms": 100}, False)]


@pytest.mark.parametrize("source, service, silence", [
    ("app1", "syslog", ("accept", True, "accepted (no rule stops it")),
    ("web1", "syslog", ("drop", True, "rule ip filter INPUT #3: -A INPUT -s %s/32 -p udp -m udp --dport 514 -j DROP")),
    ("web1", "ntp", ("accept", True, "accepted (no rule stops it")),
])
def test_udp_silence_is_decided_by_the_static_verdict_and_the_listener(source, service, silence):
    (entry,) = [e for e in plan()["sources"][source]["probes"] if e["service"] == service]
    info = entry["silence"]
    assert (info["verdict"], info["listener"], info["firewall"]) == silence[:2] + ("tgt1",)
    assert info["how"].startswith(silence[2].replace("%s", INPUTS["hostvars"]["web1"]))


def test_udp_with_a_request_needs_no_static_verdict():
    (dns,) = [e for e in plan()["sources"]["app1"]["probes"] if e["service"] == "dns"]
    assert "silence" not in dns


def test_target_without_facts_gives_errors_where_facts_are_needed():
    made = plan(play=["app1", "web1", "ssh1"])  # tgt1 left the play: its facts do not count any more
    (syslog,) = [e for e in made["sources"]["app1"]["probes"] if e["service"] == "syslog"]
    assert syslog["silence"] == {"error": "the port facts of tgt1 were not gathered (it is not in the play, or it was unreachable)"}
    assert len(made["sources"]["app1"]["probes"]) == 11  # still probed: the services may well answer


def test_sources_that_left_the_play_are_lost():
    made = plan(play=["app1", "tgt1", "ssh1"])
    assert made["sources"]["web1"]["run"] == "lost"
    assert len(made["sources"]["web1"]["probes"]) == 5


def test_port_auto_without_mapping_or_facts_is_an_error_for_every_source():
    variables = hostvars()
    services = [{"name": "blog", "port": "auto", "publish": {"container": "blog", "container_port": 80}, "allow_from": ["app"],
                 "deny_from": ["web"], "check": {"http": {"path": "/"}}}]
    variables["tgt1"]["portproof_contract"] = load_contract("tgt1", [("portproof_services", services)], set(GROUPS), HOSTS)
    made = plan(variables=variables)
    assert [(e["service"], e["check"], e["status"], e["source"]) for e in made["errors"]] == [
        ("blog", "reach", "error", "app1"), ("blog", "response", "error", "app1"), ("blog", "isolation", "error", "web1")]
    assert made["errors"][0]["message"] == "blog: port auto cannot be resolved: container blog port 80/tcp is not published (see mapping)"
    del variables["tgt1"]["ansible_facts"]
    made = plan(variables=variables)
    assert made["errors"][0]["message"] == ("blog: port auto cannot be resolved: the port facts of tgt1 were not gathered (it is not in "
                                            "the play, or it was unreachable)")


def test_a_source_named_twice_probes_once():
    variables = hostvars()
    services = [{"name": "pg", "port": 5432, "allow_from": ["app", "app1", "app"], "deny_from": ["web", "web1"]}]
    variables["tgt1"]["portproof_contract"] = load_contract("tgt1", [("portproof_services", services)], set(GROUPS), HOSTS)
    made = plan(variables=variables)
    assert [(e["source"], e["kind"]) for src in made["sources"].values() for e in src["probes"] if e["host"] == "tgt1"] == [
        ("app1", "reach"), ("web1", "isolation")]


def test_port_auto_resolves_to_the_published_port():
    variables = hostvars()
    facts = variables["tgt1"]["ansible_facts"]["portproof"]
    facts["mappings"] = [{"container": "blog", "target_port": 80, "proto": "tcp", "host_port": 32771, "host_ip": "0.0.0.0"}]
    services = [{"name": "blog", "port": "auto", "publish": {"container": "blog", "container_port": 80}, "allow_from": ["app"]}]
    variables["tgt1"]["portproof_contract"] = load_contract("tgt1", [("portproof_services", services)], set(GROUPS), HOSTS)
    (entry,) = [e for e in plan(variables=variables)["sources"]["app1"]["probes"] if e["host"] == "tgt1"]
    assert entry["target"]["port"] == 32771


@pytest.mark.parametrize("check, proto, problem, kinds", [
    ({"ssh": {}, "tls": {}}, "tcp", "ssh cannot be combined with http, tls, send or expect in one probe", ["response", "tls"]),
    ({"http": {}, "send": "x"}, "tcp", "http cannot be combined with send or expect (use http.body)", ["response"]),
    ({"tls": {"min_days": 3}}, "udp", "tls needs proto tcp", ["tls"]),
    ({"http": {"basic_auth": "user:pw"}}, "tcp", "http.basic_auth must be a mapping with user and password", ["response"]),
    ({"max_ms": 5}, "tcp", None, ["response"]),
    ({"send": "x"}, "udp", None, ["response"]),
    ({"protocol": "redis", "send": "PING"}, "tcp", "protocol cannot be combined with http, tls, send, expect or ssh in one probe",
     ["response", "protocol"]),
    ({"protocol": "postgres", "max_ms": 50}, "tcp", None, ["response", "protocol"]),
])
def test_check_blocks_port_probe_cannot_run(check, proto, problem, kinds):
    options, planned, found, _secret = probe_checks(check, proto)
    assert (found, planned) == (problem, kinds)
    if problem:
        assert options == {}


def test_a_check_that_cannot_be_probed_is_an_error_and_the_probe_still_connects():
    variables = hostvars()
    services = [{"name": "odd", "port": 8080, "allow_from": ["app"], "check": {"http": {"path": "/"}, "expect": "x"}}]
    variables["tgt1"]["portproof_contract"] = load_contract("tgt1", [("portproof_services", services)], set(GROUPS), HOSTS)
    made = plan(variables=variables)
    assert [(e["check"], e["status"], e["source"]) for e in made["errors"]] == [("response", "error", "app1")]
    (entry,) = [e for e in made["sources"]["app1"]["probes"] if e["host"] == "tgt1"]
    assert (entry["kind"], entry.get("checks"), sorted(entry["target"])) == ("reach", None, ["host", "name", "port", "proto", "timeout"])


def fleet(size):
    return ["node%03d" % number for number in range(size)]


def test_sampling_is_deterministic_per_target_and_leaves_the_target_out():
    groups = {"all": fleet(20), "nodes": fleet(20)}
    index = SourceIndex(groups, sample=3)
    chosen = index.expand({"kind": "group", "name": "nodes"}, "node005")
    assert len(chosen) == 3 and all(info == {"group": "nodes", "chosen": [c for c, _i in chosen], "of": 19} for _c, info in chosen)
    assert "node005" not in [c for c, _i in chosen]
    assert chosen == SourceIndex(groups, sample=3).expand({"kind": "group", "name": "nodes"}, "node005")
    picks = {}
    for target in fleet(20):
        picks[target] = tuple(c for c, _i in index.expand({"kind": "group", "name": "nodes"}, target))
        assert len(picks[target]) == 3 and target not in picks[target]
    assert len(set(picks.values())) > 10  # targets take different sources, so a fleet's sources all take turns
    everyone = SourceIndex(groups, sample=19).expand({"kind": "group", "name": "nodes"}, "node005")
    assert [info for _c, info in everyone] == [None] * 19


def test_sampled_results_say_which_sources_were_chosen():
    names = fleet(6)
    groups = {"all": names + ["db"], "nodes": names}
    variables = {name: {"ansible_host": "10.9.0.%d" % (number + 1)} for number, name in enumerate(names + ["db"])}
    variables["db"]["portproof_contract"] = load_contract("db", [("portproof_services", [{"name": "pg", "port": 5432, "allow_from": ["nodes"]}])],
                                                          set(groups), set(groups["all"]))
    made = build_plan(variables, groups, ["db"], ["db"], [("db", variables["db"]["portproof_contract"])], sample=2)
    probes = [e for src in made["sources"].values() for e in src["probes"]]
    assert len(probes) == 2
    assert {e["source"] for e in probes} == set(probes[0]["sample"]["chosen"])
    assert probes[0]["sample"]["of"] == 6
    assert all(src["run"] == "delegate" for src in made["sources"].values())  # the nodes are not in the play


def test_plan_of_a_large_fleet_is_linear():
    """50 targets x 30 services, each allowed from a group of 50 and denied from another of 50: 150,000 probes."""
    def build(size):
        app, web = ["app%03d" % n for n in range(size)], ["web%03d" % n for n in range(size)]
        targets = ["db%03d" % n for n in range(50)]
        groups = {"all": app + web + targets, "app": app, "web": web, "db": targets}
        services = [{"name": "svc%02d" % n, "port": 20000 + n, "allow_from": ["app"], "deny_from": ["web"]} for n in range(30)]
        contract = load_contract("db000", [("portproof_services", services)], set(groups), set(groups["all"]))
        variables = dict((name, {"ansible_host": name}) for name in groups["all"])
        began = time.monotonic()
        made = build_plan(variables, groups, targets, targets + app + web, [(t, copy.deepcopy(contract)) for t in targets])
        return made, time.monotonic() - began
    small, small_s = build(10)
    large, large_s = build(50)
    assert sum(len(src["probes"]) for src in large["sources"].values()) == 50 * 30 * 100
    assert sum(len(src["probes"]) for src in small["sources"].values()) == 50 * 30 * 20
    assert len(large["sources"]["app007"]["probes"]) == 50 * 30
    assert large_s < small_s * 5 * 2.5  # 5 times the probes, well under 5 squared times the time


def test_a_host_never_probes_itself():
    variables = hostvars()
    services = [{"name": "pg", "port": 5432, "allow_from": ["tgt1", "db", "app"], "deny_from": ["tgt1"]}]
    variables["tgt1"]["portproof_contract"] = load_contract("tgt1", [("portproof_services", services)], set(GROUPS), HOSTS)
    made = plan(variables=variables)
    assert "tgt1" not in made["sources"]
    assert [(e["source"], e["service"]) for e in made["sources"]["app1"]["probes"] if e["host"] == "tgt1"] == [("app1", "pg")]


def test_each_allowed_source_probes_the_declared_protocol_and_denied_sources_only_connect():
    variables = hostvars()
    services = [{"name": "pg", "port": 5432, "allow_from": ["app"], "deny_from": ["web"], "check": {"protocol": "postgres"}}]
    variables["tgt1"]["portproof_contract"] = load_contract("tgt1", [("portproof_services", services)], set(GROUPS), HOSTS)
    made = plan(variables=variables)
    entries = [(e["source"], e["kind"], e.get("checks"), e["target"].get("protocol"))
               for src in made["sources"].values() for e in src["probes"] if e["host"] == "tgt1"]
    assert (entries, made["errors"]) == ([("app1", "reach", ["protocol"], "postgres"), ("web1", "isolation", None, None)], [])
