# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nft -j list ruleset parsing, over rule sets captured from nftables 1.0.6 (fixtures/firewall)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._firewall._nft import NftParseError, parse_nft_json, rule_texts

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "firewall")


def _load(scenario, name):
    with open(os.path.join(FIXTURES, scenario, name)) as handle:
        return handle.read()


def _tables(scenario, skip=()):
    return parse_nft_json(_load(scenario, "nft-list-ruleset.json"), _load(scenario, "nft-a-list-ruleset.txt"), skip)


def _chain(tables, family, table, chain):
    for t in tables:
        if (t["family"], t["name"]) == (family, table):
            for c in t["chains"]:
                if c["name"] == chain:
                    return c
    raise AssertionError("no chain %s %s %s" % (family, table, chain))


def eq(key, values, **extra):
    return dict({"key": key, "op": "eq", "values": values}, **extra)


def ne(key, values, **extra):
    return dict({"key": key, "op": "ne", "values": values}, **extra)


V4 = eq("nfproto", ["ipv4"])
V6 = eq("nfproto", ["ipv6"])
TCP = eq("l4proto", ["tcp"])
UDP = eq("l4proto", ["udp"])

INPUT = [
    ('iif "lo" accept', [eq("iifname", ["lo"])], {"kind": "accept"}),
    ("ct state vmap { invalid : drop, established : accept, related : accept }", [],
     {"kind": "vmap", "keys": ["ct_state"], "map": [["invalid", {"kind": "drop"}], ["established", {"kind": "accept"}],
                                                    ["related", {"kind": "accept"}]]}),
    ("meta l4proto { icmp, ipv6-icmp } accept", [eq("l4proto", ["icmp", "ipv6-icmp"])], {"kind": "accept"}),
    ('ip saddr @admins tcp dport 22 counter packets 0 bytes 0 accept comment "ssh from admins"',
     [V4, eq("saddr", ["10.1.0.0/16", "192.0.2.10", "198.51.100.1-198.51.100.9"], set="admins"), TCP, eq("dport", [22])],
     {"kind": "accept"}),
    ("ip6 saddr @admins6 tcp dport 22 accept", [V6, eq("saddr", ["2001:db8:1::/48"], set="admins6"), TCP, eq("dport", [22])],
     {"kind": "accept"}),
    ("tcp dport @webports accept", [TCP, eq("dport", [80, 443, "8000-8010"], set="webports")], {"kind": "accept"}),
    ("ip saddr . tcp dport @allowpairs accept",
     [V4, TCP, eq("concat", [["192.0.2.20", 5432], ["192.0.2.21", 5432]], keys=["saddr", "dport"], set="allowpairs")],
     {"kind": "accept"}),
    ("ip saddr != 10.0.0.0/8 tcp dport 6379 reject with tcp reset", [V4, ne("saddr", ["10.0.0.0/8"]), TCP, eq("dport", [6379])],
     {"kind": "reject", "with": None}),
    ("tcp dport 6379 accept", [TCP, eq("dport", [6379])], {"kind": "accept"}),
    ('iifname "eth1" udp dport 161 accept', [eq("iifname", ["eth1"]), UDP, eq("dport", [161])], {"kind": "accept"}),
    ("tcp dport vmap @portverdict", [TCP],
     {"kind": "vmap", "keys": ["dport"], "map": [[25, {"kind": "jump", "chain": "smtp"}],
                                                 [110, {"kind": "goto", "chain": "legacy_mail"}]]}),
    ("udp dport 5000-5100 ip saddr 192.0.2.0/24 accept", [UDP, eq("dport", ["5000-5100"]), V4, eq("saddr", ["192.0.2.0/24"])],
     {"kind": "accept"}),
    ('tcp dport { 7000, 7001 } log prefix "seven: " drop', [TCP, eq("dport", [7000, 7001])], {"kind": "drop"}),
    ("ip daddr 203.0.113.99 tcp dport 8081 accept", [V4, eq("daddr", ["203.0.113.99"]), TCP, eq("dport", [8081])],
     {"kind": "accept"}),
    ("meta mark 0x00000010 accept", [eq("mark", [16])], {"kind": "accept"}),
]


@pytest.mark.parametrize("pos", range(len(INPUT)))
def test_inet_filter_input(pos):
    rules = _chain(_tables("nft"), "inet", "filter", "input")["rules"]
    text, match, verdict = INPUT[pos]
    rule = rules[pos]
    assert (rule["index"], rule["text"], rule["match"], rule["verdict"]) == (pos + 1, text, match, verdict)


def test_chains_hooks_priorities_devices():
    tables = _tables("nft")
    got = [(t["family"], t["name"], c["name"], c["hook"], c["type"], c["priority"], c["policy"], c["device"])
           for t in tables for c in t["chains"] if c["hook"]]
    assert got == [
        ("inet", "filter", "input", "input", "filter", 0, "drop", None),
        ("inet", "filter", "forward", "forward", "filter", 0, "drop", None),
        ("inet", "guard", "pre", "prerouting", "filter", -150, "accept", None),
        ("inet", "guard", "early", "input", "filter", -10, "accept", None),
        ("ip", "nat", "prerouting", "prerouting", "nat", -100, "accept", None),
        ("netdev", "edge", "ingress", "ingress", "filter", 0, "accept", ["eth0"]),
    ]


def test_nat_and_mark_statements():
    tables = _tables("nft")
    nat = _chain(tables, "ip", "nat", "prerouting")["rules"]
    assert [(r["match"], r["verdict"]) for r in nat] == [
        ([eq("daddr_type", ["local"]), TCP, eq("dport", [8080])], {"kind": "dnat", "addr": "10.99.0.2", "port": 80}),
        ([TCP, eq("dport", [2222])], {"kind": "redirect", "port": 22}),
        ([eq("iifname", ["eth0"]), TCP, eq("dport", [8443])], {"kind": "dnat", "addr": "10.99.0.1", "port": 9443}),
    ]
    pre = _chain(tables, "inet", "guard", "pre")["rules"][0]
    assert pre["statements"] == [{"kind": "set", "key": "mark", "value": 16, "mask": 0xFFFFFFFF, "mode": "set"}]


def test_sets_kept_by_content():
    table = [t for t in _tables("nft") if t["name"] == "filter"][0]
    assert table["sets"]["webports"] == {"type": "inet_service", "elements": [80, 443, "8000-8010"]}


def test_iptables_nft_tables_are_skipped_and_xt_is_unsupported():
    # Without the skip list the iptables-nft tables are read from nft: their xt expressions are opaque.
    tables = _tables("iptables")
    rule = _chain(tables, "ip", "filter", "INPUT")["rules"][1]
    assert rule["match"] == [{"key": "unsupported", "text": "xt conntrack", "reason":
                              "iptables extension conntrack (xt compat expression): read this table with iptables-save"}]
    skipped = _tables("iptables", skip={("ip", "filter"), ("ip", "nat"), ("ip", "raw"), ("ip", "mangle"), ("ip6", "filter")})
    assert [(t["family"], t["name"]) for t in skipped] == [("inet", "extra")]


def test_firewalld_rules():
    tables = _tables("firewalld")
    zones = _chain(tables, "inet", "firewalld", "filter_INPUT_ZONES")["rules"]
    assert [(r["match"], r["verdict"]) for r in zones] == [
        ([V4, eq("saddr", ["192.0.2.0/28"])], {"kind": "goto", "chain": "filter_IN_trusted"}),
        ([eq("iifname", ["eth1"])], {"kind": "goto", "chain": "filter_IN_internal"}),
        ([eq("iifname", ["eth0"])], {"kind": "goto", "chain": "filter_IN_public"}),
        ([], {"kind": "goto", "chain": "filter_IN_public"}),
    ]
    pre = _chain(tables, "inet", "firewalld", "filter_PREROUTING")["rules"]
    assert pre[1]["match"] == [eq("nfproto", ["ipv6"]), eq("rpfilter", ["fail"])]
    inp = _chain(tables, "inet", "firewalld", "filter_INPUT")["rules"]
    assert inp[1]["match"] == [eq("ct_status", ["dnat"])]
    assert inp[5]["verdict"] == {"kind": "reject", "with": "admin-prohibited"}


def test_rule_texts_handles_and_devices():
    texts = rule_texts(_load("nft", "nft-a-list-ruleset.txt"))
    assert texts[("inet", "filter", "smtp", 32)] == "ip saddr 192.0.2.0/24 return"
    assert texts[("inet", "filter", "smtp", 33)] == "accept"
    assert texts["devices"] == {("netdev", "edge", "ingress"): ["eth0"]}


@pytest.mark.parametrize("expr, key, reason", [
    ({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "ttl"}}, "right": 64}},
     "unsupported", "payload ip ttl is not evaluated"),
    ({"match": {"op": "==", "left": {"meta": {"key": "skuid"}}, "right": 0}}, "unsupported", "meta skuid is not evaluated"),
    ({"match": {"op": "==", "left": {"socket": {"key": "transparent"}}, "right": 1}}, "unsupported",
     'expression {"socket": {"key": "transparent"}} is not evaluated'),
])
def test_unsupported_expressions(expr, key, reason):
    doc = {"nftables": [
        {"table": {"family": "inet", "name": "t", "handle": 1}},
        {"chain": {"family": "inet", "table": "t", "name": "c", "handle": 1, "type": "filter", "hook": "input", "prio": 0,
                   "policy": "accept"}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 2, "expr": [expr, {"drop": None}]}},
    ]}
    rule = parse_nft_json(json.dumps(doc))[0]["chains"][0]["rules"][0]
    assert rule["match"][-1] == {"key": key, "text": "handle 2", "reason": reason}


def test_not_json():
    with pytest.raises(NftParseError) as exc:
        parse_nft_json("Error: syntax error")
    assert str(exc.value).startswith("nft -j list ruleset: not the expected JSON:")


def _one_rule(*expr):
    doc = {"nftables": [
        {"table": {"family": "inet", "name": "t", "handle": 1}},
        {"chain": {"family": "inet", "table": "t", "name": "c", "handle": 1, "type": "filter", "hook": "input", "prio": 0,
                   "policy": "accept"}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 2, "expr": list(expr)}},
    ]}
    return parse_nft_json(json.dumps(doc))[0]["chains"][0]["rules"][0]


def test_unmodelled_match_keeps_the_rest_of_the_rule():
    # "meta cpu 1 tcp dport 22 drop": the drop and the port match after the unmodelled part stay.
    rule = _one_rule({"match": {"op": "==", "left": {"meta": {"key": "cpu"}}, "right": 1}},
                     {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}},
                     {"drop": None})
    assert rule["match"] == [{"key": "unsupported", "text": "handle 2", "reason": "meta cpu is not evaluated"}, TCP,
                             eq("dport", [22])]
    assert rule["verdict"] == {"kind": "drop"}


def test_unmodelled_statement_makes_the_verdict_unsupported():
    # "tcp dport 80 synproxy mss 1460 accept": what the rule does when it matches is not known.
    rule = _one_rule({"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}},
                     {"synproxy": {"mss": 1460}}, {"accept": None})
    assert rule["match"] == [TCP, eq("dport", [80])]
    assert rule["verdict"] == {"kind": "unsupported", "name": "synproxy", "reason": "statement synproxy is not evaluated"}


def test_map_elements_from_the_ruleset_and_from_each_table():
    # kube-proxy's maps keyed on concatenations, as `nft -j list ruleset` and `nft -j list table`
    # (the gather's path beside iptables-nft tables) give them: the same elements.
    whole = dict((t["name"], t["sets"]) for t in _tables("kubenft"))
    per_table = json.loads(_load("kubenft", "nft-list-table-ip-kube-proxy.json"))["nftables"]
    (table,) = parse_nft_json([item for item in per_table if "metainfo" not in item])
    assert table["sets"] == whole["kube-proxy"]
    assert table["sets"]["service-nodeports"] == {"type": ["inet_proto", "inet_service"], "map": "verdict",
                                                  "elements": [[["tcp", 30042], {"kind": "goto", "chain": "external-svc-b"}]]}
    assert sorted(map(str, table["sets"]["service-ips"]["elements"])) == sorted(map(str, [
        [["172.30.0.41", "tcp", 80], {"kind": "goto", "chain": "service-svc-a"}],
        [["172.30.0.42", "tcp", 80], {"kind": "goto", "chain": "service-svc-b"}],
        [["172.30.0.42", "udp", 53], {"kind": "goto", "chain": "service-svc-b-dns"}],
        [["172.30.0.43", "tcp", 443], {"kind": "goto", "chain": "service-svc-d"}]]))
    edge = whole["edge"]
    assert edge["blocked"]["elements"] == [[["198.51.100.0/24", "tcp", "1000-1999"], {"kind": "drop"}],
                                           [["198.51.100.128/25", "udp", 53], {"kind": "goto", "chain": "noisy"}]]
    assert edge["webnat"] == {"type": ["ipv4_addr", "inet_service"], "map": "ipv4_addr . inet_service",
                              "elements": [[["192.168.50.5", 9001], ["10.180.0.7", 80]]]}
    assert edge["portnat"] == {"type": "inet_service", "map": "ipv4_addr", "elements": [[9002, "10.180.0.8"]]}


def test_verdict_maps_and_dnat_maps_in_rules():
    tables = dict((t["name"], t) for t in _tables("kubenft"))
    services = _chain(_tables("kubenft"), "ip", "kube-proxy", "services")["rules"][0]
    assert services["match"] == [eq("l4proto", ["tcp", "udp", "udplite", "sctp", "dccp"])]
    assert services["verdict"]["keys"] == ["daddr", "l4proto", "dport"]
    assert services["verdict"]["map"] == tables["kube-proxy"]["sets"]["service-ips"]["elements"]
    balance = _chain(_tables("kubenft"), "ip", "kube-proxy", "service-svc-b")["rules"][1]
    assert balance["verdict"] == {"kind": "vmap", "keys": ["random"], "mod": 2, "offset": 0, "source": "numgen random",
                                  "map": [[0, {"kind": "goto", "chain": "endpoint-svc-b-1"}],
                                          [1, {"kind": "goto", "chain": "endpoint-svc-b-2"}]]}
    lb = _chain(_tables("kubenft"), "ip", "edge", "lb-dnat")["rules"]
    assert [(r["match"], r["verdict"]) for r in lb] == [
        ([TCP], {"kind": "dnat", "addr": None, "port": None, "map": {
            "keys": ["daddr", "dport"], "elements": [[["192.168.50.5", 9001], ["10.180.0.7", 80]]]}}),
        ([TCP], {"kind": "dnat", "addr": None, "port": None, "map": {"keys": ["dport"], "elements": [[9002, "10.180.0.8"]]}}),
        ([TCP, eq("dport", [9003])], {"kind": "dnat", "addr": None, "port": None, "map": {
            "keys": ["random"], "mod": 2, "offset": 0, "source": "numgen random",
            "elements": [[0, "10.180.0.10"], [1, "10.180.0.11"]]}}),
    ]
    mark = _chain(_tables("kubenft"), "ip", "kube-proxy", "mark-for-masquerade")["rules"][0]
    assert mark["statements"] == [{"kind": "set", "key": "mark", "value": 0x4000, "mask": 0, "mode": "or"}]
