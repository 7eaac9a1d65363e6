# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Contract loading: merging, normalising, and a specific message for every kind of mistake."""

from __future__ import annotations

import pytest

from ansible_collections.portproof.validate.plugins.plugin_utils._contract import (
    ContractError, contract_variables, load_contract, parse_port_spec,
)

GROUPS = {"all", "ungrouped", "app", "web", "db"}
HOSTS = {"app1", "web1", "db1"}


def load(variables, **kwargs):
    return load_contract("db1", variables, GROUPS, HOSTS, **kwargs)


def test_group_variables_add_up_in_name_order():
    hostvars = {"portproof_services__web": [{"name": "nginx", "port": 443}], "portproof_services": [{"name": "sshd", "port": 22}],
                "portproof_services__db": [{"name": "postgres", "port": 5432}], "portproof_servicesx": [], "other": 1}
    variables = contract_variables(hostvars)
    assert [name for name, _value in variables] == ["portproof_services", "portproof_services__db", "portproof_services__web"]
    services = load(variables)
    assert [(s["name"], s["port"], s["variable"]) for s in services] == [
        ("sshd", 22, "portproof_services[0]"), ("postgres", 5432, "portproof_services__db[0]"), ("nginx", 443, "portproof_services__web[0]")]


def test_defaults_and_normal_form():
    service = load([("portproof_services", [{
        "name": "postgres", "port": 5432, "bind": ["internal", "10.1.0.0/16", "0.0.0.0"], "process": "postgres",
        "allow_from": ["app", "web1", "10.2.0.0/24", "controller"], "deny_from": ["public", "web"],
        "publish": None}])])[0]
    assert service["proto"] == "tcp"
    assert service["bind"] == [{"class": "internal"}, {"network": "10.1.0.0/16"}, {"network": "0.0.0.0/0"}]
    assert service["allow_from"] == [{"kind": "group", "name": "app"}, {"kind": "host", "name": "web1"},
                                     {"kind": "cidr", "name": "10.2.0.0/24", "network": "10.2.0.0/24"},
                                     {"kind": "controller", "name": "controller"}]
    assert service["deny_from"] == [{"kind": "public", "name": "public"}, {"kind": "group", "name": "web"}]
    assert load([("portproof_services", [{"name": "x", "port": 1}])])[0]["bind"] == [{"class": "any"}]


BAD = [
    ([{"name": "pg", "port": 70000}], "portproof_services[0] (pg): port 70000 is out of range 1-65535"),
    ([{"name": "pg", "port": 0}], "portproof_services[0] (pg): port 0 is out of range 1-65535"),
    ([{"name": "pg", "port": "5432"}], "portproof_services[0] (pg): port '5432' is not an integer or 'auto'"),
    ([{"name": "pg", "port": True}], "portproof_services[0] (pg): port True is not an integer or 'auto'"),
    ([{"name": "pg"}], "portproof_services[0] (pg): port is required"),
    ([{"port": 5432}], "portproof_services[0]: name is required and must be a non-empty string"),
    ([{"name": "pg", "port": 5432, "proto": "sctp"}], "portproof_services[0] (pg): proto 'sctp' is not tcp or udp"),
    ([{"name": "pg", "port": 5432, "bnid": "internal"}],
     "portproof_services[0] (pg): unknown key bnid (allowed: name, port, proto, bind, process, user, publish, allow_from, deny_from, check)"),
    ([{"name": "pg", "port": 5432, "bind": "intranet"}],
     "portproof_services[0] (pg): bind 'intranet' is neither one of any, loopback, internal, public nor an IP address or CIDR"),
    ([{"name": "pg", "port": 5432, "bind": "10.1.0.5/16"}],
     "portproof_services[0] (pg): bind '10.1.0.5/16' is neither one of any, loopback, internal, public nor an IP address or CIDR"),
    ([{"name": "pg", "port": 5432, "allow_from": ["appz"]}],
     "portproof_services[0] (pg): allow_from entry 'appz' is not an inventory group, an inventory host, a CIDR or controller"),
    ([{"name": "pg", "port": 5432, "allow_from": ["public"]}],
     "portproof_services[0] (pg): allow_from entry 'public' is not an inventory group, an inventory host, a CIDR or controller "
     "('public' is only valid in deny_from)"),
    ([{"name": "pg", "port": 5432, "deny_from": ["10.300.0.0/16"]}],
     "portproof_services[0] (pg): deny_from entry '10.300.0.0/16' is not an inventory group, an inventory host, a CIDR or public"),
    ([{"name": "pg", "port": 5432, "allow_from": "app"}],
     "portproof_services[0] (pg): allow_from must be a list of groups, hosts, CIDRs or controller"),
    ([{"name": "web", "port": "auto"}], "portproof_services[0] (web): port 'auto' needs publish (the container whose published port it is)"),
    ([{"name": "web", "port": 8080, "publish": {"container_port": 80}}],
     "portproof_services[0] (web): publish.container is required (the container's name)"),
    ([{"name": "web", "port": 8080, "publish": {"container": "web", "container_port": 99999}}],
     "portproof_services[0] (web).publish.container_port: port 99999 is out of range 1-65535"),
    ([{"name": "pg", "port": 5432}, {"name": "pg", "port": 5433}],
     "portproof_services[1] (pg): name is already used by portproof_services[0]; names are unique per host"),
    ([{"name": "pg", "port": 5432, "process": "post(gres"}],
     "portproof_services[0] (pg): process 'post(gres' is not a valid regular expression (missing ), unterminated subpattern at position 4)"),
    ([{"name": "web", "port": 80, "check": {"http": {"status": 999}}}],
     "portproof_services[0] (web).check.http: status must be an HTTP status code 100-599, got 999"),
    ([{"name": "web", "port": 80, "check": {"htp": {}}}],
     "portproof_services[0] (web).check: unknown key htp (allowed: http, tls, send, expect, ssh, max_ms, load)"),
    ([{"name": "web", "port": 80, "check": {"max_ms": -5}}], "portproof_services[0] (web).check: max_ms must be an integer >= 1, got -5"),
    ([{"name": "web", "port": 80, "check": {"load": {"concurrency": 0}}}],
     "portproof_services[0] (web).check.load: concurrency must be an integer >= 1, got 0"),
    ([{"name": "ssh", "port": 22, "check": {"ssh": {"auth_methods": "publickey"}}}],
     "portproof_services[0] (ssh).check.ssh: auth_methods must be a list of method names"),
    (["postgres"], "portproof_services[0]: must be a mapping with at least name and port, got 'postgres'"),
]


@pytest.mark.parametrize("services, message", BAD, ids=[m.split(": ", 1)[1][:40] for _s, m in BAD])
def test_bad_contract_names_host_variable_item_and_reason(services, message):
    with pytest.raises(ContractError) as info:
        load([("portproof_services", services)])
    assert message in info.value.problems
    assert str(info.value).startswith("invalid portproof contract for host db1:\n  - ")


def test_not_a_list():
    with pytest.raises(ContractError) as info:
        load([("portproof_services__db", {"name": "pg"})])
    assert info.value.problems == ["portproof_services__db: must be a list of services, got dict"]


def test_every_problem_is_reported_at_once():
    with pytest.raises(ContractError) as info:
        load([("portproof_services", [{"name": "a", "port": 0}, {"name": "b", "port": 1, "proto": "icmp"}])],
             strict="yes", ignore=["22/tcp", "99999"], address="10.0.0.300")
    assert info.value.problems == [
        "portproof_services[0] (a): port 0 is out of range 1-65535",
        "portproof_services[1] (b): proto 'icmp' is not tcp or udp",
        "portproof_strict: must be true or false, got 'yes'",
        "portproof_ignore[1]: port spec '99999' is outside 1-65535 or its range is reversed",
        "portproof_address: '10.0.0.300' is not an IP address",
    ]


@pytest.mark.parametrize("spec, parsed", [
    ("22/tcp", (22, 22, ("tcp",))), ("8000-8010/udp", (8000, 8010, ("udp",))), ("53", (53, 53, ("tcp", "udp"))),
    (" 65535/tcp ", (65535, 65535, ("tcp",))),
])
def test_port_specs(spec, parsed):
    assert parse_port_spec(spec) == parsed


@pytest.mark.parametrize("spec", ["22/sctp", "tcp/22", "10-5/tcp", "0/tcp", "", "22/"])
def test_bad_port_specs(spec):
    with pytest.raises(ValueError, match="port spec"):
        parse_port_spec(spec)
