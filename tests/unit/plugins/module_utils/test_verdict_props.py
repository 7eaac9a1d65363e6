# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Property: a rule with a part the evaluator does not model is never skipped.

Into one rule of a rule set captured from the real tools (fixtures/firewall, see capture.sh) an
unmodelled match or statement is inserted: into the ``nft -j list ruleset`` JSON of the native
scenario, or into an ``-A`` line of iptables-nft-save. For any packet the verdict over the
changed rule set must be ``unknown``, or the verdict that both modelled readings give: the rule
as captured (the unmodelled match holds, the statement does nothing) and the rule removed (the
match fails). Deciding as if the rule were absent, while it would decide otherwise when it
matches, is the defect this guards against. Settings: the ``portproof`` hypothesis profile.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os

from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.portproof.validate.plugins.module_utils._firewall import _gather, _ipset, _iptables, _nft
from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import firewall_verdict

_SPEC = importlib.util.spec_from_file_location(
    "firewall_replay", os.path.join(os.path.dirname(__file__), "fixtures", "firewall", "replay.py"))
replay = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(replay)


def _read(scenario, name):
    with open(os.path.join(replay.root(scenario), name)) as handle:
        return handle.read()


def _base(scenario):
    firewall, dummy = replay.firewall(scenario)
    return firewall


NFT_BASE = _base("nft")
NFT_DOC = json.loads(_read("nft", "nft-list-ruleset.json"))
NFT_LISTING = _read("nft", "nft-a-list-ruleset.txt")
NFT_RULES = [pos for pos, item in enumerate(NFT_DOC["nftables"]) if "rule" in item]
IPT_BASE = {name: _base(name) for name in ("iptables", "ufw")}
IPT_SAVE = {name: _read(name, "iptables-nft-save.txt") for name in IPT_BASE}
IPT_SETS = {name: _ipset.parse_ipset_save(_read(name, "ipset-save.txt")) for name in IPT_BASE}
IPT_RULES = {name: [pos for pos, line in enumerate(IPT_SAVE[name].splitlines()) if line.startswith("-A ")] for name in IPT_BASE}

# Matches and statements the model does not evaluate (each parses to an "unsupported" part).
NFT_MATCHES = [
    {"match": {"op": "==", "left": {"meta": {"key": "cpu"}}, "right": 1}},
    {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "ttl"}}, "right": 64}},
    {"match": {"op": "==", "left": {"socket": {"key": "transparent"}}, "right": 1}},
    {"match": {"op": "!=", "left": {"meta": {"key": "skuid"}}, "right": 0}},
]
NFT_STATEMENTS = [
    {"synproxy": {"mss": 1460, "wscale": 7}},
    {"tproxy": {"family": "ip", "port": 50080}},
    {"fwd": {"dev": "eth1"}},
]
IPT_MATCHES = ["-m cpu --cpu 1", "-m u32 --u32 0x0&0x0=0x0", "-m owner --uid-owner 0", "-m length --length 0:100"]
PACKETS = st.fixed_dictionaries({
    "src": st.sampled_from(["8.8.8.8", "10.1.2.3", "192.0.2.20", "198.51.100.7", "203.0.113.200", "127.0.0.1",
                            "2001:db8:1::1", "2001:db8:5::1"]),
    "dport": st.sampled_from([22, 25, 80, 110, 161, 443, 1234, 2222, 5432, 6379, 8005, 8080, 8443, 9050, 9999]),
    "proto": st.sampled_from(["tcp", "udp"]),
}, optional={"iface": st.sampled_from(["eth0", "eth1", "lo"]), "dst": st.sampled_from(["203.0.113.5", "10.99.0.2"]),
             "state": st.sampled_from(["new", "established"])}).map(
    lambda p: dict((k, v) for k, v in p.items() if not (k == "dst" and ":" in p["src"])))


def _nft_firewall(doc):
    firewall = copy.copy(NFT_BASE)
    text = json.dumps(doc)
    tables = _nft.parse_nft_json(text, NFT_LISTING)
    _gather._add_handles(tables, _nft.nft_handles(text))
    firewall["tables"] = tables
    return firewall


def _ipt_firewall(name, lines):
    firewall = copy.copy(IPT_BASE[name])
    tables, dummy = _iptables.parse_save("\n".join(lines) + "\n", "ip", "iptables-nft", IPT_SETS[name])
    handles = dict(((t["family"], t["name"]), (t["handle"], dict((c["name"], c["handle"]) for c in t["chains"])))
                   for t in IPT_BASE[name]["tables"] if t["source"] == "iptables-nft" and t["family"] == "ip")
    _gather._add_handles(tables, handles)
    firewall["tables"] = tables + [t for t in IPT_BASE[name]["tables"] if not (t["source"] == "iptables-nft" and t["family"] == "ip")]
    return firewall


def _key(out):
    return (out["verdict"], out["final_dst"], out["final_dport"], sorted((d["dst"] or "", d["dport"] or 0) for d in out.get("destinations") or []))


def _check(changed, as_matched, as_absent, packet):
    out = firewall_verdict(changed, packet)
    if out["verdict"] == "unknown":
        return
    matched, absent = firewall_verdict(as_matched, packet), firewall_verdict(as_absent, packet)
    assert _key(out) == _key(matched) == _key(absent), (out["reason"], matched["reason"], absent["reason"])


@given(pos=st.sampled_from(NFT_RULES), part=st.sampled_from(NFT_MATCHES + NFT_STATEMENTS), where=st.integers(0, 8),
       packet=PACKETS)
def test_nft_rule_with_an_unmodelled_part_is_never_skipped(pos, part, where, packet):
    changed = copy.deepcopy(NFT_DOC)
    expr = changed["nftables"][pos]["rule"]["expr"]
    expr.insert(min(where, len(expr)), part)
    absent = copy.deepcopy(NFT_DOC)
    del absent["nftables"][pos]
    _check(_nft_firewall(changed), _nft_firewall(NFT_DOC), _nft_firewall(absent), packet)


@given(name=st.sampled_from(sorted(IPT_BASE)), data=st.data(), part=st.sampled_from(IPT_MATCHES), packet=PACKETS)
def test_iptables_rule_with_an_unmodelled_match_is_never_skipped(name, data, part, packet):
    lines = IPT_SAVE[name].splitlines()
    pos = data.draw(st.sampled_from(IPT_RULES[name]))
    words = lines[pos].split(" ")
    changed = lines[:pos] + [" ".join(words[:2] + [part] + words[2:])] + lines[pos + 1:]
    absent = lines[:pos] + lines[pos + 1:]
    _check(_ipt_firewall(name, changed), _ipt_firewall(name, lines), _ipt_firewall(name, absent), packet)


# -- verdict maps against the same elements written as rules -------------------------------------

KUBE_BASE = _base("kubenft")
KUBE_PACKETS = st.fixed_dictionaries({
    "src": st.sampled_from(["8.8.8.8", "198.51.100.7", "198.51.100.200", "10.180.0.4", "203.0.113.9", "192.168.50.7"]),
    "dst": st.sampled_from(["172.30.0.41", "172.30.0.42", "172.30.0.43", "172.30.0.46", "172.30.0.50", "192.168.50.5",
                            "203.0.113.5", "10.180.0.7"]),
    "dport": st.sampled_from([22, 53, 80, 443, 1500, 2000, 7777, 9001, 9002, 9003, 30042, 30046]),
    "proto": st.sampled_from(["tcp", "udp"]),
}, optional={"iface": st.sampled_from(["eth0", "eth1"])})


def _expanded(firewall):
    """The fact with every verdict map on packet fields replaced by one rule per element (its
    key values as matches, its verdict), in the map's order: what the map means."""
    out = copy.deepcopy(firewall)
    for table in out["tables"]:
        for chain in table["chains"]:
            rules = []
            for rule in chain["rules"]:
                verdict = rule.get("verdict") or {}
                if verdict.get("kind") != "vmap" or verdict["keys"] == ["random"]:
                    rules.append(rule)
                    continue
                for value, target in verdict["map"]:
                    values = value if len(verdict["keys"]) > 1 else [value]
                    rules.append(dict(rule, match=rule["match"] + [{"key": k, "op": "eq", "values": [v]}
                                                                   for k, v in zip(verdict["keys"], values)], verdict=target))
            for pos, rule in enumerate(rules):
                rule["index"] = pos + 1
            chain["rules"] = rules
    return out


KUBE_EXPANDED = _expanded(KUBE_BASE)


@given(packet=KUBE_PACKETS)
def test_verdict_maps_mean_their_elements_as_rules(packet):
    # The kube-proxy fixture's maps keyed on "ip daddr . meta l4proto . th dport", on
    # "meta l4proto . th dport" and the interval map on "ip saddr . meta l4proto . th dport".
    assert sum(1 for t in KUBE_BASE["tables"] for c in t["chains"] for r in c["rules"]
               if (r.get("verdict") or {}).get("kind") == "vmap" and r["verdict"]["keys"] != ["random"]) == 6
    by_map, by_rules = firewall_verdict(KUBE_BASE, packet), firewall_verdict(KUBE_EXPANDED, packet)
    assert _key(by_map) == _key(by_rules), (by_map["reason"], by_rules["reason"])
