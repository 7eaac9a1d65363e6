# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""discover's inference and files over port_facts captured on real lab hosts (fixtures/static from
tests/lab/specs/molecule-static.yml, fixtures/drift from the drift lab: see the capture.py beside them)."""

from __future__ import annotations

import copy
import json
import os

import pytest
import yaml

from ansible_collections.portproof.validate.plugins.action.discover_write import DiscoverDirError, earlier_output
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._discover import (
    DiscoverError, bind_of, discover_host, process_regex,
)
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_files import build_files
from ansible_collections.portproof.validate.plugins.plugin_utils._discover_render import MARKER, marker_files, scalar
from ansible_collections.portproof.validate.plugins.plugin_utils._addrclass import ALL

HERE = os.path.join(os.path.dirname(__file__), "fixtures")
STAMP = "2026-12-06T19:00:00Z"


def _lab(name):
    with open(os.path.join(HERE, name, "lab.json")) as handle:
        lab = json.load(handle)
    groups = dict(lab["groups"], all=sorted(lab["addresses"]))
    hostvars = {host: {"ansible_host": address} for host, address in lab["addresses"].items()}
    return lab, groups, hostvars


def _facts(name, host, prefix="facts-"):
    with open(os.path.join(HERE, name, "%s%s.json" % (prefix, host))) as handle:
        return json.load(handle)


STATIC, STATIC_GROUPS, STATIC_HOSTVARS = _lab("static")
STATIC_FACTS = {host: _facts("static", host) for host in ("db1", "bad1", "ctr1")}


def _services(text, variable="portproof_services__discovered"):
    return {s["name"]: s for s in yaml.safe_load(text)[variable]}


@pytest.mark.parametrize("comm, regex", [("postgres", "postgres"), ("redis-server", "redis-server"), ("php-fpm8.2", r"php-fpm8\.2"),
                                         ("(sd-pam)", r"\(sd-pam\)"), ("a+b", r"a\+b")])
def test_the_process_regex_matches_the_name_in_full(comm, regex):
    import re
    assert process_regex(comm) == regex
    assert re.fullmatch(regex, comm)


@pytest.mark.parametrize("binds, expected", [
    ([(4, "127.0.0.1"), (6, "::1")], ["loopback"]),
    ([(4, "127.0.0.1"), (4, "10.1.0.5")], ["internal"]),
    ([(4, "10.1.0.5")], ["internal"]),
    ([(4, ALL)], ["public"]),
    ([(4, "127.0.0.1"), (6, ALL)], ["loopback", "public"]),
    ([(4, "198.51.100.7")], ["public"]),
])
def test_bind_is_the_narrowest_class_that_holds(binds, expected):
    assert bind_of(binds) == expected


@pytest.mark.parametrize("value, text", [("postgres", "postgres"), ("22/tcp", '"22/tcp"'), ("yes", '"yes"'), ("on", '"on"'),
                                         ("a: b", '"a: b"'), ("x #y", '"x #y"'), ("10.1.0.5", '"10.1.0.5"'), (5432, "5432"),
                                         ("caf\u00e9\n", '"caf\\u00e9\\n"'), ("", '""'), ("web-", '"web-"')])
def test_scalars_load_back_as_written(value, text):
    assert scalar(value) == text
    assert yaml.safe_load("k: %s" % text) == {"k": value}


def test_the_static_lab_is_discovered_as_the_checks_would_decide():
    files, verification = build_files(STATIC_FACTS, STATIC_GROUPS, STATIC_HOSTVARS, STATIC["addresses"], STAMP, "portproof-discovered")
    assert verification == {}
    assert sorted(files) == [MARKER, "README.md", "host_vars/bad1.yml", "host_vars/ctr1.yml", "host_vars/db1.yml", "hosts.yml"]
    db1 = yaml.safe_load(files["host_vars/db1.yml"])
    assert db1["portproof_strict"] is True and db1["portproof_ignore"] == ["22/tcp"]
    services = _services(files["host_vars/db1.yml"])
    # iptables on db1 drops web1 on 5432 and accepts the rest: web is denied, every other group and the controller allowed
    assert services["postgres"] == {"name": "postgres", "port": 5432, "proto": "tcp", "bind": "internal", "process": "postgres",
                                    "user": "nobody", "allow_from": ["app", "containers", "db", "controller"], "deny_from": ["web"]}
    assert services["api"]["bind"] == "public" and services["api"]["deny_from"] == []
    assert "  - web  # drop by rule ip filter INPUT #1: -A INPUT -s 10.231.9.12/32 -p tcp -m tcp --dport 5432 -j DROP" \
        in files["host_vars/db1.yml"]
    assert "    # check: {protocol: postgres}  # a guess" in files["host_vars/db1.yml"]
    bad1 = _services(files["host_vars/bad1.yml"])
    assert sorted(bad1) == ["grpc-server", "mysqld", "nc", "postgres", "redis-server", "rsyslogd"]
    assert bad1["mysqld"]["allow_from"] == [] and bad1["mysqld"]["deny_from"] == ["app", "containers", "db", "web"]
    assert bad1["rsyslogd"]["proto"] == "udp"
    # grpc-server listens on IPv6 only, so the IPv4 address other hosts reach bad1 at gets nothing: no allow_from
    assert bad1["grpc-server"]["allow_from"] == []
    assert "grpc-server: the firewall lets app, containers, db, web, controller in, but nothing listens on the address" \
        in files["README.md"]
    ctr1 = _services(files["host_vars/ctr1.yml"])
    assert ctr1["blog"]["port"] == "auto"  # published on 32869, a port podman chose
    assert ctr1["blog"]["publish"] == {"container": "blog", "container_port": 80, "image": "localhost/portproof-lab/busybox:1"}
    assert ctr1["wiki"]["publish"]["host_ip"] == "10.231.9.15" and ctr1["wiki"]["bind"] == "internal"
    assert ctr1["shop"]["port"] == 8082 and ctr1["shop"]["process"] == "httpd"
    assert "(net:[4026531833], pp-c191fa-app1" in files["host_vars/ctr1.yml"]  # other lab hosts' namespaces are not ctr1's
    # what was written loads as a valid contract for each host
    for host in ("db1", "bad1", "ctr1"):
        data = yaml.safe_load(files["host_vars/%s.yml" % host])
        load_contract(host, [("portproof_services__discovered", data["portproof_services__discovered"])], set(STATIC_GROUPS),
                      set(STATIC["addresses"]), strict=True, ignore=data["portproof_ignore"])


def test_ssh_may_be_declared_instead_of_ignored():
    found = discover_host("db1", STATIC_FACTS["db1"], STATIC_GROUPS, STATIC_HOSTVARS, "10.231.9.13", ssh="declare")
    assert found.ignore == []
    sshd = [e["service"] for e in found.services if e["service"]["port"] == 22]
    assert [(s["name"], s["bind"], s["process"]) for s in sshd] == [("sshd", ["internal"], "sshd")]
    with pytest.raises(DiscoverError, match=r"portproof_discover_ssh: must be one of ignore, declare, got 'maybe'"):
        discover_host("db1", STATIC_FACTS["db1"], STATIC_GROUPS, STATIC_HOSTVARS, "10.231.9.13", ssh="maybe")


def test_loopback_only_listeners_are_left_out_with_a_comment():
    lab, groups, hostvars = _lab("drift")
    facts = {host: _facts("drift", host, "facts-before-") for host in ("app1", "web1", "db1")}
    files, verification = build_files(facts, groups, hostvars, lab["addresses"], STAMP, "portproof-discovered")
    assert verification == {}
    assert sorted(_services(files["host_vars/db1.yml"])) == ["postgres"]
    assert "# left out: 6379/tcp: loopback only (127.0.0.1:6379 (redis-server)); strict mode does not report it" \
        in files["host_vars/db1.yml"]


def test_an_ephemeral_port_is_ignored_by_its_range():
    lab, groups, hostvars = _lab("drift")
    facts = copy.deepcopy(_facts("drift", "app1", "facts-before-"))
    (statsd,) = [item for item in facts["listeners"] if item["netns"] == "host" and item["port"] == 8125]
    statsd["port"] = 41234  # as a UDP client socket bound by the kernel would be
    found = discover_host("app1", facts, groups, hostvars, lab["addresses"]["app1"])
    assert [e["service"]["name"] for e in found.services] == ["gunicorn"]
    assert found.ignore[1] == ("32768-60999/udp", "ephemeral ports, chosen by the kernel (0.0.0.0:41234 (statsd))")
    assert "41234/udp: an ephemeral port (0.0.0.0:41234 (statsd)), which changes on restart: ignored through 32768-60999/udp" \
        in found.left_out


def test_what_every_member_of_a_group_serves_alike_goes_to_the_group():
    # the same captured host under two names in one group: its services move to group_vars, the rest stays
    groups = dict(STATIC_GROUPS, pg=["db1", "db1b"], all=STATIC_GROUPS["all"] + ["db1b"])
    hostvars = dict(STATIC_HOSTVARS, db1b={"ansible_host": "10.231.9.13"})
    facts = {"db1": STATIC_FACTS["db1"], "db1b": STATIC_FACTS["db1"]}
    files, _verification = build_files(facts, groups, hostvars, {"db1": "10.231.9.13", "db1b": "10.231.9.13"}, STAMP, "d")
    assert sorted(files) == [MARKER, "README.md", "group_vars/pg.yml", "host_vars/db1.yml", "host_vars/db1b.yml", "hosts.yml"]
    assert sorted(_services(files["group_vars/pg.yml"], "portproof_services__discovered_pg")) == ["api", "postgres"]
    assert "portproof_services__discovered" not in yaml.safe_load(files["host_vars/db1.yml"])


def test_with_an_existing_contract_only_what_it_lacks_is_proposed():
    existing = load_contract("db1", [("portproof_services", [{"name": "pg", "port": 5432, "allow_from": ["app"]}])],
                             set(STATIC_GROUPS), set(STATIC["addresses"]))
    files, verification = build_files({"db1": STATIC_FACTS["db1"]}, STATIC_GROUPS, STATIC_HOSTVARS, {"db1": "10.231.9.13"}, STAMP,
                                      "d", existing={"db1": existing})
    assert verification == {}
    assert sorted(_services(files["host_vars/db1.yml"])) == ["api"]
    readme = files["README.md"]
    assert "Your inventory already declares services" in readme
    for line in ("db1: service pg (portproof_services[0]): allow_from lacks controller: accepted",
                 "db1: service pg (portproof_services[0]): deny_from lacks web: drop by rule ip filter INPUT #1"):
        assert line in readme, readme


def test_a_directory_that_discover_did_not_write_is_refused(tmp_path):
    assert earlier_output(str(tmp_path / "missing")) == []
    assert earlier_output(str(tmp_path)) == []
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DiscoverDirError, match=r"is not empty and is not the output of an earlier discover \(it has no "
                                               r"\.portproof-discovered\)"):
        earlier_output(str(tmp_path))
    (tmp_path / MARKER).write_text("# header\nhost_vars/a.yml\nREADME.md\n")
    assert earlier_output(str(tmp_path)) == ["host_vars/a.yml", "README.md"]
    assert marker_files(None) == []


def test_the_same_state_gives_the_same_files_at_another_time():
    first, _verification = build_files(STATIC_FACTS, STATIC_GROUPS, STATIC_HOSTVARS, STATIC["addresses"], STAMP, "d")
    second, _verification = build_files(STATIC_FACTS, STATIC_GROUPS, STATIC_HOSTVARS, STATIC["addresses"], "2027-01-01T00:00:00Z", "d")
    assert [name for name in first if first[name] != second[name]] == ["README.md"]


def test_the_facts_are_only_read():
    """discover_write and discover_identify read the gathered facts as Ansible stores them (not a templated copy), so
    inferring the contract and verifying it must leave them as they were."""
    facts = copy.deepcopy(STATIC_FACTS)
    build_files(facts, STATIC_GROUPS, STATIC_HOSTVARS, STATIC["addresses"], STAMP, "d")
    assert facts == STATIC_FACTS
