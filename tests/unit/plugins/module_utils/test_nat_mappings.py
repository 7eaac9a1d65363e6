# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DNAT/REDIRECT mappings from rule sets loaded into namespaces with the real tools (fixtures/mappings)."""

from __future__ import annotations

import re

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._firewall._gather import gather_firewall
from ansible_collections.portproof.validate.plugins.module_utils._mappings._nat import (
    _State, narrow, nat_mappings, netavark_container_id, target_port)


from ansible_collections.portproof.validate.tests.unit.plugins.module_utils.mapping_fakes import FakeModule


def _nat(scenario):
    firewall, unavailable = gather_firewall(FakeModule(scenario))
    assert unavailable == [] and firewall["incomplete"] == []
    return nat_mappings(firewall)


def _rows(mappings):
    return [(m["family"], m["proto"], m["host_ip"], m["host_port"], m["target_ip"], m["target_port"], m["kind"], m["manager"],
             tuple(m["sources"])) for m in mappings]


IPT = ("iptables",)
NFT = ("nftables",)
EXPECTED = {
    "podman": [
        ("ipv4", "udp", "0.0.0.0", 5353, "10.88.0.201", 53, "dnat", "netavark", IPT),
        ("ipv4", "udp", "0.0.0.0", 6000, "10.88.0.203", 60, "dnat", "netavark", IPT),
        ("ipv4", "udp", "0.0.0.0", 6001, "10.88.0.203", 61, "dnat", "netavark", IPT),
        ("ipv4", "tcp", "0.0.0.0", 7000, "10.88.0.203", 80, "dnat", "netavark", IPT),
        ("ipv4", "tcp", "0.0.0.0", 7001, "10.88.0.203", 81, "dnat", "netavark", IPT),
        ("ipv4", "tcp", "0.0.0.0", 7002, "10.88.0.203", 82, "dnat", "netavark", IPT),
        ("ipv4", "tcp", "0.0.0.0", 7100, "10.88.0.204", 80, "dnat", "netavark", IPT),
        ("ipv4", "tcp", "0.0.0.0", 8080, "10.88.0.200", 80, "dnat", "netavark", IPT),
        ("ipv4", "tcp", "0.0.0.0", 8081, "10.88.0.201", 80, "dnat", "netavark", IPT),
        ("ipv4", "tcp", "0.0.0.0", 8090, "10.89.0.4", 80, "dnat", "netavark", IPT),
        ("ipv6", "tcp", "::", 8090, "fd00:89::4", 80, "dnat", "netavark", IPT),
        ("ipv4", "tcp", "203.0.113.5", 8443, "10.88.0.201", 443, "dnat", "netavark", IPT),
        ("ipv4", "tcp", "127.0.0.1", 9000, "10.88.0.201", 9000, "dnat", "netavark", IPT),
        ("ipv4", "udp", "0.0.0.0", 37763, "10.88.0.202", 53, "dnat", "netavark", IPT),
        ("ipv4", "tcp", "0.0.0.0", 42871, "10.88.0.202", 80, "dnat", "netavark", IPT),
    ],
    "docker-rules": [
        ("ipv4", "udp", "0.0.0.0", 5353, "172.17.0.2", 53, "dnat", "docker", IPT),
        ("ipv4", "tcp", "192.168.50.5", 5432, "172.18.0.2", 5432, "dnat", "docker", IPT),
        ("ipv4", "tcp", "0.0.0.0", 8080, "172.17.0.2", 80, "dnat", "docker", IPT),
        ("ipv6", "tcp", "::", 8080, "fd00:d0c::2", 80, "dnat", "docker", IPT),
        ("ipv4", "tcp", "127.0.0.1", 9000, "172.17.0.3", 9000, "dnat", "docker", IPT),
    ],
    "kube-proxy": [
        ("ipv4", "udp", "10.96.0.10", 53, "10.244.0.3", 53, "dnat", "kube-proxy", IPT),
        ("ipv4", "tcp", "10.96.120.15", 80, "10.244.1.5", 8080, "dnat", "kube-proxy", IPT),
        ("ipv4", "tcp", "10.96.120.15", 80, "10.244.2.7", 8080, "dnat", "kube-proxy", IPT),
        ("ipv4", "tcp", "10.96.0.1", 443, "192.168.50.5", 6443, "dnat", "kube-proxy", IPT),
        ("ipv4", "udp", "10.96.77.40", 514, "10.244.1.9", 514, "dnat", "kube-proxy", IPT),
        ("ipv4", "tcp", "0.0.0.0", 30080, "10.244.1.5", 8080, "dnat", "kube-proxy", IPT),
        ("ipv4", "tcp", "0.0.0.0", 30080, "10.244.2.7", 8080, "dnat", "kube-proxy", IPT),
        ("ipv4", "udp", "0.0.0.0", 31514, "10.244.1.9", 514, "dnat", "kube-proxy", IPT),
    ],
    "nft": [
        ("ipv4", "tcp", "0.0.0.0", 2222, None, 22, "redirect", None, NFT),
        ("ipv6", "tcp", "::", 2222, None, 22, "redirect", None, NFT),
        ("ipv4", "tcp", "0.0.0.0", 2525, "192.168.50.25", 25, "dnat", None, NFT),
        ("ipv4", "tcp", "0.0.0.0", 6000, "10.99.0.4", "6000-6002", "dnat", None, NFT),
        ("ipv4", "tcp", "0.0.0.0", 7000, "10.99.0.3", 7000, "dnat", None, NFT),
        ("ipv4", "tcp", "0.0.0.0", 7001, "10.99.0.3", 7001, "dnat", None, NFT),
        ("ipv4", "tcp", "0.0.0.0", 7002, "10.99.0.3", 7002, "dnat", None, NFT),
        ("ipv6", "tcp", "2001:db8:ffff::5", 8080, "fd00:99::2", 80, "dnat", None, NFT),
        ("ipv4", "tcp", "0.0.0.0", 8088, "10.99.0.2", 80, "dnat", None, NFT),
        ("ipv4", "tcp", "203.0.113.5", 8443, "10.99.0.2", 443, "dnat", None, NFT),
        ("ipv4", "tcp", "0.0.0.0", 9001, "10.99.0.5", 9001, "dnat", None, NFT),
        ("ipv4", "tcp", "0.0.0.0", 9002, "10.99.0.6", 9002, "dnat", None, NFT),
        ("ipv4", "udp", "0.0.0.0", 10053, None, 53, "redirect", None, NFT),
        ("ipv6", "udp", "::", 10053, None, 53, "redirect", None, NFT),
    ],
}


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_mappings_of_each_rule_set(scenario):
    mappings, problems = _nat(scenario)
    assert _rows(mappings) == EXPECTED[scenario]
    if scenario != "nft":
        assert problems == []


def _paths(mapping):
    return [(r["chain"], r["index"], p["hook"], p["chains"], p["conditions"]) for r in mapping["rules"] for p in r["paths"]]


def _find(mappings, **keys):
    found = [m for m in mappings if all(m[k] == v for k, v in keys.items())]
    assert len(found) == 1, found
    return found[0]


LOCAL = {"key": "daddr_type", "op": "eq", "values": ["local"]}


def test_netavark_rules_carry_both_hooks_and_the_container_id():
    mappings, _problems = _nat("podman")
    web = _find(mappings, host_port=8080)
    assert _paths(web) == [
        ("NETAVARK-DN-1D8721804F16F", 3, "prerouting", ["PREROUTING", "NETAVARK-HOSTPORT-DNAT", "NETAVARK-DN-1D8721804F16F"], [LOCAL]),
        ("NETAVARK-DN-1D8721804F16F", 3, "output", ["OUTPUT", "NETAVARK-HOSTPORT-DNAT", "NETAVARK-DN-1D8721804F16F"], [LOCAL]),
    ]
    assert web["rules"][0]["text"] == "-A NETAVARK-DN-1D8721804F16F -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.88.0.200:80"
    assert (web["rules"][0]["source"], web["rules"][0]["family"], web["rules"][0]["table"]) == ("iptables-nft", "ip", "nat")
    assert netavark_container_id(web) == "830730e4a0ef833e152672d23c496e1216115999d623223df19d22a2a2d7af7a"
    # The shared DN chain is entered on one --dport at a time: each mapping comes from exactly the
    # DNAT rule of its own port, and each of the 12 DNAT rules makes its own mapping(s).
    for mapping in mappings:
        assert len(mapping["rules"]) == 1
        dport = re.search(r"--dport (\d+)(?::(\d+))? ", mapping["rules"][0]["text"])
        assert int(dport.group(1)) <= mapping["host_port"] <= int(dport.group(2) or dport.group(1)), mapping
    assert len(set((m["family"], m["rules"][0]["index"], m["rules"][0]["chain"]) for m in mappings)) == 12


def test_docker_loopback_mapping_is_not_reached_from_output():
    mappings, _problems = _nat("docker-rules")
    not_docker0 = {"key": "iifname", "op": "ne", "values": ["docker0"]}
    assert _paths(_find(mappings, host_port=9000)) == [("DOCKER", 5, "prerouting", ["PREROUTING", "DOCKER"], [LOCAL, not_docker0])]
    assert _paths(_find(mappings, host_port=8080, family="ipv4")) == [
        ("DOCKER", 3, "prerouting", ["PREROUTING", "DOCKER"], [LOCAL, not_docker0]),
        ("DOCKER", 3, "output", ["OUTPUT", "DOCKER"], [{"key": "daddr", "op": "ne", "values": ["127.0.0.0/8"]}, LOCAL, not_docker0]),
    ]


def test_kube_proxy_node_port_paths_through_every_chain():
    mappings, _problems = _nat("kube-proxy")
    sep = _find(mappings, host_port=30080, target_ip="10.244.1.5")
    statistic = [c for c in _paths(sep)[0][4] if c["key"] == "random"]
    assert statistic == [{"key": "random", "op": "eq", "values": [], "mode": "random", "share": 0.5}]
    assert [(hook, chains) for _c, _i, hook, chains, _cond in _paths(sep)] == [
        (hook, [hook.upper(), "KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-EXT-6UTZRCHX2JQ3IQKT", "KUBE-SVC-6UTZRCHX2JQ3IQKT",
                "KUBE-SEP-4NMG2T5JQ3QJ4UWR"]) for hook in ("prerouting", "output")]
    assert sep["rules"][0]["paths"][0]["comments"] == [
        "kubernetes service portals", "kubernetes service nodeports; NOTE: this must be the last rule in this chain", "shop/web:http",
        "shop/web:http -> 10.244.1.5:8080", "shop/web:http"]
    # externalTrafficPolicy: Local reaches the endpoint through KUBE-SVL as well as through KUBE-SVC.
    syslog = _find(mappings, host_port=31514)
    assert sorted(set(tuple(chains[4:5]) for _c, _i, _h, chains, _cond in _paths(syslog))) == [
        ("KUBE-SVC-LNJF3YVB57ZKCE4U",), ("KUBE-SVL-LNJF3YVB57ZKCE4U",)]


def test_nft_rules_shadowed_or_unreadable():
    mappings, problems = _nat("nft")
    # `tcp dport 2526 return` comes first: the DNAT for 2526 after it never happens.
    assert not [m for m in mappings if m["host_port"] == 2526]
    assert problems == []
    # dnat ip to tcp dport map { 9001 : 10.99.0.5, 9002 : 10.99.0.6 }: one mapping per element.
    for port, target in ((9001, "10.99.0.5"), (9002, "10.99.0.6")):
        found = _find(mappings, host_port=port)
        assert (found["proto"], found["target_ip"], found["target_port"], found["rules"][0]["index"]) == ("tcp", target, port, 8)
    via_map = _find(mappings, host_port=8088)
    assert [(hook, chains) for _c, _i, hook, chains, _cond in _paths(via_map)] == [
        ("prerouting", ["prerouting", "to_web"]), ("output", ["output", "to_web"])]
    assert _find(mappings, host_port=6000)["rules"][0]["paths"][0]["conditions"] == [
        {"key": "iifname", "op": "eq", "values": ["eth1"]}]


def test_rules_outside_nat_prerouting_and_output_are_not_mappings():
    firewall = {"tables": [{"source": "nftables", "family": "ip", "name": "t", "chains": [
        {"name": "post", "hook": "postrouting", "type": "nat", "rules": [_dnat_rule([], "10.0.0.9", 80)]},
        {"name": "in", "hook": "input", "type": "filter", "rules": [_dnat_rule([], "10.0.0.9", 80)]},
        {"name": "orphan", "hook": None, "type": None, "rules": [_dnat_rule([], "10.0.0.9", 80)]},
    ]}, {"source": "nftables", "family": "bridge", "name": "b", "chains": [
        {"name": "pre", "hook": "prerouting", "type": "nat", "rules": [_dnat_rule([], "10.0.0.9", 80)]}]}]}
    assert nat_mappings(firewall) == ([], [])
    assert nat_mappings(None) == ([], [])


def _dnat_rule(match, addr, port, index=1):
    return {"index": index, "text": "r%d" % index, "comment": None, "match": match, "statements": [],
            "verdict": {"kind": "dnat", "addr": addr, "port": port}}


def _eq(key, *values):
    return {"key": key, "op": "eq", "values": list(values)}


def test_dnat_of_every_protocol_and_port_and_loops():
    def jump(index, chain):
        return {"index": index, "text": "-j %s" % chain, "match": [], "verdict": {"kind": "jump", "chain": chain}}

    firewall = {"tables": [{"source": "iptables-legacy", "family": "ip", "name": "nat", "chains": [
        {"name": "PREROUTING", "hook": "prerouting", "type": "nat",
         "rules": [jump(1, "a"), _dnat_rule([_eq("daddr", "198.51.100.0/24")], "10.0.0.9", None, 2)]},
        {"name": "a", "hook": None, "type": None, "rules": [jump(1, "a"), jump(2, "b")]},  # loops are followed once
        {"name": "b", "hook": None, "type": None, "rules": [jump(1, "a")]},
    ]}]}
    mappings, problems = nat_mappings(firewall)
    assert problems == []
    assert _rows(mappings) == [("ipv4", None, "198.51.100.0/24", None, "10.0.0.9", None, "dnat", None, IPT)]
    assert mappings[0]["rules"][0]["source"] == "iptables-legacy"


def test_wide_port_ranges_stay_ranges():
    firewall = {"tables": [{"source": "nftables", "family": "ip", "name": "t", "chains": [
        {"name": "pre", "hook": "prerouting", "type": "nat", "rules": [
            _dnat_rule([_eq("l4proto", "tcp"), _eq("dport", "10000-20000")], "10.0.0.9", None),
            _dnat_rule([_eq("l4proto", "udp"), _eq("dport", "5000-5002", 6000)], "10.0.0.9", 53, 2)]}]}]}
    assert [(m["proto"], m["host_port"], m["target_port"]) for m in nat_mappings(firewall)[0]] == [
        ("udp", 5000, 53), ("udp", 5001, 53), ("udp", 5002, 53), ("udp", 6000, 53), ("tcp", "10000-20000", "10000-20000")]


@pytest.mark.parametrize("spec,host_port,expected", [
    (None, 8080, 8080),
    (None, None, None),
    (80, 8080, 80),
    ("80-82/7000", 7001, 81),
    ("80-82/7000", 7002, 82),
    ("80-82/7000", "7000-9000", "80-82"),
    ("6000-6002", 6000, "6000-6002"),
    ("443-443", 8443, 443),
    ("443", 8443, 443),
    ("http", 8080, "http"),
])
def test_target_port(spec, host_port, expected):
    assert target_port(spec, host_port) == expected


def _state(**kw):
    return _State(("ipv4", "ipv6"), **kw)


@pytest.mark.parametrize("match,expected", [
    (_eq("l4proto", "tcp"), "protos=tcp"),
    ({"key": "l4proto", "op": "ne", "values": ["tcp"]}, "cond"),
    (_eq("dport", 80, "1000-1002"), "ports=(80, 80),(1000, 1002)"),
    (_eq("daddr", "10.0.0.1/32"), "nets=10.0.0.1/32 families=ipv4"),
    (_eq("daddr", "2001:db8::/64"), "nets=2001:db8::/64 families=ipv6"),
    (_eq("daddr", "10.0.0.1-10.0.0.2"), "nets=10.0.0.1/32,10.0.0.2/32 families=ipv4"),
    (_eq("nfproto", "ipv6"), "families=ipv6"),
    ({"key": "nfproto", "op": "ne", "values": ["ipv6"]}, "families=ipv4"),
    (_eq("dport", "http"), "cond"),
    (_eq("iifname", "eth0"), "cond"),
    ({"key": "limit", "op": "under", "text": "x"}, "cond"),
])
def test_narrow_from_nothing(match, expected):
    state = narrow(_state(), match)
    shown = []
    if state.protos is not None:
        shown.append("protos=" + ",".join(sorted(state.protos)))
    if state.ports is not None:
        shown.append("ports=" + ",".join(str(p) for p in state.ports))
    if state.nets is not None:
        shown.append("nets=" + ",".join(str(n) for n in state.nets))
    if state.families != ("ipv4", "ipv6"):
        shown.append("families=" + ",".join(state.families))
    if state.conditions:
        assert state.conditions == (match,)
        shown.append("cond")
    assert " ".join(shown) == expected


@pytest.mark.parametrize("first,second,alive", [
    (_eq("l4proto", "tcp"), _eq("l4proto", "udp"), False),
    (_eq("dport", "80-90"), _eq("dport", 85), True),
    (_eq("dport", "80-90"), {"key": "dport", "op": "ne", "values": ["80-90"]}, False),
    (_eq("dport", "80-90"), {"key": "dport", "op": "ne", "values": [85]}, True),
    (_eq("daddr", "10.0.0.0/8"), _eq("daddr", "10.1.2.3"), True),
    (_eq("daddr", "10.0.0.0/8"), _eq("daddr", "192.0.2.1"), False),
    (_eq("daddr", "10.0.0.0/8"), _eq("nfproto", "ipv6"), False),
    ({"key": "daddr", "op": "ne", "values": ["127.0.0.0/8"]}, _eq("daddr", "127.0.0.1"), False),
    ({"key": "l4proto", "op": "ne", "values": ["tcp"]}, _eq("l4proto", "tcp"), False),
    ({"key": "dport", "op": "ne", "values": [80]}, _eq("dport", 80), False),
    ({"key": "dport", "op": "ne", "values": [80]}, _eq("dport", 80, 81), True),
])
def test_narrow_contradictions(first, second, alive):
    assert (narrow(narrow(_state(), first), second) is not None) is alive


def test_shared_chain_entered_per_port_and_per_range():
    def jump(index, ports, chain):
        return {"index": index, "text": "j%d" % index, "match": [_eq("l4proto", "tcp"), _eq("dport", *ports)],
                "verdict": {"kind": "jump", "chain": chain}}

    shared = [
        _dnat_rule([_eq("l4proto", "tcp"), _eq("dport", 8080)], "10.0.0.1", 80, 1),
        _dnat_rule([_eq("l4proto", "tcp"), _eq("dport", "150")], "10.0.0.9", 1, 2),   # pre-empts part of the range below
        _dnat_rule([_eq("l4proto", "tcp"), _eq("dport", "100-199")], "10.0.0.2", None, 3),
        _dnat_rule([_eq("l4proto", "tcp"), _eq("dport", 8080)], "10.0.0.3", 80, 4),   # never: rule 1 comes first
    ]
    firewall = {"tables": [{"source": "nftables", "family": "ip", "name": "t", "chains": [
        {"name": "pre", "hook": "prerouting", "type": "nat", "rules": [jump(1, [8080], "dn"), jump(2, ["100-199"], "dn")]},
        {"name": "dn", "hook": None, "type": None, "rules": shared}]}]}
    mappings, _problems = nat_mappings(firewall)
    rows = [(m["host_port"], m["target_ip"], m["target_port"]) for m in mappings]
    assert rows == [(p, "10.0.0.2", p) for p in range(100, 150)] + [(150, "10.0.0.9", 1)] + \
        [(p, "10.0.0.2", p) for p in range(151, 200)] + [(8080, "10.0.0.1", 80)]


def test_earlier_rules_on_some_ports_of_an_every_port_rule():
    firewall = {"tables": [{"source": "nftables", "family": "ip", "name": "t", "chains": [
        {"name": "pre", "hook": "prerouting", "type": "nat", "rules": [
            {"index": 1, "text": "tcp dport { 22, 80-81 } return", "match": [_eq("l4proto", "tcp"), _eq("dport", 22, "80-81")],
             "verdict": {"kind": "return"}},
            {"index": 2, "text": "udp dport 53 accept", "match": [_eq("l4proto", "udp"), _eq("dport", 53)], "verdict": {"kind": "accept"}},
            {"index": 3, "text": "tcp dport != 443 return", "match": [_eq("l4proto", "tcp"), {"key": "dport", "op": "ne", "values": [443]}],
             "verdict": {"kind": "return"}},
            _dnat_rule([_eq("l4proto", "tcp")], "10.0.0.5", None, 4)]}]}]}
    mappings, _problems = nat_mappings(firewall)
    # only 443 gets past the returns
    assert _rows(mappings) == [("ipv4", "tcp", "0.0.0.0", 443, "10.0.0.5", 443, "dnat", None, NFT)]
    assert mappings[0]["rules"][0]["paths"][0]["conditions"] == []
    # without the third rule: every port but 22, 80 and 81
    firewall["tables"][0]["chains"][0]["rules"].pop(2)
    mappings, _problems = nat_mappings(firewall)
    assert _rows(mappings) == [("ipv4", "tcp", "0.0.0.0", None, "10.0.0.5", None, "dnat", None, NFT)]
    assert mappings[0]["rules"][0]["paths"][0]["conditions"] == [{"key": "dport", "op": "ne", "values": [22, "80-81"]}]


def test_an_earlier_rule_on_the_same_unreadable_ports_as_the_path_takes_every_packet():
    # The jump and the accept share a destination port match this layer cannot read (kept as a
    # condition of the path): the accept takes every packet that reaches the DNAT after it.
    unreadable = _eq("dport", "@web")
    firewall = {"tables": [{"source": "nftables", "family": "ip", "name": "t", "chains": [
        {"name": "pre", "hook": "prerouting", "type": "nat", "rules": [
            {"index": 1, "text": "tcp dport @web jump web", "match": [_eq("l4proto", "tcp"), unreadable],
             "verdict": {"kind": "jump", "chain": "web"}}]},
        {"name": "web", "hook": None, "type": None, "rules": [
            {"index": 1, "text": "tcp dport @web accept", "match": [unreadable], "verdict": {"kind": "accept"}},
            _dnat_rule([], "10.0.0.5", 80, 2)]}]}]}
    assert nat_mappings(firewall) == ([], [])
    # without the accept, the DNAT maps every port that the unreadable match allows
    firewall["tables"][0]["chains"][1]["rules"].pop(0)
    mappings, problems = nat_mappings(firewall)
    assert (_rows(mappings), problems) == ([("ipv4", "tcp", "0.0.0.0", None, "10.0.0.5", 80, "dnat", None, NFT)], [])
    assert mappings[0]["rules"][0]["paths"][0]["conditions"] == [unreadable]
