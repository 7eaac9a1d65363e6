# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Baseline and drift over port_facts captured on the lab of the molecule scenario "report" (fixtures/drift/capture.py).

facts-before-* were gathered before the baseline role ran (baseline-* are the files it saved),
facts-after-* after tests/lab/specs/molecule-report-faults.yml was planted.
"""

from __future__ import annotations

import copy
import json
import os

import pytest
import yaml

from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import StepError, baseline_state, drift_results
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import load_contract

HERE = os.path.dirname(__file__)
FIXTURES = os.path.join(HERE, "fixtures", "drift")
REPO = os.path.abspath(os.path.join(HERE, *[os.pardir] * 4))
with open(os.path.join(FIXTURES, "lab.json")) as _handle:
    LAB = json.load(_handle)
with open(os.path.join(REPO, "molecule", "report", "molecule.yml")) as _handle:
    HOST_VARS = yaml.safe_load(_handle)["provisioner"]["inventory"]["host_vars"]
GROUPS = dict(LAB["groups"], all=sorted(LAB["addresses"]))
HOSTVARS = dict((name, {"ansible_host": address}) for name, address in LAB["addresses"].items())
ADDRESS = LAB["addresses"]


def load(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


def contract(host, services=None):
    return load_contract(host, [("portproof_services", services or HOST_VARS[host]["portproof_services"])], set(GROUPS), set(ADDRESS))


V1_SKIP = "has no host-level state (a version 1 baseline): save it again"


def run(host, baseline, facts, services=None, v1_skip=False, **kwargs):
    """drift results; the fixtures are version 1 baselines, whose one host-level skip (V1_SKIP) is left out unless V1_SKIP."""
    text = baseline if baseline is None or isinstance(baseline, str) else json.dumps(baseline)
    results = drift_results(text, contract(host, services), facts, host, groups=GROUPS, hostvars=HOSTVARS, address=ADDRESS[host],
                            path="/b/%s.json" % host, **kwargs)
    return results if v1_skip else [r for r in results if V1_SKIP not in r["message"]]


def saved_now(host, facts=None):
    """The version 2 baseline the role saves from the facts gathered before the faults."""
    return baseline_state(contract(host), facts or load("facts-before-%s.json" % host), host, groups=GROUPS, hostvars=HOSTVARS,
                          address=ADDRESS[host], saved="2026-11-22T03:57:11Z")


def table(results):
    return [(r["service"], r["check"], r["status"], r["source"]) for r in results]


@pytest.mark.parametrize("host", ["web1", "app1", "db1"])
def test_the_snapshot_is_what_the_baseline_role_saved(host):
    """The fixtures are version 1 baselines; version 2 adds each verdict's family and protocol."""
    baseline = load("baseline-%s.json" % host)
    state = baseline_state(contract(host), load("facts-before-%s.json" % host), host, groups=GROUPS, hostvars=HOSTVARS,
                           address=ADDRESS[host], saved=baseline["saved"])
    assert state["version"] == 2
    assert sorted(state.pop("host_state")) == ["listeners", "mappings", "openings"]
    for service in state["services"].values():
        for verdict in service["firewall"]:
            assert (verdict.pop("family"), verdict.pop("proto")) == ("ipv4", service["proto"])
    assert dict(state, version=1) == baseline


def test_db1_baseline_content():
    postgres = load("baseline-db1.json")["services"]["postgres"]
    assert postgres["listeners"] == [{"where": "host", "address": ADDRESS["db1"], "port": 5432, "proto": "tcp", "family": "ipv4",
                                      "dual_stack": False, "interface": None, "process": "postgres", "user": "nobody"}]
    assert [(v["source"], v["address"], v["port"], v["verdict"]) for v in postgres["firewall"]] == [
        ("app1", ADDRESS["app1"], 5432, "accept"), ("web1", ADDRESS["web1"], 5432, "drop")]
    assert postgres["firewall"][1]["rule"] == "rule ip filter INPUT #1: -A INPUT -s %s/32 -p tcp -m tcp --dport 5432 -j DROP" % ADDRESS["web1"]


def test_published_service_is_kept_as_its_container_listener_and_its_mapping():
    static = load("baseline-web1.json")["services"]["static"]
    assert [(l["where"], l["address"], l["port"], l["process"]) for l in static["listeners"]] == [("container static", "::", 80, "httpd")]
    assert [(m["host_ip"], m["host_port"], m["container"], m["target_port"], m["image"]) for m in static["mappings"]] == [
        ("0.0.0.0", 8080, "static", 80, "localhost/portproof-lab/busybox:1")]


@pytest.mark.parametrize("host", ["web1", "app1", "db1"])
def test_no_drift_against_the_state_it_was_saved_from(host):
    results = run(host, load("baseline-%s.json" % host), load("facts-before-%s.json" % host))
    assert table(results) == [(s["name"], "drift", "pass", None) for s in HOST_VARS[host]["portproof_services"]]
    saved = load("baseline-%s.json" % host)["saved"]
    assert results[0]["message"] == "%s: listeners, processes, mappings and firewall verdicts as in the baseline of %s" % (
        HOST_VARS[host]["portproof_services"][0]["name"], saved)


EXPECTED = {
    "web1": [("http", "drift", "pass", None), ("static", "drift", "fail", None)],
    "app1": [("api", "drift", "pass", None), ("statsd", "drift", "pass", None)],
    "db1": [("postgres", "drift", "fail", None), ("postgres", "drift", "fail", "app1"), ("redis", "drift", "fail", None)],
}


@pytest.mark.parametrize("host", ["web1", "app1", "db1"])
def test_drift_after_the_planted_faults(host):
    assert table(run(host, load("baseline-%s.json" % host), load("facts-after-%s.json" % host))) == EXPECTED[host]


def test_drift_messages_say_what_changed():
    saved = load("baseline-db1.json")["saved"]
    db1 = run("db1", load("baseline-db1.json"), load("facts-after-db1.json"))
    assert [(r["message"], r["expected"], r["actual"]) for r in db1] == [
        ("postgres 5432/tcp was bound to %s, now 0.0.0.0 (baseline of %s)" % (ADDRESS["db1"], saved),
         "listeners: %s" % ADDRESS["db1"], "listeners: 0.0.0.0"),
        ("postgres 5432/tcp from app1 (%s): was accept, now drop: rule ip filter INPUT #1: -A INPUT -s %s/32 -p tcp -m tcp --dport 5432 "
         "-j DROP (baseline of %s)" % (ADDRESS["app1"], ADDRESS["app1"], saved), "accept", "drop"),
        ("redis 6379/tcp was served by redis-server (user root), now by nc (user root) (baseline of %s)" % saved,
         "process: redis-server (user root)", "process: nc (user root)"),
    ]
    assert [r["changes"] for r in db1] == [
        [{"aspect": "listeners", "change": "moved", "was": [ADDRESS["db1"]], "now": ["0.0.0.0"]}],
        [{"aspect": "firewall", "change": "changed", "was": "accept", "now": "drop", "port": 5432}],
        [{"aspect": "process", "change": "changed", "was": ["redis-server (user root)"], "now": ["nc (user root)"]}],
    ]
    web1 = run("web1", load("baseline-web1.json"), load("facts-after-web1.json"))
    assert web1[1]["message"] == ("static (container static port 80/tcp) was published on 0.0.0.0:8080, now on 0.0.0.0:8081 "
                                  "(baseline of %s)" % saved)
    assert web1[1]["changes"] == [{"aspect": "mappings", "change": "moved", "was": ["0.0.0.0:8080"], "now": ["0.0.0.0:8081"]}]


def test_warn_mode_records_drift_as_skip():
    results = run("db1", load("baseline-db1.json"), load("facts-after-db1.json"), mode="warn")
    assert [(r["status"], r.get("warn")) for r in results] == [("skip", True)] * 3
    assert results[0]["message"].startswith("warning (portproof_drift: warn): postgres 5432/tcp was bound to ")


def _moved(facts, port, new_port=None, address=None):
    facts = copy.deepcopy(facts)
    for item in facts["listeners"]:
        if item["netns"] == "host" and item["port"] == port:
            item["port"] = new_port or port
            item["address"] = address or item["address"]
    return facts


def test_a_listener_gone_to_another_port_is_named_moved():
    results = run("db1", load("baseline-db1.json"), _moved(load("facts-before-db1.json"), 5432, new_port=5433))
    assert results[0]["message"].startswith("postgres 5432/tcp was bound to %s, now nothing listens there; postgres now listens on %s:5433"
                                            % (ADDRESS["db1"], ADDRESS["db1"]))
    assert results[0]["changes"] == [{"aspect": "listeners", "change": "moved", "was": [ADDRESS["db1"]], "now": []}]


def test_a_listener_gone_and_a_new_one():
    facts = load("facts-before-db1.json")
    gone = copy.deepcopy(facts)
    gone["listeners"] = [item for item in gone["listeners"] if item["port"] != 6379]
    results = run("db1", load("baseline-db1.json"), gone)
    assert results[1]["message"].startswith("redis 6379/tcp was bound to 127.0.0.1, now nothing listens there (baseline of ")
    assert results[1]["changes"][0]["change"] == "gone"
    extra = copy.deepcopy(facts)
    twin = [dict(item, address="::1", family="ipv6") for item in extra["listeners"] if item["port"] == 6379 and item["netns"] == "host"]
    extra["listeners"] += twin
    results = run("db1", load("baseline-db1.json"), extra)
    assert results[1]["message"].startswith("redis 6379/tcp was bound to 127.0.0.1, now 127.0.0.1, ::1 (baseline of ")


def test_a_new_image_is_drift():
    facts = load("facts-before-web1.json")
    for item in facts["mappings"]:
        item["image"] = {"name": "localhost/shop:2", "digest": "sha256:abc", "id": "sha256:def"}
    results = run("web1", load("baseline-web1.json"), facts)
    assert results[1]["message"].startswith("static (container static port 80/tcp) ran image localhost/portproof-lab/busybox:1 (sha256:")
    assert results[1]["message"].count(", now localhost/shop:2 (sha256:abc)") == 1


def test_port_auto_may_move_without_drift():
    services = [{"name": "static", "port": "auto", "publish": {"container": "static", "container_port": 80}}]
    baseline = baseline_state(contract("web1", services), load("facts-before-web1.json"), "web1", groups=GROUPS, hostvars=HOSTVARS,
                              address=ADDRESS["web1"], saved="then")
    assert baseline["services"]["static"]["ports"] == [8080]
    results = run("web1", baseline, load("facts-after-web1.json"), services=services)
    assert table(results) == [("static", "drift", "pass", None), (None, "drift", "pass", None)]


def test_what_cannot_be_compared():
    assert [(r["status"], r["message"]) for r in run("db1", None, load("facts-after-db1.json"))] == [
        ("skip", "db1: no baseline (/b/db1.json); save one with the playbook portproof.validate.baseline")]
    assert run("db1", "{not json", {})[0]["message"].startswith("db1: the baseline /b/db1.json is not valid JSON: ")
    assert run("db1", {"services": {}, "version": 7}, {})[0]["message"] == (
        "db1: the baseline /b/db1.json has version 7; this collection reads versions 1 and 2 (save it again)")
    assert run("db1", load("baseline-web1.json"), {})[0]["message"] == "db1: the baseline /b/db1.json is the one of host web1, not db1"
    assert run("db1", load("baseline-db1.json"), {}, mode="loud")[0]["message"] == "portproof_drift must be one of fail, warn, got 'loud'"
    unavailable = {"unavailable": [{"subset": "listeners", "tool": "/proc", "reason": "denied"}]}
    results = run("db1", load("baseline-db1.json"), unavailable)
    assert table(results) == [("postgres", "drift", "error", None), ("postgres", "drift", "error", None), ("redis", "drift", "error", None)]
    assert results[0]["message"].endswith("cannot compare with the baseline of %s: listeners (not gathered now)" % load("baseline-db1.json")["saved"])
    assert all(r["check"] == "drift" for r in results)
    newer = HOST_VARS["db1"]["portproof_services"] + [{"name": "pgbouncer", "port": 6432}]
    results = run("db1", load("baseline-db1.json"), load("facts-before-db1.json"), services=newer)
    assert results[-1]["status"] == "skip" and results[-1]["message"].startswith("pgbouncer: not in the baseline of ")


def host_level(results):
    return [(r["status"], r["message"].split(" (baseline of ")[0]) for r in results if r["service"] is None]


def test_a_version_1_baseline_has_one_host_level_skip():
    results = run("db1", load("baseline-db1.json"), load("facts-before-db1.json"), v1_skip=True)
    assert [(r["status"], r["message"]) for r in results if r["service"] is None] == [
        ("skip", "db1: the baseline of %s has no host-level state (a version 1 baseline): save it again with the playbook "
                 "portproof.validate.baseline to compare what no service declares" % load("baseline-db1.json")["saved"])]


@pytest.mark.parametrize("host", ["web1", "app1", "db1"])
def test_no_host_level_drift_against_the_state_it_was_saved_from_nor_after_the_declared_faults(host):
    """The planted faults touch declared services only (the republished container's new host port included)."""
    for when in ("before", "after"):
        assert host_level(run(host, saved_now(host), load("facts-%s-%s.json" % (when, host)))) == [
            ("pass", "%s: listeners, published ports and firewall openings that no service declares as in the baseline of "
                     "2026-11-22T03:57:11Z" % host)]


def _listen(facts, port, address="0.0.0.0", process="nc"):
    facts = copy.deepcopy(facts)
    model = [item for item in facts["listeners"] if item["netns"] == "host"][0]
    facts["listeners"].append(dict(model, address=address, port=port, process=process, pid=4242, family="ipv4",
                                   dual_stack=False, interface=None))
    return facts


def test_host_level_drift_of_undeclared_listeners():
    facts = load("facts-before-db1.json")
    saved = saved_now("db1")
    assert host_level(run("db1", saved, _listen(facts, 9999))) == [
        ("fail", "db1: 9999/tcp, which no service declares: new listener on 0.0.0.0:9999 (nc (user root)), not in the baseline")]
    gone = copy.deepcopy(facts)
    gone["listeners"] = [item for item in gone["listeners"] if item["port"] != 22]
    assert host_level(run("db1", saved, gone)) == [
        ("fail", "db1: 22/tcp, which no service declares: the listener on %s:22, [%s]:22 (sshd (user root)) is gone, nothing "
                 "listens there now" % (ADDRESS["db1"], [i["address"] for i in facts["listeners"] if i["port"] == 22 and
                                                         i["family"] == "ipv6"][0]))]
    # ignored ports, and loopback-only listeners unless strict_loopback, are left out
    assert host_level(run("db1", saved, gone, ignore=["22/tcp"])) == host_level(run("db1", saved, facts))
    assert host_level(run("db1", saved, _listen(facts, 7000, "127.0.0.1"))) == host_level(run("db1", saved, facts))
    assert host_level(run("db1", saved, _listen(facts, 7000, "127.0.0.1"), strict_loopback=True)) == [
        ("fail", "db1: 7000/tcp, which no service declares: new listener on 127.0.0.1:7000 (nc (user root)), not in the baseline")]
    # another process on the same addresses
    moved = copy.deepcopy(facts)
    for item in moved["listeners"]:
        if item["port"] == 22:
            item["process"] = "dropbear"
    assert host_level(run("db1", saved, moved)) == [
        ("fail", "db1: 22/tcp, which no service declares: served by sshd (user root), now by dropbear (user root)")]
    warned = run("db1", saved, _listen(facts, 9999), mode="warn")
    assert [(r["status"], r.get("warn"), r["message"][:40]) for r in warned if r["service"] is None] == [
        ("skip", True, "warning (portproof_drift: warn): db1: 99")]


def _rule(facts, text, match, verdict="accept", policy=None):
    facts = copy.deepcopy(facts)
    chain = [c for t in facts["firewall"]["tables"] for c in t["chains"] if c["name"] == "INPUT"][0]
    if policy:
        chain["policy"] = policy
    chain["rules"].insert(0, {"comment": None, "index": 0, "match": match, "statements": [], "text": text, "verdict": {"kind": verdict}})
    return facts


def test_host_level_drift_of_firewall_openings():
    """The fixture's INPUT policy accepts: nothing changes for a rule that accepts; a policy of drop shows each opening."""
    facts = load("facts-before-db1.json")
    closed = _rule(facts, "-A INPUT -s 10.9.0.0/16 -j DROP", [{"key": "saddr", "op": "eq", "values": ["10.9.0.0/16"]}], "drop",
                   policy="drop")
    saved = saved_now("db1", closed)
    opened = _rule(closed, "-A INPUT -p tcp --dport 8443 -j ACCEPT", [
        {"key": "l4proto", "op": "eq", "values": ["tcp"]}, {"key": "dport", "op": "eq", "values": [8443]}])
    assert host_level(run("db1", saved, opened)) == [
        ("fail", "db1: 8443/tcp, which no service declares: the firewall now accepts new connections from public (203.0.113.7)")]
    to_one = _rule(closed, "-A INPUT -s 198.51.100.0/24 -p udp --dport 514 -j ACCEPT", [
        {"key": "saddr", "op": "eq", "values": ["198.51.100.0/24"]}, {"key": "l4proto", "op": "eq", "values": ["udp"]},
        {"key": "dport", "op": "eq", "values": [514]}])
    assert host_level(run("db1", saved, to_one)) == [
        ("fail", "db1: 514/udp, which no service declares: the firewall now accepts new connections from 198.51.100.0/24 (198.51.100.1)")]
    opened_all = copy.deepcopy(closed)
    [c for t in opened_all["firewall"]["tables"] for c in t["chains"] if c["name"] == "INPUT"][0]["policy"] = "accept"
    results = host_level(run("db1", saved, opened_all))
    assert results == [
        ("fail", "db1: any other port (tcp): the firewall now accepts new connections from public (203.0.113.7)"),
        ("fail", "db1: any other port (udp): the firewall now accepts new connections from public (203.0.113.7)")]
    # a port closed by a rule that is gone since: open again like any other port
    telnet = _rule(facts, "-A INPUT -p tcp --dport 23 -j DROP", [{"key": "l4proto", "op": "eq", "values": ["tcp"]},
                                                                 {"key": "dport", "op": "eq", "values": [23]}], "drop")
    assert host_level(run("db1", saved_now("db1", telnet), facts)) == [
        ("fail", "db1: 23/tcp, which no service declares: the firewall now accepts new connections from public (203.0.113.7)")]
    # undone: back as saved
    assert host_level(run("db1", saved_now("db1", opened), closed)) == [
        ("fail", "db1: 8443/tcp, which no service declares: the firewall no longer accepts new connections from public (203.0.113.7)")]


def test_host_level_drift_of_published_ports():
    facts = load("facts-before-web1.json")
    saved = saved_now("web1")
    more = copy.deepcopy(facts)
    more["mappings"].append(dict(more["mappings"][0], container="adminer", host_port=8088, target_port=80))
    assert host_level(run("web1", saved, more)) == [
        ("fail", "web1: 0.0.0.0:8088/tcp, which no service declares: newly published to container adminer port 80 "
                 "(image localhost/portproof-lab/busybox:1), not in the baseline")]


def test_a_wrong_ignore_is_named():
    with pytest.raises(StepError, match=r"^drift: ignore\[1\]: port spec '22/tcpp' is not PORT\[-PORT\]\[/tcp\|/udp\]$"):
        run("db1", saved_now("db1"), load("facts-before-db1.json"), ignore=["53", "22/tcpp"])
