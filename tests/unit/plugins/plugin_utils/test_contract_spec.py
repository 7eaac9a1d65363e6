# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The argument spec of a contract item: it is the documented contract, ansible-core's
ArgumentSpecValidator takes it, and every refusal is translated into an exact message."""

from __future__ import annotations

import os
import re

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.portproof.validate.plugins.plugin_utils import _contract_spec as spec
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import ContractError, load_contract

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "contract.md")
GROUPS = {"all", "ungrouped", "app", "web", "db"}
HOSTS = {"app1", "web1", "db1"}

# Every key of docs/contract.md, at every level, with a valid value.
FULL = {
    "name": "web", "port": "auto", "proto": "tcp", "bind": ["internal", "10.1.0.0/16"], "process": "nginx", "user": "www-data",
    "publish": {"container": "web-1", "container_port": 80, "image": "web:1.4.2", "host_ip": "10.1.0.5"},
    "names": ["web.internal"],
    "allow_from": ["app", "web1", "10.2.0.0/24", "controller"], "deny_from": ["db", "public"],
    "check": {
        "http": {"method": "GET", "path": "/health", "status": 200, "headers": {"X-Token": "t0ken-value"}, "body": "ok",
                 "json_query": "status == 'ok'", "host": "web.test", "basic_auth": {"user": "u", "password": "pa55word"}},
        "tls": {"min_days": 14, "verify": True, "ca": "/etc/ca.pem", "hostname": "web.test", "min_version": "TLSv1.2"},
        "max_ms": 200, "load": {"concurrency": 2, "requests": 10, "p95_ms": 250, "max_errors": 0},
    },
}
SSH_ITEM = {"name": "ssh", "port": 22, "check": {"ssh": {"auth_methods": ["publickey"], "host_key": ["SHA256:" + "A" * 43]}}}
SEND_ITEM = {"name": "redis", "port": 6379, "check": {"send": "PING\r\n", "expect": "^\\+PONG"}}
PROTOCOL_ITEM = {"name": "pg", "port": 5432, "check": {"protocol": "postgres"}}


def load(*items):
    return load_contract("db1", [("portproof_services", list(items))], GROUPS, HOSTS)


def problems(*items):
    with pytest.raises(ContractError) as info:
        load(*items)
    return info.value.problems


def _section(text, start, end):
    return text[text.index(start):text.index(end, text.index(start))]


def documented_keys():
    """{path: keys} of docs/contract.md: the first column of the tables, the keys named in the tls/ssh/load paragraphs."""
    with open(DOCS) as stream:
        text = stream.read()
    rows = re.compile(r"^\| `(\w+)` \|", re.M)
    check = _section(text, "### `check`", "## Host variables")
    found = {
        (): rows.findall(_section(text, "## Service keys", "### `bind` classes")),
        ("publish",): rows.findall(_section(text, "### `publish`", "### `check`")),
        ("check",): rows.findall(_section(check, "### `check`", "`http`:")),
        ("check", "http"): rows.findall(_section(check, "`http`:", "`tls`:")),
    }
    for key in ("tls", "ssh", "load"):
        paragraph = re.search(r"^`%s`: (.*?)(?:\n\n)" % key, check, re.M | re.S).group(1)
        found[("check", key)] = re.findall(r"`(\w+)` \(", paragraph)
    return found


def _level(path):
    level = spec.SERVICE_SPEC
    for key in path:
        level = level[key]["options"]
    return level


def spec_keys(path):
    return list(_level(path))


def test_the_spec_is_the_documented_contract():
    documented = documented_keys()
    assert documented[()] == ["name", "port", "proto", "bind", "process", "user", "publish", "allow_from", "deny_from", "check", "names", "restart"]
    for path, keys in documented.items():
        assert sorted(spec_keys(path)) == sorted(keys), path
    assert spec_keys(("check", "http", "basic_auth")) == ["user", "password"]


def test_ansible_core_takes_it_as_an_argument_spec():
    """The nested levels are validated one by one (strict mappings); each level alone is a plain argument spec."""
    for path in [(), ("publish",), ("check",), ("check", "http"), ("check", "http", "basic_auth"), ("check", "tls"),
                 ("check", "ssh"), ("check", "load")]:
        level = dict((key, dict((k, v) for k, v in entry.items() if k != "options")) for key, entry in
                     _level(path).items())
        sample = FULL
        for key in path:
            sample = sample[key] if key in sample else SSH_ITEM["check"]["ssh"]
        result = ArgumentSpecValidator(level).validate(sample)
        assert result.error_messages == [], path


def test_every_key_has_a_message():
    """A key the validator refuses is told in the collection's words: each key of the spec has one."""
    def paths(level, path):
        for key, entry in level.items():
            yield path + (key,)
            if "options" in entry:
                yield from paths(entry["options"], path + (key,))
    assert sorted(paths(spec.SERVICE_SPEC, ())) == sorted(spec.MESSAGES)


def test_an_item_with_every_documented_key_loads_as_given():
    services = load(FULL, SSH_ITEM, SEND_ITEM, PROTOCOL_ITEM)
    web = services[0]
    assert {key: web[key] for key in ("name", "port", "proto", "process", "user", "publish", "check")} == {
        "name": "web", "port": "auto", "proto": "tcp", "process": "nginx", "user": "www-data", "publish": FULL["publish"],
        "check": FULL["check"]}
    assert web["bind"] == [{"class": "internal"}, {"network": "10.1.0.0/16"}]
    assert [s["check"] for s in services[1:]] == [SSH_ITEM["check"], SEND_ITEM["check"], PROTOCOL_ITEM["check"]]


NAMED = "portproof_services[0] (web)"
UNKNOWN = [
    ({"name": "web", "port": 80, "publish": {"container": "w", "container_port": 80, "hostip": "1.2.3.4"}},
     NAMED + ".publish: unknown key hostip (allowed: container, container_port, image, host_ip)"),
    ({"name": "web", "port": 80, "check": {"maxms": 5, "http": {}}},
     NAMED + ".check: unknown key maxms (allowed: http, tls, send, expect, ssh, protocol, max_ms, load)"),
    ({"name": "web", "port": 80, "check": {"http": {"url": "/", "verb": "GET"}}},
     NAMED + ".check.http: unknown keys url, verb (allowed: method, path, status, headers, body, json_query, host, basic_auth)"),
    ({"name": "web", "port": 80, "check": {"tls": {"sni": "x"}}},
     NAMED + ".check.tls: unknown key sni (allowed: min_days, verify, ca, hostname, min_version)"),
    ({"name": "web", "port": 80, "check": {"ssh": {"user": "root"}}},
     NAMED + ".check.ssh: unknown key user (allowed: auth_methods, host_key)"),
    ({"name": "web", "port": 80, "check": {"load": {"rps": 5}}},
     NAMED + ".check.load: unknown key rps (allowed: concurrency, requests, p95_ms, max_errors)"),
    ({"name": "web", "port": 80, "check": {"http": {"basic_auth": {"user": "u", "token": "t0ken-value"}}}},
     NAMED + ".check.http: basic_auth must be a mapping with user and password strings (the values are not shown)"),
    ({"name": "web", "port": 80, 8080: "tcp"},
     NAMED + ": unknown key 8080 (allowed: name, port, proto, bind, process, user, publish, names, allow_from, deny_from, check, restart)"),
]
WRONG_TYPE = [
    ({"name": "web", "port": 80, "names": "web.internal"}, NAMED + ": names must be a non-empty list of DNS names, got 'web.internal'"),
    ({"name": "web", "port": 80, "names": ["web.internal", 5]}, NAMED + ": names must be a non-empty list of DNS names, got ['web.internal', 5]"),
    ({"name": "web", "port": 80, "bind": {"any": True}}, NAMED + ": bind entry {...} is not a string"),
    ({"name": "web", "port": 80, "proto": ["tcp"]}, NAMED + ": proto ['tcp'] is not tcp or udp"),
    ({"name": "web", "port": 80, "allow_from": [["app"]]}, NAMED + ": allow_from entry ['app'] is not a string"),
    ({"name": "web", "port": 80, "publish": {"container": 5, "container_port": 80}},
     NAMED + ": publish.container is required (the container's name)"),
    ({"name": "web", "port": 80, "publish": {"container": "w"}}, NAMED + ".publish.container_port: port is required"),
    ({"name": "web", "port": 80, "publish": {"container": "w", "container_port": True}},
     NAMED + ".publish.container_port: port True is not an integer"),
    ({"name": "web", "port": 80, "publish": {"container": "w", "container_port": 80, "host_ip": 167837957}},
     NAMED + ": publish.host_ip 167837957 is not an IP address"),
    ({"name": "web", "port": 80, "check": {"expect": 200}}, NAMED + ": check.expect must be a regular expression string, got 200"),
    ({"name": "web", "port": 80, "check": {"http": {"method": 1}}},
     NAMED + ".check.http: method must be an HTTP method such as GET or POST, got 1"),
    ({"name": "web", "port": 80, "check": {"http": {"path": ["/a"]}}},
     NAMED + ".check.http: path must start with / and contain no spaces or control characters, got ['/a']"),
    ({"name": "web", "port": 80, "check": {"http": {"headers": "X-Token=t0ken-value"}}},
     NAMED + ".check.http: headers must be a mapping of header names to values"),
    ({"name": "web", "port": 80, "check": {"http": {"host": 8080}}},
     NAMED + ".check.http: host must be a host name for the Host header, got 8080"),
    ({"name": "web", "port": 80, "check": {"http": {"basic_auth": {"user": ["u"], "password": "pa55word"}}}},
     NAMED + ".check.http: basic_auth must be a mapping with user and password strings (the values are not shown)"),
    ({"name": "web", "port": 80, "check": {"tls": {"min_days": "14"}}}, NAMED + ".check.tls: min_days must be an integer >= 0, got '14'"),
    ({"name": "web", "port": 80, "check": {"tls": {"ca": 5}}}, NAMED + ".check.tls: ca must be a non-empty string, got 5"),
    ({"name": "web", "port": 80, "check": {"ssh": {"auth_methods": ["publickey", 1]}}},
     NAMED + ".check.ssh: auth_methods must be a list of method names"),
    ({"name": "web", "port": 80, "check": {"ssh": {"host_key": ["SHA256:x", 1]}}},
     NAMED + ".check.ssh: host_key must be a SHA256:... fingerprint or a list of them, got ['SHA256:x', 1]"),
    ({"name": "web", "port": 80, "check": {"load": {"concurrency": 2.5}}},
     NAMED + ".check.load: concurrency must be an integer >= 1, got 2.5"),
    # a mapping where Ansible's own type: dict would take a string of key=value pairs
    ({"name": "web", "port": 80, "check": "max_ms=5"}, NAMED + ": check must be a mapping"),
    ({"name": "web", "port": 80, "publish": "container=web container_port=80"},
     NAMED + ": publish must be a mapping with container and container_port"),
]
BAD_CHOICE = [
    ({"name": "web", "port": 80, "proto": "sctp"}, NAMED + ": proto 'sctp' is not tcp or udp"),
    ({"name": "web", "port": 80, "check": {"protocol": "https"}},
     NAMED + ": check.protocol must be one of http, tls, ssh, postgres, mysql, redis, memcached, mongodb, amqp, smtp, imap, pop3, "
             "ftp, dns, ntp, ldap, kafka, got 'https'"),
    ({"name": "web", "port": 80, "check": {"tls": {"min_version": "TLSv1.4"}}},
     NAMED + ".check.tls: min_version must be one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3, got 'TLSv1.4'"),
]


@pytest.mark.parametrize("item, message", UNKNOWN + WRONG_TYPE + BAD_CHOICE,
                         ids=[m.split(": ", 1)[1][:50] for _i, m in UNKNOWN + WRONG_TYPE + BAD_CHOICE])
def test_each_refusal_has_its_exact_message(item, message):
    assert problems(item) == [message]


def test_every_wrong_key_of_an_item_is_told_once_and_its_good_keys_still_checked():
    assert problems({"name": "web", "port": "80", "proto": "icmp", "bind": "intranet", "bnid": 1,
                     "check": {"http": {"status": "200", "path": "health"}}}) == [
        NAMED + ": unknown key bnid (allowed: name, port, proto, bind, process, user, publish, names, allow_from, deny_from, check, restart)",
        NAMED + ": port '80' is not an integer or 'auto'",
        NAMED + ": proto 'icmp' is not tcp or udp",
        NAMED + ".check.http: status must be an HTTP status code 100-599, got '200'",
        NAMED + ": bind 'intranet' is neither one of any, loopback, internal, public nor an IP address or CIDR",
        NAMED + ".check.http: path must start with / and contain no spaces or control characters, got 'health'",
    ]


@pytest.mark.parametrize("value, text", [
    ("s3cr3t", "'s3cr3t'"), (5, "5"), (None, "None"), (["a", 1], "['a', 1]"), ({"password": "s3cr3t"}, "{...}"),
    ([{"password": "s3cr3t"}], "[...]"),
])
def test_a_value_is_shown_only_when_it_cannot_hold_a_mapping(value, text):
    assert spec.shown(value) == text


def test_masking_leaves_short_values_and_takes_the_longest_first():
    assert spec.mask(["path 'Bearer s3cr3t-token' with value v"], ["v", "s3cr3t", "Bearer s3cr3t-token"]) == [
        "path '********' with value v"]
