# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Live check results from real port_probe results captured in the lab of molecule/live (fixtures/live, capture.py)."""

from __future__ import annotations

import copy
import json
import os
import re

import pytest

from ansible_collections.portproof.validate.plugins.plugin_utils._live_checks import interpret, load_result, play_results
from ansible_collections.portproof.validate.plugins.plugin_utils._live_step import record

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "live")


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".json")) as handle:
        return json.load(handle)


PLAN = fixture("plan")
PROBES = fixture("probes")
RESULTS = fixture("results")
INPUTS = fixture("inputs")
PLAY = INPUTS["play_hosts"]
KINDS = ["reach", "isolation", "response", "tls", "load"]
DELEGATED = {"results": PROBES["delegated"]}
LOAD = {"results": PROBES["load"]}

EXPECTED = sorted([
    ("tgt1", "postgres", "reach", "pass", "app1"), ("tgt1", "postgres", "reach", "error", "gone1"),
    ("tgt1", "postgres", "isolation", "pass", "web1"),
    ("tgt1", "redis", "reach", "pass", "app1"), ("tgt1", "redis", "isolation", "pass", "web1"),
    ("tgt1", "memcached", "reach", "pass", "app1"), ("tgt1", "memcached", "isolation", "fail", "web1"),
    ("tgt1", "dns", "reach", "pass", "app1"), ("tgt1", "dns", "response", "pass", "app1"),
    ("tgt1", "syslog", "reach", "pass", "app1"), ("tgt1", "syslog", "isolation", "pass", "web1"),
    ("tgt1", "ntp", "isolation", "fail", "web1"),
    ("tgt1", "api", "reach", "pass", "app1"), ("tgt1", "api", "response", "pass", "app1"),
    ("tgt1", "api", "reach", "pass", "controller"), ("tgt1", "api", "response", "pass", "controller"),
    ("tgt1", "api", "load", "pass", "app1"),
    ("tgt1", "api_down", "reach", "pass", "app1"), ("tgt1", "api_down", "response", "fail", "app1"),
    ("tgt1", "slow", "reach", "pass", "app1"), ("tgt1", "slow", "response", "fail", "app1"), ("tgt1", "slow", "load", "fail", "app1"),
    ("tgt1", "hang", "reach", "pass", "app1"), ("tgt1", "hang", "response", "fail", "app1"),
    ("tgt1", "tls", "reach", "pass", "app1"), ("tgt1", "tls", "response", "pass", "app1"), ("tgt1", "tls", "tls", "fail", "app1"),
    ("tgt1", "tls_ok", "reach", "pass", "app1"), ("tgt1", "tls_ok", "tls", "pass", "app1"),
    ("tgt1", "sshd", "reach", "pass", "controller"), ("tgt1", "sshd", "response", "pass", "controller"),
    ("ssh1", "sshd", "reach", "pass", "controller"), ("ssh1", "sshd", "response", "fail", "controller"),
])


def table(results):
    return sorted((r["host"], r["service"], r["check"], r["status"], r["source"]) for r in results)


def recorded(kinds=None, plan=PLAN, probes=PROBES, play=PLAY):
    """What every host of the play records, as the role's live_record task computes it from what live_probe returned."""
    registered = dict((host, {"probe": probes.get(host), "load": probes["load"] if plan["sources"].get(host, {}).get("load") else []})
                      for host in play)
    delegated = {"results": [{"item": run["item"], "source": run["item"]["source"], "probe": run, "load": []} for run in probes["delegated"]]}
    made = record(plan, kinds or KINDS, "live|app1,web1", True, play, registered, delegated, {}, None)
    return [result for host in play for result in made["hosts"][host]["portproof_live_last"]]


def by(results, host, service, check, source):
    (found,) = [r for r in results if (r["host"], r["service"], r["check"], r["source"]) == (host, service, check, source)]
    return found


def test_every_live_check_of_the_lab():
    assert table(recorded()) == EXPECTED


def test_results_are_the_ones_the_roles_recorded_in_the_lab():
    def key(item):
        return item["host"], item["service"], item["check"], item["source"]
    assert sorted(recorded(), key=key) == sorted(RESULTS, key=key)


def test_each_role_records_only_its_kinds():
    assert {r["check"] for r in recorded(["reach", "isolation"])} == {"reach", "isolation"}
    assert {r["check"] for r in recorded(["response", "tls", "load"])} == {"response", "tls", "load"}
    assert sorted(recorded(["reach", "isolation"]) + recorded(["response", "tls", "load"]), key=json.dumps) == \
        sorted(recorded(), key=json.dumps)


TGT1 = INPUTS["hostvars"]["tgt1"]
SSH1 = INPUTS["hostvars"]["ssh1"]


@pytest.mark.parametrize("key, message", [
    (("tgt1", "postgres", "reach", "app1"), r"postgres: app1 reached %s:5432/tcp \(connected in [0-9.]+ ms\)$" % TGT1),
    (("tgt1", "postgres", "isolation", "web1"),
     r"postgres: web1 is kept out of %s:5432/tcp: timeout \(no answer to the connection attempt within 2 s\)$" % TGT1),
    (("tgt1", "redis", "isolation", "web1"), r"redis: web1 is kept out of %s:6379/tcp: refused \(Connection refused \(ECONNREFUSED\)\)$" % TGT1),
    (("tgt1", "memcached", "isolation", "web1"), r"memcached: web1 must not get through, but connected to %s:11211/tcp in [0-9.]+ ms$" % TGT1),
    (("tgt1", "postgres", "reach", "gone1"), r"postgres: gone1 could not probe %s:5432/tcp: unreachable: .*Connection refused$" % TGT1),
    (("tgt1", "dns", "response", "app1"), r"dns from app1 at %s:5353/udp: reply pass: the 4 bytes reply matches /\^PONG/$" % TGT1),
    (("tgt1", "hang", "reach", "app1"), r"hang: app1 reached .*; then timeout \(connected, but the response did not complete within 2 s\), see response$"),
    (("tgt1", "hang", "response", "app1"), r"hang from app1 at .*: expect fail: accepted, but no complete answer within 2 s$"),
    (("tgt1", "api_down", "response", "app1"), r"api_down from app1 at .*: http_json fail: expression is false \(evaluated on the controller\)$"),
    (("tgt1", "slow", "response", "app1"), r"slow from app1 at .*: max_ms fail: connect and response took [0-9.]+ ms \(limit 150.0 ms\)$"),
    (("tgt1", "slow", "load", "app1"), r"slow from app1 at .*: 10 requests, 5 in flight, 0 failed, p50 [0-9.]+ ms, p95 [0-9.]+ ms, max [0-9.]+ ms; "
                                       r"load_p95 fail: "),
    (("tgt1", "tls", "tls", "app1"), r"tls from app1 at .*: tls_days fail: certificate expires \S+ \(4 days left\)$"),
    (("ssh1", "sshd", "response", "controller"),
     r"sshd from controller at %s:22/tcp: ssh_auth_methods fail: offers methods outside the allowed list: password$" % SSH1),
])
def test_messages_say_what_was_probed_and_what_happened(key, message):
    found = by(recorded(), *key)["message"]
    assert re.match(message, found), found


def test_expected_and_actual_and_latency():
    results = recorded()
    memcached = by(results, "tgt1", "memcached", "isolation", "web1")
    assert (memcached["expected"], memcached["actual"]) == ("timeout, refused or unreachable", "open")
    assert memcached["latency_ms"] > 0
    tls = by(results, "tgt1", "tls", "tls", "app1")
    assert tls["expected"].endswith("tls_hostname: tgt1.pplive.test; tls_days: >= 14")
    assert tls["actual"] == "tls_handshake: TLSv1.3; tls_verify: verified; tls_hostname: tgt1.pplive.test; tls_days: 4"
    ssh = by(results, "ssh1", "sshd", "response", "controller")
    assert ssh["actual"].endswith("ssh_auth_methods: publickey, password")
    load = by(results, "tgt1", "api", "load", "app1")
    assert (load["expected"], load["latency_ms"] == float(load["actual"].split()[1])) == ("p95 <= 1000 ms, errors <= 0", True)
    assert all("latency_ms" not in r for r in results if r["status"] == "error")


RUNS = dict([(run["item"]["source"], run) for run in PROBES["delegated"]], app1=PROBES["app1"], web1=PROBES["web1"])


def entry_and_probe(source, service, host="tgt1"):
    entries = PLAN["sources"][source]["probes"]
    (position,) = [i for i, e in enumerate(entries) if (e["host"], e["service"]) == (host, service)]
    return entries[position], copy.deepcopy(RUNS[source]["probes"][position])


def decide(source, service, kinds, **changes):
    entry, probe = entry_and_probe(source, service)
    probe.update(changes)
    return {r["check"]: (r["status"], r["message"]) for r in interpret([entry], {"probes": [probe]}, kinds)}


@pytest.mark.parametrize("state, connected, status", [
    ("refused", False, "fail"), ("timeout", False, "fail"), ("unreachable", False, "fail"), ("dns_error", False, "fail"),
    ("error", False, "error"), ("timeout", True, "pass"), ("open", True, "pass"),
])
def test_reach_tcp(state, connected, status):
    assert decide("app1", "postgres", ["reach"], state=state, connected=connected)["reach"][0] == status


@pytest.mark.parametrize("state, connected, status", [
    ("refused", False, "pass"), ("timeout", False, "pass"), ("unreachable", False, "pass"), ("dns_error", False, "error"),
    ("error", False, "error"), ("timeout", True, "fail"), ("open", True, "fail"),
])
def test_isolation_tcp(state, connected, status):
    assert decide("web1", "postgres", ["isolation"], state=state, connected=connected)["isolation"][0] == status


def test_udp_reply_to_a_denied_source_fails_isolation():
    status, message = decide("web1", "syslog", ["isolation"], state="open", connected=True, latency_ms=0.3)["isolation"]
    assert status == "fail"
    assert message.endswith("must not get through, but got a reply from %s:514/udp in 0.3 ms" % TGT1)


@pytest.mark.parametrize("verdict, listener, reach, isolation", [
    ("accept", True, "pass", "fail"), ("accept", False, "fail", "pass"), ("drop", True, "fail", "pass"), ("reject", True, "fail", "pass"),
    ("unknown", True, "error", "error"),
])
def test_udp_silence(verdict, listener, reach, isolation):
    entry, probe = entry_and_probe("app1", "syslog")
    assert probe["state"] == "open_filtered"
    entry["silence"] = {"verdict": verdict, "listener": listener, "firewall": "tgt1", "how": "rule ip filter INPUT #1: x"}
    assert interpret([entry], {"probes": [probe]}, ["reach"])[0]["status"] == reach
    entry = dict(entry, kind="isolation")
    assert interpret([entry], {"probes": [probe]}, ["isolation"])[0]["status"] == isolation


def test_udp_silence_without_facts_is_an_error():
    entry, probe = entry_and_probe("app1", "syslog")
    entry["silence"] = {"error": "the port facts of tgt1 were not gathered"}
    (result,) = interpret([entry], {"probes": [probe]}, ["reach"])
    assert (result["status"], result["message"]) == (
        "error", "syslog: app1 got no reply from %s:514/udp (open_filtered), undecided: whether it gets through cannot be decided: "
                 "the port facts of tgt1 were not gathered" % TGT1)


def test_udp_request_without_reply_fails_reach_and_skips_response():
    checks = decide("app1", "dns", ["reach", "response"], state="open_filtered", connected=False, reply=None)
    assert checks["reach"][0] == "fail" and "the service must answer its request" in checks["reach"][1]
    assert checks["response"][0] == "skip"


def test_checks_that_did_not_connect_are_skipped_not_failed():
    checks = decide("app1", "tls", ["reach", "response", "tls"], state="refused", connected=False)
    assert {check: status for check, (status, _m) in checks.items()} == {"reach": "fail", "response": "skip", "tls": "skip"}
    assert checks["tls"][1] == "tls: not checked, app1 could not get through to %s:8443/tcp (refused); see reach" % TGT1


def test_unavailable_check_is_an_error():
    entry, probe = entry_and_probe("controller", "sshd", host="ssh1")
    probe["response"] = [dict(item, status="unavailable", message="paramiko is not installed") for item in probe["response"]]
    (result,) = interpret([entry], {"probes": [probe]}, ["response"])
    assert result["status"] == "error"


@pytest.mark.parametrize("run, reason", [
    ({"unreachable": True, "msg": "ssh: connect to host 10.0.0.1 port 22: Connection refused"},
     "unreachable: ssh: connect to host 10.0.0.1 port 22: Connection refused"),
    ({"failed": False, "failed_when_result": False, "msg": "targets[0]: ssh cannot be combined with tls"},
     "port_probe failed: targets[0]: ssh cannot be combined with tls"),
    ({"skipped": True}, "the port_probe task was skipped"),
    (None, "the port_probe task did not run"),
    ({"probes": []}, "port_probe returned 0 probes for 11 targets"),
])
def test_a_source_that_could_not_probe_gives_errors_for_every_planned_check(run, reason):
    entries = PLAN["sources"]["app1"]["probes"]
    results = interpret(entries, run, KINDS)
    assert len(results) == 11 + 6 + 2  # reach, response, tls
    assert {r["status"] for r in results} == {"error"}
    assert results[0]["message"] == "postgres: app1 could not probe %s:5432/tcp: %s" % (TGT1, reason)


def test_sources_that_left_the_play_give_errors_on_the_first_host():
    results = play_results(PLAN, KINDS, ["app1", "tgt1", "ssh1"], PROBES["delegated"], [])
    web1 = [r for r in results if r["source"] == "web1"]
    assert [(r["service"], r["check"], r["status"]) for r in web1] == [
        (s, "isolation", "error") for s in ("postgres", "redis", "memcached", "syslog", "ntp")]
    assert web1[0]["message"].endswith("the source left the play before probing (unreachable or failed)")
    lost = copy.deepcopy(PLAN)
    lost["sources"]["web1"]["run"] = "lost"
    assert play_results(lost, ["isolation"], PLAY, PROBES["delegated"], [])[0]["message"].endswith(
        "the source left the play before the plan was made (unreachable or failed)")


def test_load_that_could_not_run_is_an_error():
    entry = PLAN["sources"]["app1"]["load"][0]
    result = load_result(entry, {"probes": [], "ok": False})
    message = "api: app1 could not put %s:8080/tcp under load: port_probe returned no load result" % TGT1
    assert (result["status"], result["message"]) == ("error", message)


@pytest.mark.parametrize("source, words", [
    ("controller", "expression is true (evaluated on the controller, the probing host)"),
    ("app1", "expression is true (evaluated on app1, the probing host)"),
])
def test_a_json_query_names_the_host_that_evaluated_it(source, words):
    entry = {"host": "tgt1", "service": "api", "source": source, "kind": "reach", "checks": ["response"],
             "target": {"host": "10.231.1.5", "port": 8080, "proto": "tcp"}}
    probe = {"state": "open", "connected": True, "latency_ms": 0.3, "total_ms": 2.1, "response": [
        {"name": "http_status", "status": "pass", "expected": [200], "actual": 200, "message": "GET / answered 200 OK"},
        {"name": "http_json", "status": "pass", "expected": "ok", "actual": "true", "evaluated_on": "target",
         "message": "expression is true (evaluated on the probing host)"}]}
    (result,) = interpret([entry], {"probes": [probe]}, ["response"])
    assert result["message"] == "api from %s at 10.231.1.5:8080/tcp: http_status pass: GET / answered 200 OK; http_json pass: %s" % (
        source, words)


PROTOCOL = fixture("protocol_probes")  # real port_probe results: redis-server on 5432, probed as postgres, then as redis


def protocol_entry(target):
    return {"source": "app1", "host": "db1", "service": "db", "kind": "reach", "checks": ["protocol"], "target": target}


def test_protocol_names_what_answered_instead_with_its_excerpt_and_passes_when_declared():
    entries = [protocol_entry(target) for target in PROTOCOL["targets"]]
    results = interpret(entries, {"probes": PROTOCOL["probes"]}, ["protocol"])
    assert [(r["check"], r["status"], r["source"], r["message"], r["expected"], r["actual"]) for r in results] == [
        ("protocol", "fail", "app1", "db from app1: 5432/tcp answers as redis, not postgres", "postgres",
         "redis ('-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user...')"),
        ("protocol", "pass", "app1", "db from app1: 5432/tcp answers as redis", "redis", "redis")]


def test_protocol_is_not_a_response_check_and_is_skipped_when_the_probe_did_not_get_through():
    entry = dict(protocol_entry(PROTOCOL["targets"][0]), checks=["response", "protocol"])
    probe = copy.deepcopy(PROTOCOL["probes"][0])
    (response,) = interpret([entry], {"probes": [probe]}, ["response"])
    assert (response["status"], response["message"]) == ("skip", "db: port_probe ran no response check for %s:5432/tcp" % PROTOCOL["targets"][0]["host"])
    refused = {"state": "refused", "connected": False, "reason": "connection refused"}
    (skipped,) = interpret([entry], {"probes": [refused]}, ["protocol"])
    assert (skipped["status"], skipped["message"]) == (
        "skip", "db: not checked, app1 could not get through to %s:5432/tcp (refused (connection refused)); see reach" % PROTOCOL["targets"][0]["host"])
