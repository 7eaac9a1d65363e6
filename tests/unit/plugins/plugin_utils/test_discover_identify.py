# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""discover asks what answers, and names services after their systemd units, over what real tools answered:

- port facts of the static lab (fixtures/static, see its capture.py);
- the replies of real Debian servers (nginx, postgresql-15, redis-server) to every identification handshake
  (module_utils/fixtures/protocols, written by its capture.py), replayed as port_probe records them;
- the starters of a real systemd host (module_utils/fixtures/starters, written by its capture.py: api.service enabled,
  batch.service started, hand started over SSH in a session scope).
"""

from __future__ import annotations

import json
import os

import yaml

from ansible_collections.portproof.validate.plugins.module_utils._probe._identify import IDENTIFY_TCP, identify_targets
from ansible_collections.portproof.validate.plugins.module_utils._probe._protocols import Handshake, identify, step
from ansible_collections.portproof.validate.plugins.module_utils._starters import (
    cgroup_path, parse_dependencies, parse_list_sockets, parse_show, unit_of,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._discover import EPHEMERAL, discover_host, unit_name
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_files import build_files
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_identify import (
    asked_for, asked_from, fallback_plan, identified_from, identify_plan, merge_identified, source_runs, suggestion,
)

HERE = os.path.dirname(__file__)
PROTOCOLS = os.path.join(HERE, os.pardir, "module_utils", "fixtures", "protocols")
STARTERS = os.path.join(HERE, os.pardir, "module_utils", "fixtures", "starters")
STATIC = os.path.join(HERE, "fixtures", "static")
STAMP = "2026-12-06T19:00:00Z"


def _json(*path):
    with open(os.path.join(*path)) as handle:
        return json.load(handle)


def _text(name):
    with open(os.path.join(STARTERS, name)) as handle:
        return handle.read()


def _replayed(server, port):
    """The port_probe results of every TCP identification handshake offered to PORT, answered as SERVER answered them
    (the reply read a line at a time, step() deciding after each read, as the engine does)."""
    record = _json(PROTOCOLS, server + ".json")
    probes = []
    for exchange in record["exchanges"]:
        if exchange["proto"] != "tcp" or exchange["protocol"] not in IDENTIFY_TCP:
            continue
        hs = Handshake(exchange["protocol"], "tcp", bytes.fromhex(record["nonce"]))
        reply = seen = bytes.fromhex(exchange["reply"])
        ends = [at + 1 for at, byte in enumerate(reply) if byte == 0x0a]
        for size in [at for at in ends if at < len(reply)] + [len(reply)]:
            if step(hs, reply[:size], False)[0]:
                seen = reply[:size]
                break
        probes.append({"port": port, "proto": "tcp", "connected": True, "reason": None,
                       "protocol": identify(hs, port, seen, exchange["ending"], 2.0)})
    return probes


def _silent(port):
    """What a listener that accepts and never writes gives every handshake."""
    return [{"port": port, "proto": "tcp", "connected": True, "reason": None,
             "protocol": identify(Handshake(protocol, "tcp", b"\0" * 16), port, b"", "timeout", 2.0)}
            for protocol in IDENTIFY_TCP]


def test_the_plan_asks_each_listener_discover_may_propose_in_one_run():
    facts = _json(STATIC, "facts-ctr1.json")
    targets = identify_plan(facts, "10.231.9.15", 2.0, EPHEMERAL)
    # published container ports at the host's address (wildcard) or the published one; sshd (ignored) not asked
    assert sorted({(t["host"], t["port"], t["proto"]) for t in targets}) == [
        ("10.231.9.15", 8082, "tcp"), ("10.231.9.15", 8084, "tcp"), ("10.231.9.15", 32869, "tcp")]
    assert targets[:len(IDENTIFY_TCP)] == identify_targets("discover 8082/tcp", "10.231.9.15", 8082, "tcp", 2.0)
    assert len(targets) == 3 * len(IDENTIFY_TCP)
    declared_ssh = identify_plan(facts, "10.231.9.15", 2.0, EPHEMERAL, ssh="declare")
    assert sorted({(t["host"], t["port"]) for t in declared_ssh} - {(t["host"], t["port"]) for t in targets}) == [("10.231.9.15", 22)]
    # loopback only, an ephemeral port, UDP other than 53/123: not asked; a wildcard bind is asked on loopback
    listeners = [{"proto": "tcp", "family": "ipv4", "address": "127.0.0.1", "port": 11211, "netns": "host"},
                 {"proto": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 40000, "netns": "host"},
                 {"proto": "udp", "family": "ipv4", "address": "0.0.0.0", "port": 8125, "netns": "host"},
                 {"proto": "udp", "family": "ipv4", "address": "0.0.0.0", "port": 53, "netns": "host"},
                 {"proto": "tcp", "family": "ipv6", "address": "::", "port": 80, "netns": "host"}]
    assert sorted({(t["host"], t["port"], t["proto"]) for t in identify_plan({"listeners": listeners}, "10.0.0.1", 2.0, EPHEMERAL)}) == [
        ("127.0.0.1", 53, "udp"), ("::1", 80, "tcp")]
    assert identify_plan({"listeners": None}, "10.0.0.1", 2.0, EPHEMERAL) == []


def test_what_real_servers_answer_becomes_the_suggested_check():
    targets = (identify_targets("discover 80/tcp", "127.0.0.1", 80, "tcp", 2.0)
               + identify_targets("discover 5432/tcp", "10.1.0.5", 5432, "tcp", 2.0)
               + identify_targets("discover 6379/tcp", "10.1.0.5", 6379, "tcp", 2.0)
               + identify_targets("discover 9100/tcp", "127.0.0.1", 9100, "tcp", 2.0))
    run = {"probes": _replayed("nginx", 80) + _replayed("postgresql-15", 5432) + _replayed("redis-server", 6379) + _silent(9100)}
    identified = identified_from(run, targets, 2.0)
    assert identified == {
        "80/tcp": {"answered": ["http"], "label": "answers as http", "status": 200, "reached": True},
        "5432/tcp": {"answered": ["postgres"], "label": "answers as postgres", "status": None, "reached": True},
        "6379/tcp": {"answered": ["redis"], "label": "answers as redis", "status": None, "reached": True},
        "9100/tcp": {"answered": [], "label": "answers nothing within 2 s", "status": None, "reached": True},
    }
    assert [suggestion(identified[key]) for key in ("80/tcp", "5432/tcp", "6379/tcp", "9100/tcp")] == [
        ({"http": {"path": "/", "status": 200}}, "answers as http (GET / answered 200): the check proves it"),
        ({"protocol": "postgres"}, "answers as postgres: the check proves it"),
        ({"protocol": "redis"}, "answers as redis: the check proves it"),
        (None, "answers nothing within 2 s: no check proposed")]
    failed = identified_from({"failed": True, "msg": "port_probe: no python"}, targets[:1], 2.0)
    assert failed == {"80/tcp": {"answered": [], "label": "could not be identified: port_probe: no python", "status": None,
                                 "reached": True}}
    assert suggestion(None) == (None, None)


def test_a_listener_its_own_host_cannot_reach_is_asked_from_the_first_source_its_firewall_lets_in():
    # db1 of the static lab: iptables drops web1 on 5432 and accepts the rest (fixtures/static); its own probe of
    # 5432 was refused, its own probe of 8080 was answered
    lab = _json(STATIC, "lab.json")
    facts = {"db1": _json(STATIC, "facts-db1.json")}
    hostvars = dict((host, {"ansible_host": address}) for host, address in lab["addresses"].items())
    refused = [{"host": "10.231.9.13", "port": 5432, "proto": "tcp", "connected": False,
                "reason": "Connection refused (ECONNREFUSED)", "protocol": None} for _protocol in IDENTIFY_TCP]
    own = identified_from({"probes": refused + _silent(8080)},
                          identify_targets("discover 5432/tcp", "10.231.9.13", 5432, "tcp", 2.0)
                          + identify_targets("discover 8080/tcp", "::1", 8080, "tcp", 2.0), 2.0)
    assert own["5432/tcp"] == {"answered": [], "label": "could not be identified: Connection refused (ECONNREFUSED)",
                               "status": None, "reached": False}
    assert own["8080/tcp"]["reached"] is True
    # web1 comes first (group aa) but the verdict keeps it out: app1, the next, asks; only db1's inventory address
    groups = {"aa": ["web1"], "app": ["app1"], "db": ["db1", "bad1"], "all": sorted(lab["addresses"])}
    plan = fallback_plan({"db1": own}, facts, groups, hostvars, {"db1": "10.231.9.13"}, sorted(lab["addresses"]), 2.0)
    targets = identify_targets("discover db1 5432/tcp", "10.231.9.13", 5432, "tcp", 2.0)
    assert plan == {"app1": [{"host": "db1", "address": "10.231.9.13", "key": "5432/tcp", "targets": targets}]}
    # with no host of the play let in, the controller (let in by db1's rules) asks; with no firewall read, nobody
    assert list(fallback_plan({"db1": own}, facts, groups, hostvars, {"db1": "10.231.9.13"}, ["db1", "web1"], 2.0)) == ["controller"]
    assert fallback_plan({"db1": own}, {"db1": dict(facts["db1"], firewall={})}, groups, hostvars, {"db1": "10.231.9.13"},
                         sorted(lab["addresses"]), 2.0) == {}
    # what app1 learnt replaces what db1 could not learn itself, and the comment says where it came from
    answered = [dict(probe, host="10.231.9.13") for probe in _replayed("postgresql-15", 5432)]
    asked = asked_from("app1", plan["app1"], {"probes": answered}, 2.0)
    assert asked == {"db1": {"5432/tcp": {"answered": ["postgres"], "label": "answers as postgres", "status": None,
                                          "reached": True, "via": "app1"}}}
    runs = source_runs({"app1": {"portproof_discover_asked": {"asked": asked}}, "db1": {}}, ["app1", "db1"])
    assert asked_for(runs, "db1") == [asked["db1"]] and asked_for(runs, "app1") == []
    merged = merge_identified(own, [asked["db1"]])
    assert merged["8080/tcp"] == own["8080/tcp"]
    assert suggestion(merged["5432/tcp"]) == ({"protocol": "postgres"}, (
        "asked from app1, as the host's own probe was kept out (could not be identified: Connection refused (ECONNREFUSED)): "
        "answers as postgres: the check proves it"))
    # a listener its own host reached is never replaced
    assert merge_identified(own, [{"8080/tcp": dict(asked["db1"]["5432/tcp"])}]) == own


def _host(listeners, starters=None):
    facts = {"listeners": listeners, "mappings": [], "firewall": {}, "unavailable": []}
    if starters is not None:
        facts["starters"] = starters
    return facts


def _listener(port, pid, process, address="10.1.0.5"):
    return {"proto": "tcp", "family": "ipv4", "address": address, "port": port, "pid": pid, "process": process,
            "user": "root", "netns": "host"}


def test_the_discovered_contract_carries_the_checks_as_yaml():
    facts = {"h1": _host([_listener(80, 10, "nginx", "0.0.0.0"), _listener(5432, 11, "postgres"), _listener(9100, 12, "exporter")])}
    identified = {"h1": {"80/tcp": {"answered": ["http"], "label": "answers as http", "status": 301},
                         "5432/tcp": {"answered": ["postgres"], "label": "answers as postgres", "status": None},
                         "9100/tcp": {"answered": [], "label": "answers nothing within 5 s", "status": None}}}
    files, _verification = build_files(facts, {"all": ["h1"]}, {"h1": {"ansible_host": "10.1.0.5"}}, {"h1": "10.1.0.5"}, STAMP,
                                       "portproof-discovered", identified=identified)
    text = files["host_vars/h1.yml"]
    assert "  # answers as http (GET / answered 301): the check proves it\n" in text
    assert '    check: {http: {path: "/", status: 301}}\n' in text
    assert "  # answers nothing within 5 s: no check proposed\n" in text
    assert "# check:" not in text
    loaded = {s["name"]: s.get("check") for s in yaml.safe_load(text)["portproof_services__discovered"]}
    assert loaded == {"nginx": {"http": {"path": "/", "status": 301}}, "postgres": {"protocol": "postgres"}, "exporter": None}
    # identification off: the guess from the process name stays a comment
    files, _verification = build_files(facts, {"all": ["h1"]}, {"h1": {"ansible_host": "10.1.0.5"}}, {"h1": "10.1.0.5"}, STAMP,
                                       "portproof-discovered")
    assert "check:" not in files["host_vars/h1.yml"].replace("# check: {protocol: ", "")


def _starters(**changes):
    processes = {}
    for pid, name in ((47, "api"), (66, "batch"), (830, "hand")):
        path = cgroup_path(_text("cgroup-%s.txt" % name))
        processes[str(pid)] = {"cgroup": path, "unit": unit_of(path)}
    starters = {"init": "systemd", "processes": processes, "sockets": parse_list_sockets(_text("list-sockets.txt")),
                "units": parse_show(_text("show.txt")), "default_target": _text("get-default.txt").strip(),
                "reached": parse_dependencies(_text("list-dependencies.txt"))}
    starters.update(changes)
    return starters


# the processes of the captured host, each a python3 script (its /proc/PID/comm)
UNIT_LISTENERS = [_listener(8080, 47, "python3"), _listener(8081, 66, "python3"), _listener(8082, 830, "python3")]


def _names(facts):
    return [(e["service"]["name"], e["service"]["port"], e["comments"]) for e in
            discover_host("sd1", facts, {"all": ["sd1"]}, {}, "10.1.0.5").services]


def test_services_are_named_after_the_systemd_unit_that_starts_them():
    assert _names(_host(UNIT_LISTENERS, _starters())) == [
        ("api", 8080, ["10.1.0.5:8080 (python3)", "started by the systemd unit api.service"]),
        ("batch", 8081, ["10.1.0.5:8081 (python3)", "started by the systemd unit batch.service"]),
        ("python3", 8082, ["10.1.0.5:8082 (python3)"]),  # a login's session scope is no service
    ]
    # PID 1 is not systemd (a container, the lab): the process names, made unique
    assert [(name, port) for name, port, _c in _names(_host(UNIT_LISTENERS, _starters(init="process_api")))] == [
        ("python3", 8080), ("python3-8081", 8081), ("python3-8082", 8082)]
    assert [(name, port) for name, port, _c in _names(_host(UNIT_LISTENERS))] == [
        ("python3", 8080), ("python3-8081", 8081), ("python3-8082", 8082)]
    # two units share a port's sockets: no single unit names it
    shared = [_listener(8080, 47, "python3"), dict(_listener(8080, 66, "python3"), family="ipv6", address="fd00::5")]
    assert unit_name(shared, _starters()) is None
    assert unit_name(shared[:1], _starters()) == "api"
    # a unit name is made unique like any other
    twice = [_listener(8080, 47, "python3"), _listener(9090, 47, "python3")]
    assert [(name, port) for name, port, _c in _names(_host(twice, _starters()))] == [("api", 8080), ("api-9090", 9090)]
