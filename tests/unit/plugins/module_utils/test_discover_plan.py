# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# discover's identification plan, as the host makes it in the module discover_gather (module_utils/_discover/_plan.py,
# stdlib only): which listeners are asked, where, with which handshakes. facts-ctr1.json are port_facts of a real lab
# host (Podman containers publishing ports; tests/unit/plugins/plugin_utils/fixtures/static/capture.py wrote them).

from __future__ import annotations

import json
import os

from ansible_collections.portproof.validate.plugins.module_utils._discover._plan import effective_binds, identify_plan, loopback_only
from ansible_collections.portproof.validate.plugins.module_utils._probe._identify import IDENTIFY_TCP, IDENTIFY_UDP

STATIC = os.path.join(os.path.dirname(__file__), os.pardir, "plugin_utils", "fixtures", "static")
EPHEMERAL = (32768, 60999)


def _where(targets):
    """(name, host, port, proto) per distinct listener asked, in the plan's order."""
    seen = []
    for target in targets:
        key = (target["name"].rsplit("/", 1)[0], target["host"], target["port"], target["proto"])
        if key not in seen:
            seen.append(key)
    return seen


def test_the_host_plans_its_published_ports_at_its_address_and_leaves_ssh_out():
    with open(os.path.join(STATIC, "facts-ctr1.json")) as handle:
        facts = json.load(handle)
    targets = identify_plan(facts, "10.231.9.15", 2.0, EPHEMERAL)
    assert _where(targets) == [("discover 8082/tcp", "10.231.9.15", 8082, "tcp"),
                               ("discover 8084/tcp", "10.231.9.15", 8084, "tcp"),
                               ("discover 32869/tcp", "10.231.9.15", 32869, "tcp")]
    assert targets[0] == {"name": "discover 8082/tcp/%s" % IDENTIFY_TCP[0], "host": "10.231.9.15", "port": 8082,
                          "proto": "tcp", "protocol": IDENTIFY_TCP[0], "timeout": 2.0}
    assert [t["protocol"] for t in targets] == list(IDENTIFY_TCP) * 3
    assert _where(identify_plan(facts, "10.231.9.15", 2.0, EPHEMERAL, ssh="declare"))[:2] == [
        ("discover 8082/tcp", "10.231.9.15", 8082, "tcp"), ("discover 8084/tcp", "10.231.9.15", 8084, "tcp")]
    assert ("discover 22/tcp", "10.231.9.15", 22, "tcp") in _where(identify_plan(facts, "10.231.9.15", 2.0, EPHEMERAL, ssh="declare"))


def test_the_host_leaves_out_loopback_ephemeral_other_udp_and_interface_bound_listeners():
    listeners = [
        {"proto": "tcp", "family": "ipv4", "address": "127.0.0.1", "port": 11211, "netns": "host"},
        {"proto": "tcp", "family": "ipv6", "address": "::ffff:127.0.0.1", "port": 11212, "netns": "host"},
        {"proto": "tcp", "family": "ipv6", "address": "::1", "port": 11213, "netns": "host"},
        {"proto": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 40000, "netns": "host"},
        {"proto": "udp", "family": "ipv4", "address": "0.0.0.0", "port": 8125, "netns": "host"},
        {"proto": "udp", "family": "ipv4", "address": "0.0.0.0", "port": 53, "netns": "host"},
        {"proto": "tcp", "family": "ipv6", "address": "::", "port": 80, "netns": "host"},
        {"proto": "tcp", "family": "ipv4", "address": "10.0.0.1", "port": 8443, "netns": "host", "interface": "eth0"},
        {"proto": "tcp", "family": "ipv6", "address": "fe80::1", "port": 8444, "netns": "host"},
        {"proto": "tcp", "family": "ipv6", "address": "::ffff:10.0.0.1", "port": 8445, "netns": "host"},
        {"proto": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 5432, "netns": "pp-db"},
    ]
    targets = identify_plan({"listeners": listeners}, "10.0.0.1", 3.0, EPHEMERAL)
    assert _where(targets) == [("discover 53/udp", "127.0.0.1", 53, "udp"), ("discover 80/tcp", "::1", 80, "tcp"),
                               ("discover 8445/tcp", "::ffff:10.0.0.1", 8445, "tcp")]
    assert [t["protocol"] for t in targets] == list(IDENTIFY_UDP) + list(IDENTIFY_TCP) * 2
    assert identify_plan({"listeners": None}, "10.0.0.1", 2.0, EPHEMERAL) == []
    assert effective_binds({"family": "ipv6", "address": "::", "dual_stack": True}) == [(6, "all"), (4, "all")]
    assert effective_binds({"family": "ipv6", "address": "::ffff:0.0.0.0"}) == [(4, "all")]
    assert loopback_only([{"family": "ipv6", "address": "::ffff:127.0.0.1"}]) is True
    assert loopback_only([{"family": "ipv6", "address": "::"}]) is False
