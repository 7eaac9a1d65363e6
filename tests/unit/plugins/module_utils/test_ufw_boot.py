# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The replay of ufw's boot rules (_ufw_boot.py) against what the real ufw loaded: fixtures/firewall/ufwboot
(capture.sh) holds ufw's files after its commands and the rules it then ran (iptables-save, ip6tables-save)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._firewall._iptables import parse_save
from ansible_collections.portproof.validate.plugins.module_utils._firewall._saved import gather_saved_firewall
from ansible_collections.portproof.validate.plugins.module_utils._firewall._ufw_boot import UfwBootError, implicit_matches, ufw_boot_rules
from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import firewall_verdict

HERE = os.path.dirname(__file__)
UFW = os.path.join(HERE, "fixtures", "firewall", "ufwboot")
# the host's addresses and routes as port_facts gathered them on a lab host (web1 of the molecule scenario "report")
with open(os.path.join(HERE, "..", "plugin_utils", "fixtures", "drift", "facts-before-web1.json")) as _handle:
    HOST = json.load(_handle)["firewall"]
V4, V6 = "10.231.127.11", "fd70:7070:7f::b"
# (source, destination, protocol, port) and ufw's verdict: allow 22/tcp, allow 5432/tcp from .12 and fd70:7070:7f::c,
# deny from .13 (after allow 22/tcp: ufw's first matching rule decides), limit 2222/tcp, allow 53, default deny incoming
PACKETS = [
    (("203.0.113.7", V4, "tcp", 22), "accept"), (("10.231.127.12", V4, "tcp", 5432), "accept"),
    (("10.231.127.14", V4, "tcp", 5432), "drop"), (("10.231.127.13", V4, "tcp", 22), "accept"),
    (("203.0.113.7", V4, "udp", 53), "accept"), (("203.0.113.7", V4, "tcp", 53), "accept"), (("203.0.113.7", V4, "tcp", 8080), "drop"),
    (("fd70:7070:7f::c", V6, "tcp", 5432), "accept"), (("fd70:7070:7f::d", V6, "tcp", 5432), "drop"),
    (("2001:db8::7", V6, "tcp", 22), "accept"), (("2001:db8::7", V6, "udp", 5353), "drop"),
]


def _read(root):
    def read(path):
        full = os.path.join(root, path.lstrip("/"))
        if not os.path.exists(full):
            return None
        with open(full) as handle:
            return handle.read()
    return read


def _verdicts(tables):
    firewall = dict(HOST, tables=tables, incomplete=[])
    packets = [{"src": src, "dst": dst, "proto": proto, "dport": port, "state": "new", "iface": "eth0"}
               for (src, dst, proto, port), dummy in PACKETS]
    return [outcome["verdict"] for outcome in firewall_verdict(firewall, packets)]


def _running():
    tables = []
    for name, family in (("running.v4", "ip"), ("running.v6", "ip6")):
        with open(os.path.join(UFW, name)) as handle:
            tables.extend(parse_save(handle.read(), family, "iptables-nft")[0])
    return tables


def test_the_replay_decides_as_the_rules_ufw_really_loaded():
    replayed = []
    for family, text, dummy, dummy2 in ufw_boot_rules(_read(UFW), lambda path: False):
        replayed.extend(parse_save(text, family, "ufw")[0])
    assert _verdicts(_running()) == [verdict for dummy, verdict in PACKETS]
    assert _verdicts(replayed) == [verdict for dummy, verdict in PACKETS]


def test_the_replay_has_every_chain_and_rule_ufw_loaded():
    """Chain by chain, the same number of rules with the same verdicts, and the same policies."""
    for (family, text, dummy, dummy2), name in zip(ufw_boot_rules(_read(UFW), lambda path: False), ("running.v4", "running.v6")):
        with open(os.path.join(UFW, name)) as handle:
            running = parse_save(handle.read(), family, "iptables-nft")[0]
        replayed = parse_save(text, family, "ufw")[0]

        def shape(tables):
            return dict((chain["name"], (chain["policy"], [(r["verdict"] or {}).get("kind") for r in chain["rules"]]))
                        for table in tables for chain in table["chains"])
        assert shape(replayed) == shape(running), name


def test_saved_firewall_reads_an_enabled_ufw_naming_each_rule_s_file():
    saved, unavailable = gather_saved_firewall(UFW)
    assert unavailable == [] and saved["unsupported"] == [] and saved["incomplete"] == []
    files = ["/etc/ufw/before.rules", "/etc/ufw/after.rules", "/etc/ufw/user.rules", "/etc/default/ufw"]
    assert saved["sources"] == [
        {"path": "/etc/ufw/user.rules", "format": "ufw", "loader": "ufw", "family": "ipv4", "files": files},
        {"path": "/etc/ufw/user6.rules", "format": "ufw", "loader": "ufw", "family": "ipv6",
         "files": [name.replace(".rules", "6.rules") for name in files[:3]] + files[3:]},
    ]
    chains = dict((chain["name"], chain) for table in saved["tables"] if table["family"] == "ip" for chain in table["chains"])
    assert [(rule["text"], rule["path"]) for rule in chains["ufw-user-input"]["rules"][:2]] == [
        ("-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT", "/etc/ufw/user.rules"),
        ("-A ufw-user-input -p tcp -s 10.231.127.12 -m tcp --dport 5432 -j ACCEPT", "/etc/ufw/user.rules")]
    assert [rule["path"] for rule in chains["INPUT"]["rules"]] == ["ufw-init"] * 6


def test_an_executable_before_init_is_not_replayed():
    with pytest.raises(UfwBootError) as caught:
        ufw_boot_rules(_read(UFW), lambda path: path == "/etc/ufw/before.init")
    assert str(caught.value) == "/etc/ufw/before.init is executable: ufw runs it at start and what it does is not known"


@pytest.mark.parametrize("line, saved", [
    ("-A ufw-user-input -p tcp --dport 5432 -s 10.0.0.2 -j ACCEPT", "-A ufw-user-input -p tcp -s 10.0.0.2 -m tcp --dport 5432 -j ACCEPT"),
    ("-A X -p udp -s fe80::/10 --sport 547 -d fe80::/10 --dport 546 -j ACCEPT",
     "-A X -p udp -s fe80::/10 -d fe80::/10 -m udp --sport 547 --dport 546 -j ACCEPT"),
    ("-A X -p icmp --icmp-type echo-request -j ACCEPT", "-A X -p icmp -m icmp --icmp-type echo-request -j ACCEPT"),
    ("-A X -p tcp ! --dport 22 -j DROP", "-A X -p tcp -m tcp ! --dport 22 -j DROP"),
    ("-A X -p tcp --tcp-flags SYN,ACK SYN -j DROP", "-A X -p tcp -m tcp --tcp-flags SYN,ACK SYN -j DROP"),
    ("-A X -m conntrack ! --ctstate NEW ! -s 10.0.0.2 -j ACCEPT", "-A X ! -s 10.0.0.2 -m conntrack ! --ctstate NEW -j ACCEPT"),
    ("-A X -s 10.0.0.2/32 -p tcp -m tcp --dport 22 -j ACCEPT", "-A X -s 10.0.0.2/32 -p tcp -m tcp --dport 22 -j ACCEPT"),
])
def test_implicit_matches_are_written_as_iptables_save_writes_them(line, saved):
    assert implicit_matches(line) == saved
