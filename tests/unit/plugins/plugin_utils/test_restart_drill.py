# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The restart drill's plan (which allowed source polls) and record (downtime_s, reachable_s, a container's host
port), over what restart_unit and port_probe returned on a lab host (fixtures/restart/README.md)."""

from __future__ import annotations

import copy
import json
import os

from ansible_collections.portproof.validate.plugins.plugin_utils._restart_drill import allowed_source, plan, record

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "restart")
GROUPS = {"all": ["app1", "app2", "db1"], "app": ["app2", "app1", "db1"], "web": []}
STEP = {"host": "app1", "service": "rnd", "port": None, "proto": "tcp", "max_s": 30.0, "source": "sd1",
        "container": "rnd", "container_port": 80, "address": "10.231.85.11"}


def _load(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


def test_the_source_is_the_first_allow_from_entry_that_can_probe():
    cidr = {"kind": "cidr", "name": "10.0.0.0/8"}
    assert allowed_source({"allow_from": [cidr, {"kind": "group", "name": "app"}]}, "db1", GROUPS) == "app1"
    assert allowed_source({"allow_from": [{"kind": "group", "name": "app"}]}, "app1", GROUPS) == "app2"
    assert allowed_source({"allow_from": [{"kind": "host", "name": "db1"}, {"kind": "group", "name": "web"},
                                          {"kind": "controller", "name": "controller"}]}, "db1", GROUPS) == "controller"
    assert allowed_source({"allow_from": [cidr, {"kind": "public", "name": "public"}]}, "db1", GROUPS) is None


def test_the_plan_goes_host_after_host_and_names_containers_and_auto_ports():
    contracts = {
        "db1": [{"name": "pg", "port": 5432, "proto": "tcp", "publish": None, "allow_from": [{"kind": "group", "name": "app"}],
                 "restart": {"max_s": 5.0}},
                {"name": "statsd", "port": 8125, "proto": "udp", "publish": None, "allow_from": [{"kind": "group", "name": "app"}]}],
        "app1": [{"name": "web", "port": "auto", "proto": "tcp", "allow_from": [{"kind": "controller", "name": "controller"}],
                  "publish": {"container": "web", "container_port": 80, "image": None, "host_ip": "10.231.1.9"}}],
    }
    hostvars = {"db1": {"ansible_host": "10.231.1.2"}, "app1": {"ansible_host": "10.231.1.3"}}
    steps = plan(contracts, ["db1", "app1"], GROUPS, hostvars)
    assert [(s["host"], s["service"], s["port"], s["source"], s["delegate_to"], s["address"], s["container"], s["max_s"])
            for s in steps] == [
        ("db1", "pg", 5432, "app1", "app1", "10.231.1.2", None, 5.0),
        ("db1", "statsd", 8125, None, None, "10.231.1.2", None, 30.0),  # UDP: not polled
        ("app1", "web", None, "controller", "localhost", "10.231.1.9", "web", 30.0),
    ]


def test_a_container_restart_reachable_from_its_source():
    result = record(STEP, _load("restarted_container.json"), _load("probe_held.json"))
    assert result == {
        "host": "app1", "service": "rnd", "check": "restart", "status": "pass", "source": "sd1",
        "message": "rnd came back on 45133/tcp 11.5 s after restart of container rnd and was reachable from sd1 11.5 s after it"
                   " (restart.max_s 30), the same as before: [::]:80 (process httpd user root)",
        "expected": "back within 30 s on [::]:80 (process httpd user root)", "actual": "[::]:80 (process httpd user root)",
        "downtime_s": 11.473, "reachable_s": 11.474, "recorded_on": "app1"}


def test_a_source_that_cannot_connect_fails_naming_it_and_what_it_saw():
    result = record(dict(STEP, max_s=12.0), _load("restarted_container.json"), _load("probe_refused.json"))
    assert (result["status"], result["source"], result["reachable_s"], result["message"]) == (
        "fail", "sd1", None, "rnd came back on 45133/tcp 11.5 s after restart of container rnd, but not reachable from sd1"
                             " within restart.max_s 12 (refused connecting to 10.231.85.11:8099)")


def test_port_auto_follows_a_new_host_port_and_a_fixed_port_fails():
    moved = copy.deepcopy(_load("restarted_container.json"))
    moved["measured"]["published_after"] = [45140]
    auto = record(STEP, moved, None)
    assert (auto["status"], auto["message"]) == (
        "pass", "rnd came back on 45140/tcp 11.5 s after restart of container rnd (restart.max_s 30), the same as before:"
                " [::]:80 (process httpd user root); published on host port 45140 now, was 45133 (port: auto follows it)")
    fixed = record(dict(STEP, port=45133), moved, None)
    assert (fixed["status"], fixed["message"], fixed["downtime_s"]) == (
        "fail", "rnd came back on another host port after restart of container rnd: 45140/tcp instead of 45133/tcp", 11.473)


def test_a_host_the_restart_could_not_run_on_is_an_error():
    result = record(STEP, {"unreachable": True, "msg": "Failed to connect to the host via ssh: timed out"}, None)
    assert (result["status"], result["message"]) == (
        "error", "rnd: the restart drill could not run on app1: Failed to connect to the host via ssh: timed out")
