# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The small decisions of the role validate's steps (plugin_utils/_validate_steps.py): which variables are the
contract, when a play would check nothing, what the contract keeps of a secret, where a baseline is."""

from __future__ import annotations

import os

import pytest

from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import (
    SECRET, StepError, baseline_path, baseline_root, contract_names, failed_hosts, host_contract, nothing_declared, read_baseline,
    refusal_message, static_checks,
)

GROUPS = {"all": ["db1", "app1"], "ungrouped": [], "db": ["db1"], "app": ["app1"]}


def test_the_contract_variables_are_portproof_services_and_its_suffixed_names_in_name_order():
    names = ["portproof_services__z", "portproof_services", "portproof_services__", "portproof_servicesx", "portproof_services__a",
             "my_portproof_services", "portproof_strict"]
    assert contract_names(names) == ["portproof_services", "portproof_services__a", "portproof_services__z"]


@pytest.mark.parametrize("contracts, strict, refused", [
    ([[], []], [False], True),  # nothing declared, strict nowhere
    ([[], None], [False], False),  # a host not yet past its contract (strategy free) is not counted as empty
    ([[], [{"name": "pg"}]], [False], False),
    ([[], []], [False, True], False),  # one host strict: nothing undeclared may listen there
    ([[], []], [True], False),  # the play strict
    ([], [False], True),
])
def test_a_play_checks_nothing_when_no_host_declares_a_service_and_none_is_strict(contracts, strict, refused):
    assert nothing_declared(contracts, strict) is refused


def test_the_refusal_names_the_hosts():
    assert refusal_message(["db1", "app1"]).startswith("portproof: no host of this play (db1, app1) declares a service: ")


def test_the_contract_masks_http_secrets_and_keeps_the_rest():
    given = {"portproof_services": [{"name": "web", "port": 80, "check": {"http": {
        "path": "/health", "headers": {"X-Token": "s3cret"}, "basic_auth": {"user": "u", "password": "pw"}}}}]}
    (service,) = host_contract(given, "db1", GROUPS)
    http = service["check"]["http"]
    assert (http["headers"], http["basic_auth"], http["path"]) == ({"X-Token": SECRET}, {"user": "u", "password": SECRET}, "/health")
    assert given["portproof_services"][0]["check"]["http"]["headers"] == {"X-Token": "s3cret"}  # the variables are left as they are


def test_unknown_check_kinds_are_named():
    with pytest.raises(StepError, match=r"^static_checks: unknown check kinds latency \(known: listen, "):
        static_checks([], {}, "db1", kinds=["listen", "latency"])


def test_the_baseline_is_under_its_directory_named_like_the_evidence(tmp_path, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    assert baseline_root("") == baseline_root(None) == str(tmp_path / "portproof-baseline")
    assert baseline_path(baseline_root("b"), "src@1") == str(tmp_path / "b" / "src%401.json")
    assert read_baseline(str(tmp_path / "none.json")) is None
    os.mkdir(str(tmp_path / "dir.json"))
    assert read_baseline(str(tmp_path / "dir.json")) is None  # a directory where the file would be is no baseline
    (tmp_path / "db1.json").write_bytes(b'{"host": "db1"}')
    assert read_baseline(str(tmp_path / "db1.json")) == '{"host": "db1"}'


def test_the_failed_hosts_are_those_a_failed_or_errored_result_is_about_with_their_messages_in_order():
    results = [{"host": "web1", "status": "fail", "message": "w1"}, {"host": "db1", "status": "pass", "message": "ok"},
               {"host": "db1", "status": "error", "message": "d1"}, {"host": "app1", "status": "skip", "message": "s"},
               {"host": "db1", "status": "fail", "message": "d2"}]
    assert list(failed_hosts(results).items()) == [("db1", ["d1", "d2"]), ("web1", ["w1"])]
    assert failed_hosts([]) == {}


# ------------------------------------------------------------------------------------------------ gather_subset
@pytest.mark.parametrize("checks, subset", [
    # the default kinds: nothing reads who starts a listener nor the firewall loaded at boot
    (["listen", "bind", "process", "undeclared", "firewall_allow", "firewall_deny", "mapping", "reach", "isolation", "drift"],
     ["listeners", "firewall", "mappings", "addresses"]),
    ([], ["listeners", "firewall", "mappings", "addresses"]),
    (["persist"], ["listeners", "firewall", "mappings", "addresses", "saved_firewall", "starters"]),
    (["listen", "persist", "persist"], ["listeners", "firewall", "mappings", "addresses", "saved_firewall", "starters"]),
])
def test_the_gathered_subsets_are_those_the_chosen_checks_read(checks, subset):
    from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import gather_subset
    assert gather_subset(checks) == subset


@pytest.mark.parametrize("checks", ["persist", None, {"persist": True}, ["listen", 3]])
def test_checks_that_are_no_list_of_kinds_are_refused_by_name(checks):
    from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import gather_subset
    with pytest.raises(StepError) as caught:
        gather_subset(checks)
    assert str(caught.value) == "portproof_checks must be a list of check kinds, got %r" % (checks,)


@pytest.mark.parametrize("gathered, facts, subsets, now", [
    (False, None, ["listeners"], True),  # first gather of the run
    (True, {"listeners": [], "firewall": {}}, ["listeners", "firewall"], False),  # gathered already with what is read
    # a play gathered for the default kinds first (baseline, or validate without persist), then validate with persist:
    # the facts lack what persist reads, gather again
    (True, {"listeners": [], "firewall": {}, "mappings": [], "addresses": []},
     ["listeners", "firewall", "mappings", "addresses", "saved_firewall", "starters"], True),
    (True, None, ["listeners"], True),  # marked gathered, facts gone
])
def test_the_role_gathers_again_when_earlier_facts_lack_a_subset_the_checks_read(gathered, facts, subsets, now):
    from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import must_gather
    assert must_gather(gathered, facts, subsets) is now
