# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Property-based tests over the controller-side parsers: the contract, port specs and saved
baselines. Any input gives a result or the parser's own error (ContractError, ValueError naming
the spec, AnsibleFilterError, a drift ``error`` result), never another exception.
"""

from __future__ import annotations

import copy
import json
import os

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.portproof.validate.plugins.filter.port_spec import port_spec_filter
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import (
    ContractError, load_contract, parse_port_spec,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._drift import drift
from ansible_collections.portproof.validate.tests.unit.props import ODD_JSON_VALUES, ODD_TOKENS, mutated_json, mutated_text

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "drift")
GROUPS = {"all", "ungrouped", "app", "web", "db"}
HOSTS = {"app1", "web1", "db1"}

VALID = [
    {"name": "postgres", "port": 5432, "bind": ["internal", "10.1.0.0/16"], "process": "postgres", "user": "postgres",
     "allow_from": ["app", "10.2.0.0/24", "fe80::1%eth0"], "deny_from": ["web", "public"]},
    {"name": "web", "port": "auto", "proto": "tcp",
     "publish": {"container": "web", "container_port": 80, "image": "web:1", "host_ip": "0.0.0.0"},
     "check": {"http": {"method": "GET", "path": "/health", "status": 200, "headers": {"X-A": "b"}, "body": "ok",
                        "json_query": "status", "host": "web.test", "basic_auth": {"user": "u", "password": "p"}},
               "tls": {"min_days": 14, "verify": True, "ca": "/etc/ca.pem", "hostname": "web.test", "min_version": "TLSv1.2"},
               "max_ms": 200, "load": {"concurrency": 2, "requests": 10, "p95_ms": 250, "max_errors": 0}}},
    {"name": "ssh", "port": 22, "check": {"ssh": {"auth_methods": ["publickey"], "host_key": "SHA256:" + "A" * 43}}},
    {"name": "statsd", "port": 8125, "proto": "udp", "bind": "::1", "check": {"send": "ping", "expect": "^pong"}},
]

ANY_VALUE = st.recursive(ODD_JSON_VALUES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.one_of(st.sampled_from(["name", "port", "proto", "bind", "check", "http", "publish"]), st.text(max_size=6)),
    inner, max_size=4), max_leaves=12)


def _check_problems(exc, host):
    assert exc.host == host
    assert exc.problems and all(isinstance(problem, str) and problem for problem in exc.problems)
    assert str(exc).startswith("invalid portproof contract for host %s:\n  - " % host)


@given(services=st.one_of(mutated_json([VALID], max_edits=6), ANY_VALUE),
       strict=st.one_of(st.booleans(), ODD_JSON_VALUES),
       ignore=st.one_of(st.none(), st.lists(st.one_of(st.sampled_from(ODD_TOKENS), st.text(max_size=12), st.integers()), max_size=3)),
       address=st.one_of(st.none(), st.sampled_from(ODD_TOKENS), st.text(max_size=20)))
def test_contract_loads_or_names_every_problem(services, strict, ignore, address):
    try:
        loaded = load_contract("db1", [("portproof_services", services)], GROUPS, HOSTS, strict=strict, ignore=ignore,
                               address=address)
    except ContractError as exc:
        _check_problems(exc, "db1")
        return
    for service in loaded:
        assert isinstance(service["name"], str) and service["name"]
        assert service["port"] == "auto" or 1 <= service["port"] <= 65535
        assert service["proto"] in ("tcp", "udp")


@given(spec=st.one_of(st.text(max_size=20), st.integers(-2 ** 70, 2 ** 70), st.sampled_from(ODD_TOKENS),
                      st.builds("{}-{}/{}".format, st.integers(-5, 70000), st.integers(-5, 70000), st.sampled_from(["tcp", "udp", "x"])),
                      ODD_JSON_VALUES))
def test_port_spec_parses_or_names_the_spec(spec):
    try:
        first, last, protos = parse_port_spec(spec)
    except ValueError as exc:
        assert str(exc).startswith("port spec %r " % (spec,))
        with pytest.raises(AnsibleFilterError, match="^port_spec: port spec "):
            port_spec_filter(spec)
        return
    assert 1 <= first <= last <= 65535 and set(protos) <= {"tcp", "udp"}
    assert port_spec_filter(spec) == {"first": first, "last": last, "protos": list(protos)}


def _load(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


LAB = _load("lab.json")
BASELINES = dict((host, _load("baseline-%s.json" % host)) for host in ("app1", "db1", "web1"))
FACTS = dict((host, _load("facts-before-%s.json" % host)) for host in ("app1", "db1", "web1"))


def _contract(host):
    import yaml

    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 4))
    with open(os.path.join(repo, "molecule", "report", "molecule.yml")) as handle:
        host_vars = yaml.safe_load(handle)["provisioner"]["inventory"]["host_vars"]
    return load_contract(host, [("portproof_services", host_vars[host]["portproof_services"])], set(LAB["groups"]) | {"all"},
                         set(LAB["addresses"]))


CONTRACTS = dict((host, _contract(host)) for host in BASELINES)
GROUP_MAP = dict(LAB["groups"], all=sorted(LAB["addresses"]))
HOSTVARS = dict((name, {"ansible_host": address}) for name, address in LAB["addresses"].items())


@settings(max_examples=100)
@given(host=st.sampled_from(sorted(BASELINES)), data=st.data())
def test_saved_baseline_compares_or_gives_an_error_result(host, data):
    baseline = data.draw(st.one_of(mutated_json([BASELINES[host]], max_edits=5),
                                   mutated_text([json.dumps(BASELINES[host], indent=1)], max_edits=2), ANY_VALUE))
    text = baseline if isinstance(baseline, str) else json.dumps(baseline)
    results = drift(text, CONTRACTS[host], copy.deepcopy(FACTS[host]), host, GROUP_MAP, HOSTVARS, LAB["addresses"][host])
    assert results
    for item in results:
        assert item["check"] == "drift" and item["status"] in ("pass", "fail", "skip", "error")
        if item["status"] == "error" and item["service"] is None:
            assert item["message"].startswith("%s: the baseline for %s " % (host, host))
