# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""iptables-save parsing, over lines and dumps captured from iptables 1.8.9 (fixtures/firewall)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._firewall import _iptables
from ansible_collections.portproof.validate.plugins.module_utils._firewall._ipset import parse_ipset_save
from ansible_collections.portproof.validate.plugins.module_utils._firewall._iptables import IptablesParseError, parse_rule, parse_save

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "firewall")
CHAINS = {"ADMIN": {}, "LOGDROP": {}, "ufw-user-limit": {}}
IPSETS = parse_ipset_save(open(os.path.join(FIXTURES, "iptables", "ipset-save.txt")).read())


def eq(key, values, **extra):
    return dict({"key": key, "op": "eq", "values": values}, **extra)


def ne(key, values, **extra):
    return dict({"key": key, "op": "ne", "values": values}, **extra)


RULES = [
    ("-A INPUT -i lo -j ACCEPT", [eq("iifname", ["lo"])], [], {"kind": "accept"}),
    ("-A INPUT -s 10.0.0.0/8 -j ADMIN", [eq("saddr", ["10.0.0.0/8"])], [], {"kind": "jump", "chain": "ADMIN"}),
    ("-A ADMIN ! -s 10.1.0.0/16 -j RETURN", [ne("saddr", ["10.1.0.0/16"])], [], {"kind": "return"}),
    ("-A SERVICES -p tcp -m tcp --dport 3306 -g CHECK3306", [eq("l4proto", ["tcp"]), eq("dport", [3306])], [],
     {"kind": "goto", "chain": "CHECK3306"}),
    ("-A ADMIN -p tcp -m multiport --dports 5432,6379,9000:9100 -j ACCEPT",
     [eq("l4proto", ["tcp"]), eq("dport", [5432, 6379, "9000-9100"])], [], {"kind": "accept"}),
    ("-A SERVICES -p tcp -m tcp ! --dport 1:1023 -m iprange --src-range 198.51.100.10-198.51.100.20 -j ACCEPT",
     [eq("l4proto", ["tcp"]), ne("dport", ["1-1023"]), eq("saddr", ["198.51.100.10-198.51.100.20"])], [], {"kind": "accept"}),
    ("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", [eq("ct_state", ["related", "established"])], [],
     {"kind": "accept"}),
    ("-A ufw-before-input -m state --state INVALID -j DROP", [eq("ct_state", ["invalid"])], [], {"kind": "drop"}),
    ("-A INPUT -p tcp -j REJECT --reject-with tcp-reset", [eq("l4proto", ["tcp"])], [], {"kind": "reject", "with": "tcp-reset"}),
    ("-A PREROUTING -m addrtype --dst-type LOCAL -j PORTMAP", [eq("daddr_type", ["local"])], [],
     {"kind": "unsupported", "name": "PORTMAP", "reason": "target PORTMAP is not evaluated"}),
    ("-A ufw-not-local -m addrtype ! --dst-type MULTICAST -j RETURN", [ne("daddr_type", ["multicast"])], [], {"kind": "return"}),
    ("-A PORTMAP -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.99.0.2:80",
     [eq("l4proto", ["tcp"]), eq("dport", [8080])], [], {"kind": "dnat", "addr": "10.99.0.2", "port": 80}),
    ("-A PORTMAP -p udp -m udp --dport 5353 -j DNAT --to-destination 10.99.0.3",
     [eq("l4proto", ["udp"]), eq("dport", [5353])], [], {"kind": "dnat", "addr": "10.99.0.3", "port": None}),
    ("-A P -p tcp -j DNAT --to-destination [2001:db8::5]:8080", [eq("l4proto", ["tcp"])], [],
     {"kind": "dnat", "addr": "2001:db8::5", "port": 8080}),
    ("-A PORTMAP -p tcp -m tcp --dport 2222 -j REDIRECT --to-ports 22", [eq("l4proto", ["tcp"]), eq("dport", [2222])], [],
     {"kind": "redirect", "port": 22}),
    ("-A POSTROUTING -s 10.99.0.0/24 ! -o br0 -j MASQUERADE", [eq("saddr", ["10.99.0.0/24"]), ne("oifname", ["br0"])], [],
     {"kind": "masquerade"}),
    ("-A FORWARD -i docker+ -o docker0 -j ACCEPT", [eq("iifname", ["docker*"]), eq("oifname", ["docker0"])], [], {"kind": "accept"}),
    ("-A INPUT -m mark --mark 0x10/0xff -j ACCEPT", [eq("mark", [16], mask=255)], [], {"kind": "accept"}),
    ("-A PREROUTING -s 192.0.2.77/32 -j MARK --set-xmark 0x10/0xff", [eq("saddr", ["192.0.2.77/32"])],
     [{"kind": "set", "key": "mark", "value": 16, "mask": 255, "mode": "xmark"}], None),
    ("-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff", [],
     [{"kind": "copy", "from": "ct_mark", "to": "mark"}], None),
    ('-A INPUT -m limit --limit 5/min -j LOG --log-prefix "in-drop: "',
     [{"key": "limit", "op": "under", "text": "-m limit --limit 5/min"}], [{"kind": "log", "name": "LOG"}], None),
    ('-A ADMIN -p tcp -m tcp --dport 22 -m comment --comment "ssh from admin net" -j ACCEPT',
     [eq("l4proto", ["tcp"]), eq("dport", [22])], [], {"kind": "accept"}),
    ("-A SERVICES -p tcp -m set --match-set blocklist src -j LOGDROP",
     [eq("l4proto", ["tcp"]), eq("saddr", ["198.51.100.128/25", "203.0.113.7"], set="blocklist")], [],
     {"kind": "jump", "chain": "LOGDROP"}),
    ("-A SERVICES -m set ! --match-set trusted src -j DROP", [ne("saddr", ["192.0.2.11", "192.0.2.10"], set="trusted")], [],
     {"kind": "drop"}),
    ("-A X -m set --match-set nosuch src -j DROP",
     [{"key": "unsupported", "text": "-m set --match-set nosuch src", "reason": "ipset nosuch is not in the ipset save output"}],
     [], {"kind": "drop"}),
    ("-A ufw-user-input -p tcp -m tcp --dport 2222 -m conntrack --ctstate NEW -m recent --update --seconds 30 --hitcount 6 "
     "--name DEFAULT --mask 255.255.255.255 --rsource -j ufw-user-limit",
     [eq("l4proto", ["tcp"]), eq("dport", [2222]), eq("ct_state", ["new"]),
      {"key": "recent", "mode": "update", "name": "DEFAULT", "hitcount": 6, "neg": False,
       "text": "-m recent --update --seconds 30 --hitcount 6 --name DEFAULT --mask 255.255.255.255 --rsource"}],
     [], {"kind": "jump", "chain": "ufw-user-limit"}),
    ("-A X -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT",
     [eq("l4proto", ["tcp"]), eq("tcp_flags", [["syn"]], mask=["fin", "syn", "rst", "ack"])], [], {"kind": "accept"}),
    ("-A X -p tcp -m tcp ! --syn -j DROP",
     [eq("l4proto", ["tcp"]), ne("tcp_flags", [["syn"]], mask=["fin", "syn", "rst", "ack"])], [], {"kind": "drop"}),
    ("-A X -m u32 --u32 0x0>>0x16&0x3c@0x0=0x1 -j DROP",
     [{"key": "unsupported", "text": "-m u32 --u32 0x0>>0x16&0x3c@0x0=0x1", "reason": "u32 inspects raw packet bytes"}], [],
     {"kind": "drop"}),
    ("-A X -p tcp -j NFQUEUE --queue-num 1", [eq("l4proto", ["tcp"])], [],
     {"kind": "unsupported", "name": "NFQUEUE", "reason": "NFQUEUE hands the packet to a userspace program"}),
    ("-A ufw6-before-input -m rt --rt-type 0 -j DROP", [{"key": "ipv6_exthdr", "op": "eq", "values": ["rt"],
                                                        "text": "-m rt --rt-type 0"}], [], {"kind": "drop"}),
    ("-A X -p 6 -j ACCEPT", [eq("l4proto", ["tcp"])], [], {"kind": "accept"}),
    ("-A X -p all -j ACCEPT", [], [], {"kind": "accept"}),
    ("-A X -s 10.0.0.1/32", [eq("saddr", ["10.0.0.1/32"])], [], None),
]


@pytest.mark.parametrize("line, match, statements, verdict", RULES)
def test_parse_rule(line, match, statements, verdict):
    dummy, rule = parse_rule(line, dict(CHAINS, PORTMAP_IS_NOT_DECLARED=None), IPSETS)
    assert rule["match"] == match
    assert rule["statements"] == statements
    assert rule["verdict"] == verdict


def test_comment_is_kept():
    dummy, rule = parse_rule('-A ADMIN -p tcp -m tcp --dport 22 -m comment --comment "ssh from admin net" -j ACCEPT', CHAINS, None)
    assert rule["comment"] == "ssh from admin net"


def test_ipset_unavailable():
    dummy, rule = parse_rule("-A S -m set --match-set trusted src -j ACCEPT", CHAINS, None)
    assert rule["match"] == [{"key": "unsupported", "text": "-m set --match-set trusted src",
                              "reason": "ipset trusted: set contents unavailable (ipset save failed or missing)"}]


def _load(scenario, name):
    with open(os.path.join(FIXTURES, scenario, name)) as handle:
        return handle.read()


def test_parse_save_fixture():
    tables, incompatible = parse_save(_load("iptables", "iptables-nft-save.txt"), "ip", "iptables-nft", IPSETS)
    assert incompatible == []
    assert [t["name"] for t in tables] == ["mangle", "raw", "filter", "nat"]
    filt = tables[2]
    assert [(c["name"], c["hook"], c["type"], c["priority"], c["policy"], len(c["rules"])) for c in filt["chains"]] == [
        ("INPUT", "input", "filter", 0, "drop", 9),
        ("FORWARD", "forward", "filter", 0, "drop", 3),
        ("OUTPUT", "output", "filter", 0, "accept", 0),
        ("ADMIN", None, None, None, None, 3),
        ("CHECK3306", None, None, None, None, 1),
        ("LOGDROP", None, None, None, None, 2),
        ("SERVICES", None, None, None, None, 12),
    ]
    nat = tables[3]
    assert [(c["name"], c["hook"], c["type"], c["priority"]) for c in nat["chains"]][:2] == [
        ("PREROUTING", "prerouting", "nat", -100), ("INPUT", "input", "nat", 100)]
    assert filt["chains"][0]["rules"][0] == {"text": "-A INPUT -i lo -j ACCEPT", "comment": None, "index": 1,
                                             "match": [eq("iifname", ["lo"])], "statements": [], "verdict": {"kind": "accept"}}


def test_parse_save_incompatible_table():
    # iptables-nft-save 1.8.9 on a native nft "ip nat" table: a warning, then made-up empty chains.
    tables, incompatible = parse_save(_load("nft", "iptables-nft-save.txt"), "ip", "iptables-nft")
    assert incompatible == ["nat"]
    assert [t["name"] for t in tables] == ["nat"]


def test_parse_save_legacy_docker_style():
    tables, dummy = parse_save(_load("legacy", "iptables-legacy-save.txt"), "ip", "iptables-legacy")
    chains = dict((c["name"], c) for t in tables for c in t["chains"] if t["name"] == "filter")
    assert chains["DOCKER"]["rules"][0]["match"] == [
        eq("daddr", ["172.17.0.2/32"]), ne("iifname", ["docker0"]), eq("oifname", ["docker0"]),
        eq("l4proto", ["tcp"]), eq("dport", [8000])]
    assert all(t["source"] == "iptables-legacy" for t in tables)


@pytest.mark.parametrize("text, message", [
    ("*filter\n:INPUT ACCEPT [0:0]\n-A NOSUCH -j ACCEPT\nCOMMIT\n", "iptables-nft line 3: chain NOSUCH is not declared: '-A NOSUCH -j ACCEPT'"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT --bogus -j ACCEPT\nCOMMIT\n",
     "iptables-nft line 3: unexpected '--bogus' in rule '-A INPUT --bogus -j ACCEPT': '-A INPUT --bogus -j ACCEPT'"),
    ("*filter\nnonsense\n", "iptables-nft line 2: unexpected line: 'nonsense'"),
])
def test_parse_save_errors(text, message):
    with pytest.raises(IptablesParseError) as exc:
        parse_save(text, "ip", "iptables-nft")
    assert str(exc.value) == message


def test_ipset_types():
    sets = parse_ipset_save("create a hash:ip,port family inet hashsize 1024 maxelem 65536\n"
                            "add a 192.0.2.1,tcp:80\n"
                            "create p bitmap:port range 0-1024\nadd p 22\nadd p 80-81\n")
    assert sets == {
        "a": {"type": "hash:ip,port", "family": "inet", "elements": [], "unsupported": "set type hash:ip,port is not evaluated"},
        "p": {"type": "bitmap:port", "family": None, "elements": [[22], ["80-81"]], "dimensions": ["port"]},
    }


@pytest.mark.parametrize("options, match", [
    # kube-proxy: one rule per endpoint but the last, with the share 1/(endpoints left).
    ("-m statistic --mode random --probability 0.33333333349",
     {"key": "random", "op": "eq", "values": [], "mode": "random", "share": 0.33333333349}),
    ("-m statistic --mode nth --every 3 --packet 0", {"key": "random", "op": "eq", "values": [], "mode": "nth", "share": 1.0 / 3}),
    ("-m statistic --mode random ! --probability 0.25", {"key": "random", "op": "ne", "values": [], "mode": "random", "share": 0.25}),
    ("-m statistic --mode random", {"key": "unsupported", "text": "-m statistic --mode random",
                                    "reason": "statistic mode random is not evaluated"}),
])
def test_statistic_is_a_random_share(options, match):
    dummy, rule = parse_rule("-A KUBE-SVC-X %s -j KUBE-SEP-Y" % options, {"KUBE-SVC-X": {}, "KUBE-SEP-Y": {}}, None)
    assert rule["match"] == [match]
    assert rule["verdict"] == {"kind": "jump", "chain": "KUBE-SEP-Y"}


def test_each_match_module_has_one_parser_or_one_reason():
    """A module in both tables would have a reason that is never given."""
    assert not set(_iptables._MODULE_PARSERS) & set(_iptables._UNSUPPORTED_MODULES)  # pylint: disable=protected-access


@pytest.mark.parametrize("line, match", [
    ("-A INPUT -p sctp -m sctp --dport 9 --chunk-types any INIT -j DROP",
     [eq("l4proto", ["sctp"]), eq("dport", [9]),
      {"key": "unsupported", "text": "-m sctp --dport 9 --chunk-types any INIT", "reason": "sctp option --chunk-types is not evaluated"}]),
    ("-A INPUT -m owner --uid-owner 0 -j DROP",
     [{"key": "unsupported", "text": "-m owner --uid-owner 0", "reason": "socket owner is only known for locally generated packets"}]),
    ("-A INPUT -m nosuchmodule --x 1 -j DROP",
     [{"key": "unsupported", "text": "-m nosuchmodule --x 1", "reason": "match module nosuchmodule is not evaluated"}]),
    ("-A INPUT -m comment --comment \"a b\" -m rt -j DROP", [{"key": "ipv6_exthdr", "op": "eq", "values": ["rt"], "text": "-m rt"}]),
])
def test_match_modules_by_table(line, match):
    chain, rule = parse_rule(line, CHAINS, IPSETS)
    assert (chain, rule["match"], rule["verdict"]) == ("INPUT", match, {"kind": "drop"})
