# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""port_facts on a real lab host agrees exactly with `ss -H -ltunp` run on the same host."""

from __future__ import annotations

import json
import os
import re

import pytest

from lab_ansible import module_result  # pylint: disable=import-error
from portproof_lab import Lab  # pylint: disable=import-error

pytestmark = pytest.mark.lab

SPEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab", "specs", "listeners.yml")
_USER = re.compile(r'\("([^"]*)",pid=(\d+),fd=\d+\)')


def ss_view(text):
    """(proto, local, ((process, pid), ...)) for each line of `ss -H -ltunp`."""
    rows = []
    for line in text.splitlines():
        fields = line.split()
        users = tuple(sorted(set((name, int(pid)) for name, pid in _USER.findall(line))))
        rows.append((fields[0], fields[4], users))
    return sorted(rows)


def module_view(listeners):
    rows = []
    for item in listeners:
        if item["family"] == "ipv6":
            address = "*" if item["dual_stack"] else "[%s]" % item["address"]
        else:
            address = item["address"]
        if item["interface"]:
            address += "%" + item["interface"]
        owners = ([{"process": item["process"], "pid": item["pid"]}] if item["pid"] else []) + item["shared_with"]
        users = tuple(sorted(set((p["process"], p["pid"]) for p in owners)))
        rows.append((item["proto"], "%s:%d" % (address, item["port"]), users))
    return sorted(rows)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Lab.from_file(SPEC, str(tmp_path_factory.mktemp("lab") / "lab")) as built:
        yield built


@pytest.fixture(scope="module")
def facts(lab):
    result = module_result(lab, "db1", "portproof.validate.port_facts", "gather_subset=listeners,addresses namespaces=all")
    assert result.get("failed") is not True, result
    assert result["changed"] is False
    return result["ansible_facts"]["portproof"]


def test_host_listeners_agree_with_ss(lab, facts):
    ss = ss_view(lab.ns("db1", ["ss", "-H", "-ltunp"]).stdout)
    ours = module_view([item for item in facts["listeners"] if item["netns"] == "host"])
    assert ours == ss
    # the lab planted every kind: make sure they are all there, so agreement means something
    locals_ = {row[1] for row in ours}
    assert {"*:53", "[::]:5432", "0.0.0.0%eth0:9100", "[::ffff:127.0.0.1]:11211", "*:5353"} <= locals_


def test_container_listeners_agree_with_ss_in_its_namespace(lab, facts):
    pid = lab.podman("db1", ["inspect", "--format", "{{.State.Pid}}", "web"]).stdout.strip()
    ss = ss_view(lab.ns("db1", ["nsenter", "--net=/proc/%s/ns/net" % pid, "ss", "-H", "-ltunp"]).stdout)
    ours = [item for item in facts["listeners"] if item["container"] == "web"]
    assert {item["netns"] for item in ours} != {"host"}
    assert module_view(ours) == ss
    assert [(i["proto"], i["address"], i["port"], i["process"]) for i in ours] == [("tcp", "::", 80, "httpd")]


def test_owners_users_and_flags(facts):
    host = {(i["proto"], i["address"], i["port"]): i for i in facts["listeners"] if i["netns"] == "host"}
    assert host[("tcp", "0.0.0.0", 5432)]["user"] == "nobody"
    assert host[("tcp", "0.0.0.0", 5432)]["process"] == "postgres"
    assert host[("tcp", "::ffff:127.0.0.1", 11211)]["user"] == "daemon"
    assert host[("tcp", "::", 53)]["dual_stack"] is True
    assert host[("tcp", "::", 5432)]["dual_stack"] is False
    assert host[("tcp", "::ffff:127.0.0.1", 11211)]["family"] == "ipv6"
    assert host[("tcp", "0.0.0.0", 9100)]["interface"] == "eth0"
    assert facts["unavailable"] == []


def test_addresses_agree_with_ip(lab, facts):
    theirs = sorted((link["ifname"], info["local"], info["prefixlen"])
                    for link in json.loads(lab.ns("db1", ["ip", "-j", "addr"]).stdout) for info in link["addr_info"])
    assert sorted((a["interface"], a["address"], a["prefix"]) for a in facts["addresses"]) == theirs
    assert (lab.address("db1") in {a["address"] for a in facts["addresses"]})


def test_check_mode_gives_the_same(lab, facts):
    result = module_result(lab, "db1", "portproof.validate.port_facts", "gather_subset=listeners", extra=["--check"])
    assert result["changed"] is False
    ours = [i for i in result["ansible_facts"]["portproof"]["listeners"] if i["netns"] == "host"]
    assert module_view(ours) == module_view([i for i in facts["listeners"] if i["netns"] == "host"])
