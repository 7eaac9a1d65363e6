# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Contract loading: merging, normalising, and a specific message for every kind of mistake."""

from __future__ import annotations

import pytest

from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import StepError, host_contract
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
    assert service["names"] == []


def test_names_are_kept_in_order():
    names = ["db.internal", "postgres.prod.example.com.", "db1", "x" * 63 + ".internal", "9db.internal"]
    assert load([("portproof_services", [{"name": "pg", "port": 5432, "names": names}])])[0]["names"] == names


def test_restart_limit():
    # the restart drill's limit: absent unless given, 30 s when given without max_s
    assert "restart" not in load([("portproof_services", [{"name": "x", "port": 1}])])[0]
    assert load([("portproof_services", [{"name": "x", "port": 1, "restart": {"max_s": 5}}])])[0]["restart"] == {"max_s": 5.0}
    assert load([("portproof_services", [{"name": "x", "port": 1, "restart": {}}])])[0]["restart"] == {"max_s": 30.0}


BAD = [
    ([{"name": "pg", "port": 5432, "names": "db.internal"}],
     "portproof_services[0] (pg): names must be a non-empty list of DNS names, got 'db.internal'"),
    ([{"name": "pg", "port": 5432, "names": []}], "portproof_services[0] (pg): names must be a non-empty list of DNS names, got []"),
    ([{"name": "pg", "port": 5432, "names": ["db.internal", "db_1.internal"]}],
     "portproof_services[0] (pg): names[1] 'db_1.internal' has the label 'db_1': each label is 1-63 letters, digits or hyphens, "
     "not starting or ending with a hyphen (RFC 1123)"),
    ([{"name": "pg", "port": 5432, "names": ["-db.internal"]}],
     "portproof_services[0] (pg): names[0] '-db.internal' has the label '-db': each label is 1-63 letters, digits or hyphens, "
     "not starting or ending with a hyphen (RFC 1123)"),
    ([{"name": "pg", "port": 5432, "names": ["db..internal"]}],
     "portproof_services[0] (pg): names[0] 'db..internal' has the label '': each label is 1-63 letters, digits or hyphens, "
     "not starting or ending with a hyphen (RFC 1123)"),
    ([{"name": "pg", "port": 5432, "names": ["a" * 64 + ".internal"]}],
     "portproof_services[0] (pg): names[0] '%s.internal' has the label '%s': each label is 1-63 letters, digits or hyphens, "
     "not starting or ending with a hyphen (RFC 1123)" % ("a" * 64, "a" * 64)),
    ([{"name": "pg", "port": 5432, "names": [".".join(["a" * 63] * 4)]}],
     "portproof_services[0] (pg): names[0] '%s' is longer than 253 characters" % ".".join(["a" * 63] * 4)),
    ([{"name": "pg", "port": 5432, "names": ["10.0.0.11"]}],
     "portproof_services[0] (pg): names[0] '10.0.0.11' is an IP address or ends in a numeric label; names lists the DNS names clients use"),
    ([{"name": "pg", "port": 5432, "names": [None]}], "portproof_services[0] (pg): names must be a non-empty list of DNS names, got [None]"),
    ([{"name": "pg", "port": 70000}], "portproof_services[0] (pg): port 70000 is out of range 1-65535"),
    ([{"name": "pg", "port": 0}], "portproof_services[0] (pg): port 0 is out of range 1-65535"),
    ([{"name": "pg", "port": "5432"}], "portproof_services[0] (pg): port '5432' is not an integer or 'auto'"),
    ([{"name": "pg", "port": True}], "portproof_services[0] (pg): port True is not an integer or 'auto'"),
    ([{"name": "pg"}], "portproof_services[0] (pg): port is required"),
    ([{"port": 5432}], "portproof_services[0]: name is required and must be a non-empty string"),
    ([{"name": "pg", "port": 5432, "proto": "sctp"}], "portproof_services[0] (pg): proto 'sctp' is not tcp or udp"),
    ([{"name": "pg", "port": 5432, "bnid": "internal"}],
     "portproof_services[0] (pg): unknown key bnid (allowed: name, port, proto, bind, process, user, publish, names, allow_from, deny_from, check, restart)"),
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
    ([{"name": "pg", "port": 5432, "restart": {"max_s": 0}}],
     "portproof_services[0] (pg): restart must be a mapping {max_s: SECONDS} with max_s above 0 and at most 3600, got max_s 0"),
    ([{"name": "pg", "port": 5432, "restart": {"max_sec": 5}}],
     "portproof_services[0] (pg).restart: unknown key max_sec (allowed: max_s)"),
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
     "portproof_services[0] (web).check: unknown key htp (allowed: http, tls, send, expect, ssh, protocol, max_ms, load)"),
    ([{"name": "web", "port": 80, "check": {"max_ms": -5}}], "portproof_services[0] (web).check: max_ms must be an integer >= 1, got -5"),
    ([{"name": "web", "port": 80, "check": {"load": {"concurrency": 0}}}],
     "portproof_services[0] (web).check.load: concurrency must be an integer >= 1, got 0"),
    ([{"name": "ssh", "port": 22, "check": {"ssh": {"auth_methods": "publickey"}}}],
     "portproof_services[0] (ssh).check.ssh: auth_methods must be a list of method names"),
    (["postgres"], "portproof_services[0]: must be a mapping with at least name and port, got 'postgres'"),
    # Every other key of the contract (docs/contract.md), one wrong value each.
    ([{"name": "", "port": 5432}], "portproof_services[0]: name is required and must be a non-empty string"),
    ([{"name": ["pg"], "port": 5432}], "portproof_services[0]: name is required and must be a non-empty string"),
    ([{"name": "pg", "port": 65536}], "portproof_services[0] (pg): port 65536 is out of range 1-65535"),
    ([{"name": "pg", "port": 5432.0}], "portproof_services[0] (pg): port 5432.0 is not an integer or 'auto'"),
    ([{"name": "pg", "port": 5432, "proto": "TCP"}], "portproof_services[0] (pg): proto 'TCP' is not tcp or udp"),
    ([{"name": "pg", "port": 5432, "bind": ["internal", 10]}], "portproof_services[0] (pg): bind entry 10 is not a string"),
    ([{"name": "pg", "port": 5432, "bind": ""}], "portproof_services[0] (pg): bind entry '' is not a string"),
    ([{"name": "pg", "port": 5432, "process": 5}],
     "portproof_services[0] (pg): process must be a regular expression string, got 5"),
    ([{"name": "pg", "port": 5432, "user": 999}], "portproof_services[0] (pg): user must be a string, got 999"),
    ([{"name": "web", "port": 8080, "publish": "web:80"}],
     "portproof_services[0] (web): publish must be a mapping with container and container_port"),
    ([{"name": "web", "port": 8080, "publish": {"container": "web", "container_port": 80, "ports": [80]}}],
     "portproof_services[0] (web).publish: unknown key ports (allowed: container, container_port, image, host_ip)"),
    ([{"name": "web", "port": 8080, "publish": {"container": "web", "container_port": "80"}}],
     "portproof_services[0] (web).publish.container_port: port '80' is not an integer"),
    ([{"name": "web", "port": 8080, "publish": {"container": "web", "container_port": 80, "image": ["web:1"]}}],
     "portproof_services[0] (web): publish.image must be an image reference (name:tag or name@sha256:...), got ['web:1']"),
    ([{"name": "web", "port": 8080, "publish": {"container": "web", "container_port": 80, "host_ip": "localhost"}}],
     "portproof_services[0] (web): publish.host_ip 'localhost' is not an IP address"),
    ([{"name": "web", "port": 8080, "publish": {"container": "web", "container_port": 80, "host_ip": "fe80::1%eth0"}}],
     "portproof_services[0] (web): publish.host_ip 'fe80::1%eth0' is not an IP address (a scoped address: give it without %eth0)"),
    ([{"name": "pg", "port": 5432, "allow_from": ["app", None]}], "portproof_services[0] (pg): allow_from entry None is not a string"),
    ([{"name": "pg", "port": 5432, "deny_from": "web"}],
     "portproof_services[0] (pg): deny_from must be a list of groups, hosts, CIDRs or public"),
    ([{"name": "pg", "port": 5432, "deny_from": ["controller"]}],
     "portproof_services[0] (pg): deny_from entry 'controller' is not an inventory group, an inventory host, a CIDR or public "
     "('controller' is only valid in allow_from)"),
    ([{"name": "web", "port": 80, "check": ["http"]}], "portproof_services[0] (web): check must be a mapping"),
    ([{"name": "web", "port": 80, "check": {"http": "/health"}}], "portproof_services[0] (web).check: http must be a mapping"),
    ([{"name": "web", "port": 80, "check": {"http": {"url": "/"}}}],
     "portproof_services[0] (web).check.http: unknown key url (allowed: method, path, status, headers, body, json_query, host, basic_auth)"),
    ([{"name": "web", "port": 80, "check": {"http": {"method": "GE T"}}}],
     "portproof_services[0] (web).check.http: method must be an HTTP method such as GET or POST, got 'GE T'"),
    ([{"name": "web", "port": 80, "check": {"http": {"path": "health"}}}],
     "portproof_services[0] (web).check.http: path must start with / and contain no spaces or control characters, got 'health'"),
    ([{"name": "web", "port": 80, "check": {"http": {"path": "/a b"}}}],
     "portproof_services[0] (web).check.http: path must start with / and contain no spaces or control characters, got '/a b'"),
    ([{"name": "web", "port": 80, "check": {"http": {"status": "200"}}}],
     "portproof_services[0] (web).check.http: status must be an HTTP status code 100-599, got '200'"),
    ([{"name": "web", "port": 80, "check": {"http": {"headers": ["X-Token: s3cr3t"]}}}],
     "portproof_services[0] (web).check.http: headers must be a mapping of header names to values"),
    ([{"name": "web", "port": 80, "check": {"http": {"headers": {"X-Token": "s3cr3t\r\nX-Evil: 1"}}}}],
     "portproof_services[0] (web).check.http: header 'X-Token' must be a header name with a one-line string value (the value is not shown)"),
    ([{"name": "web", "port": 80, "check": {"http": {"headers": {"Bad Name": "v"}}}}],
     "portproof_services[0] (web).check.http: header 'Bad Name' must be a header name with a one-line string value (the value is not shown)"),
    ([{"name": "web", "port": 80, "check": {"http": {"body": "(ok"}}}],
     "portproof_services[0] (web): check.http.body '(ok' is not a valid regular expression (missing ), unterminated subpattern at position 0)"),
    ([{"name": "web", "port": 80, "check": {"http": {"json_query": 3}}}],
     "portproof_services[0] (web).check.http: json_query must be a JMESPath expression string, got 3"),
    ([{"name": "web", "port": 80, "check": {"http": {"host": "web.test\r\nX: y"}}}],
     "portproof_services[0] (web).check.http: host must be a host name for the Host header, got 'web.test\\r\\nX: y'"),
    ([{"name": "web", "port": 80, "check": {"http": {"basic_auth": "user:s3cr3t"}}}],
     "portproof_services[0] (web).check.http: basic_auth must be a mapping with user and password strings (the values are not shown)"),
    ([{"name": "web", "port": 80, "check": {"http": {"basic_auth": {"user": "u", "password": 12345}}}}],
     "portproof_services[0] (web).check.http: basic_auth must be a mapping with user and password strings (the values are not shown)"),
    ([{"name": "web", "port": 443, "check": {"tls": "yes"}}], "portproof_services[0] (web).check: tls must be a mapping"),
    ([{"name": "web", "port": 443, "check": {"tls": {"cert": "x"}}}],
     "portproof_services[0] (web).check.tls: unknown key cert (allowed: min_days, verify, ca, hostname, min_version)"),
    ([{"name": "web", "port": 443, "check": {"tls": {"min_days": -1}}}],
     "portproof_services[0] (web).check.tls: min_days must be an integer >= 0, got -1"),
    ([{"name": "web", "port": 443, "check": {"tls": {"verify": "no"}}}],
     "portproof_services[0] (web).check.tls: verify must be true or false, got 'no'"),
    ([{"name": "web", "port": 443, "check": {"tls": {"ca": ""}}}], "portproof_services[0] (web).check.tls: ca must be a non-empty string, got ''"),
    ([{"name": "web", "port": 443, "check": {"tls": {"hostname": ["a", "b"]}}}],
     "portproof_services[0] (web).check.tls: hostname must be a non-empty string, got ['a', 'b']"),
    ([{"name": "web", "port": 443, "check": {"tls": {"min_version": "1.2"}}}],
     "portproof_services[0] (web).check.tls: min_version must be one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3, got '1.2'"),
    ([{"name": "redis", "port": 6379, "check": {"send": ["PING"]}}], "portproof_services[0] (redis): check.send must be a string, got ['PING']"),
    ([{"name": "redis", "port": 6379, "check": {"expect": "+PONG"}}],
     "portproof_services[0] (redis): check.expect '+PONG' is not a valid regular expression (nothing to repeat at position 0)"),
    ([{"name": "ssh", "port": 22, "check": {"ssh": []}}], "portproof_services[0] (ssh).check: ssh must be a mapping"),
    ([{"name": "ssh", "port": 22, "check": {"ssh": {"user": "root"}}}],
     "portproof_services[0] (ssh).check.ssh: unknown key user (allowed: auth_methods, host_key)"),
    ([{"name": "ssh", "port": 22, "check": {"ssh": {"host_key": "MD5:aa:bb"}}}],
     "portproof_services[0] (ssh).check.ssh: host_key must be a SHA256:... fingerprint or a list of them, got 'MD5:aa:bb'"),
    ([{"name": "ssh", "port": 22, "check": {"ssh": {"host_key": []}}}],
     "portproof_services[0] (ssh).check.ssh: host_key must be a SHA256:... fingerprint or a list of them, got []"),
    ([{"name": "web", "port": 80, "check": {"max_ms": "200ms"}}], "portproof_services[0] (web).check: max_ms must be an integer >= 1, got '200ms'"),
    ([{"name": "web", "port": 80, "check": {"load": [20]}}], "portproof_services[0] (web).check: load must be a mapping"),
    ([{"name": "db", "port": 5432, "check": {"protocol": "postgresql"}}],
     "portproof_services[0] (db): check.protocol must be one of http, tls, ssh, postgres, mysql, redis, memcached, mongodb, amqp, smtp, imap, "
     "pop3, ftp, dns, ntp, ldap, kafka, got 'postgresql'"),
    ([{"name": "redis", "port": 6379, "check": {"protocol": "redis", "send": "PING\r\n", "expect": "PONG"}}],
     "portproof_services[0] (redis): check.protocol cannot be combined with send, expect (the protocol handshake is its own request)"),
    ([{"name": "db", "port": 5432, "proto": "udp", "check": {"protocol": "postgres"}}],
     "portproof_services[0] (db): check.protocol postgres is not probed over udp (udp: dns, ntp)"),
    ([{"name": "web", "port": 80, "check": {"load": {"rate": 5}}}],
     "portproof_services[0] (web).check.load: unknown key rate (allowed: concurrency, requests, p95_ms, max_errors)"),
    ([{"name": "web", "port": 80, "check": {"load": {"requests": 0}}}],
     "portproof_services[0] (web).check.load: requests must be an integer >= 1, got 0"),
    ([{"name": "web", "port": 80, "check": {"load": {"p95_ms": True}}}],
     "portproof_services[0] (web).check.load: p95_ms must be an integer >= 1, got True"),
    ([{"name": "web", "port": 80, "check": {"load": {"max_errors": -1}}}],
     "portproof_services[0] (web).check.load: max_errors must be an integer >= 0, got -1"),
]


@pytest.mark.parametrize("services, message", BAD, ids=[m.split(": ", 1)[1][:40] for _s, m in BAD])
def test_bad_contract_names_host_variable_item_and_reason(services, message):
    with pytest.raises(ContractError) as info:
        load([("portproof_services", services)])
    assert info.value.problems == [message]
    assert str(info.value) == "invalid portproof contract for host db1:\n  - " + message


def test_the_role_reports_the_host_with_every_problem():
    """roles/validate/tasks/gather.yml validates through the action contract_load: the task fails with this message."""
    hostvars = {"portproof_services__db": [{"name": "pg", "port": 5432, "check": {"tls": {"verify": "no"}}}],
                "portproof_services": [{"name": "web", "port": 80, "check": {"http": {"headers": {"X-Token": "s3cr3t\n"}}}}]}
    groups = {"all": ["db1", "app1"], "ungrouped": [], "db": ["db1"]}
    with pytest.raises(StepError) as info:
        host_contract(hostvars, "db1", groups)
    assert str(info.value) == (
        "invalid portproof contract for host db1:\n"
        "  - portproof_services[0] (web).check.http: header 'X-Token' must be a header name with a one-line string value "
        "(the value is not shown)\n"
        "  - portproof_services__db[0] (pg).check.tls: verify must be true or false, got 'no'")
    assert "s3cr3t" not in str(info.value)


def test_scoped_ipv6_addresses_count_as_their_address():
    service = load([("portproof_services", [{"name": "dhcp6", "port": 547, "proto": "udp", "bind": "fe80::1%eth0",
                                             "allow_from": ["fe80::2%eth0", "fe80::/10"], "deny_from": ["fe80::3%pp-fifteen-char"]}])])[0]
    assert service["bind"] == [{"network": "fe80::1/128"}]
    assert service["allow_from"] == [{"kind": "cidr", "name": "fe80::2%eth0", "network": "fe80::2/128"},
                                     {"kind": "cidr", "name": "fe80::/10", "network": "fe80::/10"}]
    assert service["deny_from"] == [{"kind": "cidr", "name": "fe80::3%pp-fifteen-char", "network": "fe80::3/128"}]
    with pytest.raises(ContractError) as info:
        load([("portproof_services", [{"name": "x", "port": 1, "bind": "fe80::1%"}])], address="fe80::1%eth0")
    assert info.value.problems == [
        "portproof_services[0] (x): bind 'fe80::1%' is neither one of any, loopback, internal, public nor an IP address or CIDR",
        "portproof_address: 'fe80::1%eth0' is not an IP address (a scoped address: give it without %eth0)"]


def test_port_65535_is_the_last_port():
    services = load([("portproof_services", [{"name": "edge", "port": 65535, "proto": "udp",
                                              "publish": {"container": "edge", "container_port": 65535}}])])
    assert (services[0]["port"], services[0]["publish"]["container_port"]) == (65535, 65535)
    assert parse_port_spec("65535") == (65535, 65535, ("tcp", "udp"))
    assert parse_port_spec("1-65535/udp") == (1, 65535, ("udp",))
    with pytest.raises(ValueError, match="^port spec '65535-65536/tcp' is outside 1-65535 or its range is reversed$"):
        parse_port_spec("65535-65536/tcp")


def test_not_a_list():
    with pytest.raises(ContractError) as info:
        load([("portproof_services__db", {"name": "pg"})])
    assert info.value.problems == ["portproof_services__db: must be a list of services, got dict"]


def test_every_problem_is_reported_at_once():
    with pytest.raises(ContractError) as info:
        load([("portproof_services", [{"name": "a", "port": 0}, {"name": "b", "port": 1, "proto": "icmp"}])],
             strict="maybe", ignore=["22/tcp", "99999"], address="10.0.0.300")
    assert info.value.problems == [
        "portproof_services[0] (a): port 0 is out of range 1-65535",
        "portproof_services[1] (b): proto 'icmp' is not tcp or udp",
        "portproof_strict: must be true or false (or what Ansible takes for them: yes, no, on, off, 1, 0), got 'maybe'",
        "portproof_ignore[1]: port spec '99999' is outside 1-65535 or its range is reversed",
        "portproof_address: '10.0.0.300' is not an IP address",
    ]


@pytest.mark.parametrize("given", [True, False, "false", "no", "off", "0", "true", "yes", "on", "1", "True", 0, 1])
def test_strict_takes_what_ansible_takes_for_a_boolean(given):
    # -e portproof_strict=false gives the string 'false'
    assert load([("portproof_services", [{"name": "a", "port": 1}])], strict=given)[0]["name"] == "a"


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


SECRET = "Bearer s3cr3t-t0ken"


@pytest.mark.parametrize("item, message", [
    # a list where the item should be (one '-' too many in YAML): the whole list is not shown
    ([{"name": "web", "port": 80, "check": {"http": {"headers": {"Authorization": SECRET}}}}],
     "portproof_services[0]: must be a mapping with at least name and port, got [...]"),
    # the secret header value pasted into another key: masked wherever it appears
    ({"name": "web", "port": 80, "check": {"http": {"headers": {"Authorization": SECRET}, "path": SECRET}}},
     "portproof_services[0] (web).check.http: path must start with / and contain no spaces or control characters, got '********'"),
    ({"name": "web", "port": 80, "check": {"http": {"basic_auth": {"user": "u", "password": "s3cr3t-pw"}, "host": "s3cr3t-pw\n"}}},
     "portproof_services[0] (web).check.http: host must be a host name for the Host header, got '********\\n'"),
    # a mapping where a string should be: it may hold anything, it is not shown
    ({"name": "web", "port": 80, "check": {"tls": {"hostname": {"token": SECRET}}}},
     "portproof_services[0] (web).check.tls: hostname must be a non-empty string, got {...}"),
])
def test_a_wrong_item_never_shows_a_secret(item, message):
    with pytest.raises(ContractError) as info:
        load([("portproof_services", [item])])
    assert info.value.problems == [message]
    assert "s3cr3t" not in str(info.value)


def test_names_is_a_list_of_strings():
    """SPEC section 4: names, the DNS names clients use."""
    assert load([("portproof_services", [{"name": "pg", "port": 5432, "names": ["db.internal"]}])])[0]["name"] == "pg"
    with pytest.raises(ContractError) as info:
        load([("portproof_services", [{"name": "pg", "port": 5432, "names": "db.internal"}])])
    assert info.value.problems == ["portproof_services[0] (pg): names must be a non-empty list of DNS names, got 'db.internal'"]


def test_a_key_given_as_null_is_not_given():
    """As in every Ansible argument spec: `allow_from:` with nothing after it is no allow_from."""
    service = load([("portproof_services", [{"name": "web", "port": 80, "proto": None, "bind": None, "process": None,
                                             "allow_from": None, "deny_from": None, "publish": None,
                                             "check": {"tls": None, "send": None, "http": {"path": None, "headers": None}}}])])[0]
    assert (service["proto"], service["bind"], service["process"], service["allow_from"], service["deny_from"], service["publish"],
            service["check"]) == ("tcp", [{"class": "any"}], None, [], [], None, {"http": {}})
    with pytest.raises(ContractError) as info:
        load([("portproof_services", [{"name": None, "port": None}])])
    assert info.value.problems == ["portproof_services[0]: name is required and must be a non-empty string",
                                   "portproof_services[0]: port None is not an integer or 'auto'"]
