# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Static checks over port_facts captured on real lab hosts (fixtures/static, from molecule-static.yml)."""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import static_checks
from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import bind_allows, effective_binds
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._undeclared_identify import identify_plan, labels_from
from ansible_collections.portproof.validate.plugins.module_utils._probe._identify import IDENTIFY_TCP, identify_targets

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "static")
with open(os.path.join(FIXTURES, "lab.json")) as _handle:
    LAB = json.load(_handle)
GROUPS = dict(LAB["groups"], all=sorted(LAB["addresses"]))
HOSTVARS = {name: {"ansible_host": address} for name, address in LAB["addresses"].items()}

CONTRACTS = {
    "db1": [{"name": "postgres", "port": 5432, "bind": "internal", "process": "postgres", "user": "nobody",
             "allow_from": ["app"], "deny_from": ["web"]},
            {"name": "api", "port": 8080, "allow_from": ["app"]}],
    "bad1": [{"name": "redis", "port": 6379, "bind": "loopback", "deny_from": ["web"]},
             {"name": "syslog", "port": 514, "proto": "tcp"},
             {"name": "postgres", "port": 5432, "process": "postgres"},
             {"name": "mysql", "port": 3306, "process": "mariadbd", "allow_from": ["app"], "deny_from": ["web"]},
             {"name": "grpc", "port": 9090, "allow_from": ["app"]}],
    "ctr1": [{"name": "shop", "port": 8082, "publish": {"container": "shop", "container_port": 80}},
             {"name": "blog", "port": "auto", "publish": {"container": "blog", "container_port": 80}},
             {"name": "wiki", "port": 8084, "bind": "internal",
              "publish": {"container": "wiki", "container_port": 80, "image": "localhost/portproof-lab/busybox:1"}}],
}


def facts(host):
    with open(os.path.join(FIXTURES, "facts-%s.json" % host)) as handle:
        return json.load(handle)


def run(host, services=None, host_facts=None, **kwargs):
    contract = load_contract(host, [("portproof_services", services or CONTRACTS[host])], set(GROUPS), set(LAB["addresses"]))
    options = {"strict": host != "ctr1", "ignore": ["22/tcp"]}
    options.update(kwargs)
    return static_checks(contract, host_facts or facts(host), host, groups=GROUPS, hostvars=HOSTVARS,
                         address=LAB["addresses"][host], **options)


def table(results):
    return sorted((r["service"] or "-", r["check"], r["status"], r["source"] or "-") for r in results)


EXPECTED = {
    "db1": [("-", "undeclared", "pass", "-"), ("api", "firewall_allow", "pass", "app1"), ("api", "listen", "pass", "-"),
            ("postgres", "bind", "pass", "-"), ("postgres", "firewall_allow", "pass", "app1"),
            ("postgres", "firewall_deny", "pass", "web1"), ("postgres", "listen", "pass", "-"), ("postgres", "process", "pass", "-")],
    "bad1": [("-", "undeclared", "fail", "-")] * 3 + [
        ("grpc", "firewall_allow", "pass", "app1"), ("grpc", "listen", "fail", "-"),
        ("mysql", "firewall_allow", "fail", "app1"), ("mysql", "firewall_deny", "pass", "web1"), ("mysql", "listen", "pass", "-"),
        ("mysql", "process", "fail", "-"), ("postgres", "listen", "fail", "-"), ("postgres", "process", "skip", "-"),
        ("redis", "bind", "fail", "-"), ("redis", "firewall_deny", "fail", "web1"), ("redis", "listen", "pass", "-"),
        ("syslog", "listen", "fail", "-")],
    "ctr1": [("blog", "listen", "pass", "-"), ("blog", "mapping", "pass", "-"), ("shop", "listen", "fail", "-"),
             ("shop", "mapping", "fail", "-"), ("wiki", "bind", "pass", "-"), ("wiki", "listen", "pass", "-"),
             ("wiki", "mapping", "pass", "-")],
}


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_every_check_of_the_lab_hosts(host):
    assert table(run(host)) == EXPECTED[host]


def by(results, service, check):
    return [r for r in results if r["service"] == service and r["check"] == check]


def test_port_auto_resolves_to_the_published_port():
    port = LAB["blog_port"].rsplit(":", 1)[1]
    (mapping,) = by(run("ctr1"), "blog", "mapping")
    assert mapping["message"].startswith("blog: port auto resolved to host port %s: 0.0.0.0:%s -> blog:80" % (port, port))


def test_wrong_container_port_is_named():
    (mapping,) = by(run("ctr1"), "shop", "mapping")
    assert mapping["message"] == "shop: container shop port 80/tcp is not published; host port 8082/tcp leads to shop port 81"
    (listen,) = by(run("ctr1"), "shop", "listen")
    assert listen["message"].startswith("shop declared on container shop port 80/tcp: nothing listens on 80/tcp inside container shop; "
                                        "container shop listens on [::]:81 (dual-stack) (process httpd pid ")


def test_wrong_image_fails():
    services = copy.deepcopy(CONTRACTS["ctr1"])
    services[2]["publish"]["image"] = "registry.example/wiki@sha256:" + "0" * 64
    (mapping,) = by(run("ctr1", services), "wiki", "mapping")
    assert mapping["status"] == "fail"
    assert mapping["message"].startswith("wiki: container wiki runs image localhost/portproof-lab/busybox:1 (")


def test_moved_port_and_wrong_protocol_are_explained():
    results = run("bad1")
    assert by(results, "postgres", "listen")[0]["message"].startswith(
        "postgres declared on 5432/tcp: nothing listens on 5432/tcp on bad1; moved? postgres listens on 0.0.0.0:5433 (process postgres")
    assert by(results, "syslog", "listen")[0]["message"].startswith(
        "syslog declared on 514/tcp: nothing listens on 514/tcp on bad1; TCP declared, UDP served: 0.0.0.0:514 (process rsyslogd")


def test_dual_stack_serves_ipv4_sources_and_ipv6_only_does_not():
    assert by(run("db1"), "api", "listen")[0]["status"] == "pass"
    (grpc,) = by(run("bad1"), "grpc", "listen")
    assert grpc["message"].startswith("grpc declared on 9090/tcp for IPv4 clients: only [::]:9090 (IPv6 only) (process grpc-server")


def test_strict_off_reports_no_undeclared():
    assert by(run("bad1", strict=False), None, "undeclared") == []


def test_ignore_specs_and_loopback():
    undeclared = by(run("bad1", ignore=["22/tcp", "5000-6000/tcp", "514"]), None, "undeclared")
    assert [r["actual"].split(":")[0] for r in undeclared] == ["9999/tcp"]


def test_missing_listeners_subset_is_an_error_not_a_pass():
    host_facts = facts("bad1")
    host_facts["listeners"] = None
    host_facts["unavailable"] = [{"subset": "listeners", "tool": "sock_diag", "reason": "permission denied"}]
    results = run("bad1", host_facts=host_facts)
    assert {r["status"] for r in results if r["check"] in ("listen", "undeclared")} == {"error"}
    assert by(results, "redis", "listen")[0]["message"] == "listeners of bad1 could not be read: sock_diag: permission denied"


def test_unknown_owner_is_an_error():
    host_facts = facts("db1")
    for item in host_facts["listeners"]:
        item.update(pid=None, process=None, user=None, processes=[])
    (process,) = by(run("db1", host_facts=host_facts), "postgres", "process")
    assert process["status"] == "error"
    assert "could not be read (gather facts as root" in process["message"]


def test_missing_firewall_is_an_error():
    host_facts = facts("db1")
    host_facts["firewall"] = None
    host_facts["unavailable"] = [{"subset": "firewall", "tool": "iptables-save", "reason": "not found"}]
    results = [r for r in run("db1", host_facts=host_facts) if r["check"].startswith("firewall")]
    assert [(r["status"], r["message"]) for r in results][0] == ("error", "postgres: the firewall of db1 could not be read: iptables-save: not found")
    assert {r["status"] for r in results} == {"error"}


@pytest.mark.parametrize("listener, declared, allowed", [
    ({"family": "ipv4", "address": "0.0.0.0"}, [{"class": "internal"}], False),
    ({"family": "ipv4", "address": "0.0.0.0"}, [{"class": "public"}], True),
    ({"family": "ipv4", "address": "10.1.0.5"}, [{"class": "internal"}], True),
    ({"family": "ipv4", "address": "100.64.0.9"}, [{"class": "internal"}], True),
    ({"family": "ipv4", "address": "8.8.8.8"}, [{"class": "internal"}], False),
    ({"family": "ipv4", "address": "127.0.0.1"}, [{"class": "internal"}], True),
    ({"family": "ipv4", "address": "127.0.0.1"}, [{"class": "public"}], False),
    ({"family": "ipv6", "address": "fd00::5"}, [{"class": "internal"}], True),
    ({"family": "ipv6", "address": "2001:4860::1"}, [{"class": "public"}], True),
    ({"family": "ipv6", "address": "::", "dual_stack": True}, [{"network": "0.0.0.0/0"}], False),
    ({"family": "ipv6", "address": "::", "dual_stack": True}, [{"network": "0.0.0.0/0"}, {"network": "::/0"}], True),
    ({"family": "ipv6", "address": "::", "dual_stack": False}, [{"network": "::/0"}], True),
    ({"family": "ipv6", "address": "::ffff:10.1.0.5"}, [{"network": "10.1.0.0/16"}], True),
    ({"family": "ipv6", "address": "::1"}, [{"class": "loopback"}], True),
    ({"family": "ipv4", "address": "10.1.0.5"}, [{"network": "10.2.0.0/16"}], False),
])
def test_bind_classes(listener, declared, allowed):
    assert all(bind_allows(declared, *bind) for bind in effective_binds(listener)) is allowed


@pytest.mark.parametrize("given, found", [("7d200fd291da", True), ("7d200fd291dad4a8f30c6ae6b31bb98a0fc7224f5003b0b40b3af9c89d996ea3", True),
                                          ("7d200fd291d", False)])
def test_publish_container_given_as_an_id_prefix_of_12_or_more_characters(given, found):
    # wiki's ID in the captured facts; docs/contract.md: the container's name or an ID prefix of 12+ characters
    services = [dict(CONTRACTS["ctr1"][2], publish=dict(CONTRACTS["ctr1"][2]["publish"], container=given))]
    results = run("ctr1", services=services)
    # an 11-character prefix names no container: nothing listens there, so the bind check has nothing to judge
    expected = [("wiki", "bind", "pass", "-"), ("wiki", "listen", "pass", "-"), ("wiki", "mapping", "pass", "-")] if found else \
        [("wiki", "bind", "skip", "-"), ("wiki", "listen", "fail", "-"), ("wiki", "mapping", "fail", "-")]
    assert table(results) == expected


def test_undeclared_listeners_carry_what_answers_on_them():
    undeclared = by(run("bad1", labels={"9999/tcp": "answers as http", "5433/tcp": "answers as postgres"}), None, "undeclared")
    assert [(r["message"], r["actual"]) for r in undeclared] == [
        ("bad1: 0.0.0.0:514 (process rsyslogd pid 20141 user root) listens on 514/udp and no service declares it (declare it, "
         "or list it in portproof_ignore)", "514/udp: 0.0.0.0:514 (process rsyslogd pid 20141 user root)"),
        ("bad1: 0.0.0.0:5433 (process postgres pid 20142 user root) listens on 5433/tcp and no service declares it; 5433/tcp "
         "answers as postgres (declare it, or list it in portproof_ignore)",
         "5433/tcp: 0.0.0.0:5433 (process postgres pid 20142 user root); answers as postgres"),
        ("bad1: 0.0.0.0:9999 (process nc pid 20144 user root) listens on 9999/tcp and no service declares it; 9999/tcp "
         "answers as http (declare it, or list it in portproof_ignore)",
         "9999/tcp: 0.0.0.0:9999 (process nc pid 20144 user root); answers as http")]


def test_the_identification_plan_probes_undeclared_tcp_listeners_from_the_host_itself():
    contract = load_contract("bad1", [("portproof_services", CONTRACTS["bad1"])], set(GROUPS), set(LAB["addresses"]))
    targets, labels = identify_plan(contract, facts("bad1"), ["22/tcp"], False, 2.0)
    # 514/udp (rsyslogd) gets no datagram: only 53/udp and 123/udp are offered dns and ntp
    assert labels == {}
    assert [(t["name"], t["host"], t["port"], t["proto"], t["protocol"], t["timeout"]) for t in targets] == [
        ("undeclared %d/tcp/%s" % (port, name), "127.0.0.1", port, "tcp", name, 2.0) for port in (5433, 9999) for name in IDENTIFY_TCP]
    assert identify_plan(contract, facts("bad1"), ["22/tcp", "5433", "9999", "514"], False, 2.0) == ([], {})


def test_a_failed_identification_run_labels_every_listener_and_fails_nothing():
    targets = identify_targets("undeclared 9999/tcp", "127.0.0.1", 9999, "tcp", 2.0)
    assert labels_from({"failed": True, "msg": "Failed to connect to the host via ssh"}, targets, 2.0) == {
        "9999/tcp": "could not be identified: Failed to connect to the host via ssh"}
    refused = [{"port": 9999, "proto": "tcp", "connected": False, "reason": "Connection refused (ECONNREFUSED)"} for _t in targets]
    assert labels_from({"probes": refused}, targets, 2.0) == {"9999/tcp": "could not be identified: Connection refused (ECONNREFUSED)"}
