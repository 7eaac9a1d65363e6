# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""firewalld's permanent configuration evaluated (saved_firewall, _firewalld_saved.py) against the running ruleset
firewalld installed for the same configuration (fixtures/firewall/firewalld, captured by capture.sh from a real
firewalld 1.3.3): for a grid of packets the verdict after a reboot equals the verdict of the kernel rules. The files
are the Debian package's and their permanent equivalents (fixtures/firewalld_saved/README.md)."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._firewall._saved import gather_saved_firewall
from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import Compiled, evaluate

HERE = os.path.join(os.path.dirname(__file__), "fixtures")
SAVED = os.path.join(HERE, "firewalld_saved")
_SPEC = importlib.util.spec_from_file_location("firewall_replay", os.path.join(HERE, "firewall", "replay.py"))
replay = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(replay)

SOURCES = ["192.0.2.5", "192.0.2.20", "10.1.2.3", "198.51.100.7", "203.0.113.77", "100.64.0.9"]
SOURCES6 = ["2001:db8:1::1", "2001:db8:77::9"]
TARGETS = [("203.0.113.5", "eth0"), ("192.168.50.5", "eth1")]
PORTS = [("tcp", 22), ("tcp", 80), ("tcp", 443), ("tcp", 5432), ("tcp", 8005), ("tcp", 8011), ("tcp", 9000),
         ("udp", 138), ("udp", 137), ("udp", 5353), ("udp", 546), ("udp", 53)]


def _root(tmp_path, extra=None):
    root = tmp_path / "root"
    shutil.copytree(SAVED, str(root))
    for path, text in (extra or {}).items():
        full = root / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text)
    return str(root)


def _saved(root):
    fact, unavailable = gather_saved_firewall(root)
    return fact, unavailable


def _path(tables, ref):
    """The file of the rule a verdict names."""
    for table in tables:
        if (table["family"], table["name"]) == (ref["family"], ref["table"]):
            for chain in table["chains"]:
                if chain["name"] == ref["chain"]:
                    return chain["rules"][ref["index"] - 1]["path"]
    return None


def _kind(outcome):
    return outcome["verdict"]


def _grid():
    for src in SOURCES:
        for dst, iface in TARGETS:
            for proto, port in PORTS:
                yield src, dst, iface, proto, port
    for src in SOURCES6:
        for proto, port in PORTS:
            yield src, "2001:db8:ffff::5", "eth0", proto, port


def test_permanent_configuration_gives_the_verdicts_of_the_rules_firewalld_installed(tmp_path):
    running = replay.firewall("firewalld")[0]
    fact, unavailable = _saved(_root(tmp_path))
    assert unavailable == [] and fact["unsupported"] == [] and fact["incomplete"] == []
    assert [(s["path"], s["loader"], s["family"]) for s in fact["sources"]] == [
        ("/etc/firewalld", "firewalld", "ipv4"), ("/etc/firewalld", "firewalld", "ipv6")]
    now = Compiled(running)
    then = Compiled(dict(running, tables=fact["tables"]))
    compared = 0
    verdicts = set()
    for src, dst, iface, proto, port in _grid():
        packet = {"src": src, "dst": dst, "proto": proto, "dport": port, "state": "new", "iface": iface}
        want, got = evaluate(now, packet), evaluate(then, packet)
        assert (src, dst, proto, port, _kind(got)) == (src, dst, proto, port, _kind(want)), (want, got)
        verdicts.add(_kind(got))
        compared += 1
    assert compared == 168 and verdicts == {"accept", "drop", "reject"}


def test_rules_name_the_construct_and_its_file(tmp_path):
    fact, dummy = _saved(_root(tmp_path))
    then = Compiled(dict(replay.firewall("firewalld")[0], tables=fact["tables"]))
    got = evaluate(then, {"src": "203.0.113.77", "dst": "203.0.113.5", "proto": "tcp", "dport": 22, "state": "new", "iface": "eth0"})
    assert got["verdict"] == "drop"
    assert (got["rule"]["table"], got["rule"]["chain"], got["rule"]["text"]) == (
        "firewalld", "IN_public", 'rich rule <rule family="ipv4"> <source address="203.0.113.0/24"> <service name="ssh"> <drop>')
    got = evaluate(then, {"src": "10.1.2.3", "dst": "192.168.50.5", "proto": "udp", "dport": 137, "state": "new", "iface": "eth1"})
    assert (got["verdict"], got["rule"]["text"], _path(fact["tables"], got["rule"])) == (
        "accept", "service samba-client: port 137/udp (zone internal)", "/usr/lib/firewalld/services/netbios-ns.xml")
    rules = {r["text"]: r["path"] for t in fact["tables"] for c in t["chains"] for r in c["rules"]}
    assert rules['<port port="8000-8010" protocol="tcp"/> (zone public)'] == "/etc/firewalld/zones/public.xml"


def test_networkmanager_profiles_without_a_zone_leave_the_default_zone(tmp_path):
    fact, dummy = _saved(_root(tmp_path, {"/etc/NetworkManager/system-connections/eth0.nmconnection":
                                          "[connection]\nid=eth0\ntype=ethernet\nzone=\n"}))
    assert fact["unsupported"] == [] and len(fact["tables"]) == 2


def test_etc_replaces_usr_lib_and_targets_ipsets_policies_direct(tmp_path):
    """/etc's trusted.xml replaces the package's; a zone of target %%REJECT%% bound to an ipset; a policy ANY -> HOST
    that drops 9000; a direct rule that drops 5432 from 10.1.2.3 (its own iptables table, before firewalld's)."""
    root = _root(tmp_path, {
        "/etc/firewalld/ipsets/ops.xml": '<?xml version="1.0"?>\n<ipset type="hash:net"><entry>100.64.0.0/24</entry></ipset>\n',
        "/etc/firewalld/zones/block.xml": '<zone target="%%REJECT%%"><source ipset="ops"/><port port="9000" protocol="tcp"/></zone>',
        "/etc/firewalld/policies/nine.xml": ('<policy target="CONTINUE" priority="-10"><ingress-zone name="ANY"/>'
                                             '<egress-zone name="HOST"/><rule><port port="9001" protocol="tcp"/><drop/></rule></policy>'),
        "/etc/firewalld/direct.xml": ('<?xml version="1.0" encoding="utf-8"?>\n<direct>\n  <rule ipv="ipv4" table="filter" '
                                      'chain="INPUT" priority="0">-s 10.1.2.3 -p tcp --dport 5432 -j DROP</rule>\n</direct>\n'),
    })
    fact, dummy = _saved(root)
    assert fact["unsupported"] == []
    then = Compiled(dict(replay.firewall("firewalld")[0], tables=fact["tables"]))

    def verdict(src, port, dst="203.0.113.5", iface="eth0"):
        got = evaluate(then, {"src": src, "dst": dst, "proto": "tcp", "dport": port, "state": "new", "iface": iface})
        return got["verdict"], got["rule"]["text"], _path(fact["tables"], got["rule"])

    assert verdict("100.64.0.9", 9000) == ("accept", '<port port="9000" protocol="tcp"/> (zone block)', "/etc/firewalld/zones/block.xml")
    assert verdict("100.64.0.9", 22) == ("reject", "target %%REJECT%% (zone block)", "/etc/firewalld/zones/block.xml")
    assert verdict("10.9.9.9", 9001) == ("drop", 'rich rule <rule> <port port="9001" protocol="tcp"> <drop>',
                                         "/etc/firewalld/policies/nine.xml")
    assert verdict("10.1.2.3", 5432) == ("drop", "direct rule -s 10.1.2.3 -p tcp --dport 5432 -j DROP", "/etc/firewalld/direct.xml")
    assert verdict("10.1.2.4", 5432) == ("accept", 'rich rule <rule family="ipv4"> <source address="10.1.0.0/16"> '
                                         '<port port="5432" protocol="tcp"> <accept>', "/etc/firewalld/zones/public.xml")
    assert verdict("192.0.2.5", 12345)[0] == "accept"  # trusted: target ACCEPT


@pytest.mark.parametrize("path, text, reason", [
    ("/etc/firewalld/zones/public.xml", '<?xml version="1.0"?>\n<!DOCTYPE z [<!ENTITY a "aaaa">]>\n<zone>&a;</zone>\n',
     "/etc/firewalld/zones/public.xml: a DOCTYPE or ENTITY declaration is refused (firewalld's files have none)"),
    ("/etc/firewalld/zones/public.xml", "<zone><service name='ssh'></zone>",
     "/etc/firewalld/zones/public.xml: not well-formed XML: mismatched tag: line 1, column 28"),
    ("/etc/firewalld/zones/public.xml", '<zone><service name="nosuch"/></zone>',
     "/etc/firewalld/zones/public.xml: service nosuch is not defined (no /etc/firewalld/services/nosuch.xml nor "
     "/usr/lib/firewalld/services/nosuch.xml)"),
    ("/etc/firewalld/zones/public.xml", '<zone><source mac="00:11:22:33:44:55"/></zone>',
     "/etc/firewalld/zones/public.xml: <source mac> is not evaluated"),
    ("/etc/firewalld/zones/work.xml", '<zone><source address="192.0.2.0/24"/></zone>',
     "/etc/firewalld/zones/trusted.xml and /etc/firewalld/zones/work.xml: sources 192.0.2.0/28 (zone trusted) and "
     "192.0.2.0/24 (zone work) overlap at one ingress priority: which zone firewalld picks is not evaluated"),
    ("/etc/firewalld/direct.xml", '<direct><passthrough ipv="ipv4">-I INPUT -j DROP</passthrough></direct>',
     "/etc/firewalld/direct.xml: <passthrough> -I INPUT -j DROP is not evaluated"),
    ("/etc/firewalld/direct.xml", '<direct><rule ipv="ipv4" table="mangle" chain="INPUT" priority="0">-j DROP</rule></direct>',
     "/etc/firewalld/direct.xml: direct rule ipv=ipv4 table=mangle chain=INPUT is not evaluated (only the filter table of "
     "ipv4 and ipv6)"),
    ("/etc/firewalld/policies/p.xml", '<policy><ingress-zone name="public"/><egress-zone name="HOST"/><masquerade/><limit/></policy>',
     "/etc/firewalld/policies/p.xml: <limit> in a policy is not evaluated"),
    ("/etc/firewalld/zones/public.xml", '<zone><port port="1" protocol="tcp -j DROP"/></zone>',
     "/etc/firewalld/zones/public.xml: <port protocol>: 'tcp -j DROP' is not a valid protocol"),
    ("/etc/firewalld/zones/public.xml", '<zone><port port="22" protocol="icmp"/></zone>',
     "/etc/firewalld/zones/public.xml: <port protocol='icmp'>: firewalld takes tcp, udp, sctp or dccp"),
    ("/etc/firewalld/zones/public.xml", '<zone><service name="../../../etc/passwd"/></zone>',
     "/etc/firewalld/zones/public.xml: <service name>: '../../../etc/passwd' is not a valid name"),
    ("/etc/firewalld/ipsets/ops.xml", '<ipset type="hash:ip"><entry>10.0.0.1-10.0.0.9</entry></ipset>',
     "/etc/firewalld/ipsets/ops.xml: ipset entry '10.0.0.1-10.0.0.9' is not an address or network (ranges and ports are not "
     "evaluated)"),
    ("/etc/firewalld/direct.xml", '<direct><rule ipv="ipv4" table="filter" chain="INPUT" priority="0">--dport 5</rule></direct>',
     "/etc/firewalld/direct.xml: direct rule --dport 5 cannot be read as a rule: unexpected '--dport' in rule '-A INPUT --dport 5': "
     "'-A INPUT --dport 5'"),
    ("/etc/NetworkManager/system-connections/eth1.nmconnection",
     "[connection]\nid=eth1\ntype=ethernet\ninterface-name=eth1\nzone=trusted\n\n[wifi-security]\npsk=not-shown\n",
     "/etc/NetworkManager/system-connections/eth1.nmconnection: NetworkManager assigns zone trusted to this connection at "
     "runtime; which interface it binds is not read from firewalld's files"),
])
def test_what_is_not_evaluated_is_an_error_naming_the_file(tmp_path, path, text, reason):
    fact, dummy = _saved(_root(tmp_path, {path: text}))
    assert fact["tables"] == [] and fact["sources"] == []
    assert fact["unsupported"] == [{"path": "/etc/firewalld", "loader": "firewalld",
                                    "reason": "cannot evaluate firewalld's permanent configuration: " + reason}]


def test_iptables_backend_gives_the_same_verdicts_and_a_limit_is_read(tmp_path):
    """FirewallBackend=iptables: one iptables filter table, the same verdicts. A rich rule's limit is a limit match
    (the walk takes one new connection as under it, as it does for running rules)."""
    with open(os.path.join(SAVED, "etc", "firewalld", "firewalld.conf")) as handle:
        conf = handle.read().replace("FirewallBackend=nftables", "FirewallBackend=iptables")
    running = replay.firewall("firewalld")[0]
    fact, dummy = _saved(_root(tmp_path, {"/etc/firewalld/firewalld.conf": conf}))
    assert [(t["family"], t["name"]) for t in fact["tables"]] == [("ip", "filter"), ("ip6", "filter")]
    now, then = Compiled(running), Compiled(dict(running, tables=fact["tables"]))
    for src, dst, iface, proto, port in _grid():
        packet = {"src": src, "dst": dst, "proto": proto, "dport": port, "state": "new", "iface": iface}
        assert (src, dst, proto, port, evaluate(then, packet)["verdict"]) == (src, dst, proto, port, evaluate(now, packet)["verdict"])
    limited = '<zone><interface name="eth0"/><rule><port port="80" protocol="tcp"/><accept><limit value="1/m"/></accept></rule></zone>'
    fact, dummy = _saved(_root(tmp_path / "b", {"/etc/firewalld/zones/public.xml": limited}))
    got = evaluate(Compiled(dict(running, tables=fact["tables"])),
                   {"src": "10.9.9.9", "dst": "203.0.113.5", "proto": "tcp", "dport": 80, "state": "new", "iface": "eth0"})
    assert (got["verdict"], got["rule"]["text"]) == ("accept", 'rich rule <rule> <port port="80" protocol="tcp"> <accept>')
