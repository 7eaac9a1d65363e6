# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""gather_firewall over the tool output captured in fixtures/firewall (capture.sh)."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._firewall import _gather
from ansible_collections.portproof.validate.plugins.module_utils._firewall._gather import gather_firewall
from ansible_collections.portproof.validate.plugins.module_utils._firewall._nft import nft_handles, parse_nft_json

_SPEC = importlib.util.spec_from_file_location(
    "firewall_replay", os.path.join(os.path.dirname(__file__), "fixtures", "firewall", "replay.py"))
replay = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(replay)

ACCEPT_ALL = {"input": "accept", "forward": "accept", "output": "accept"}
DROP_IN = {"input": "drop", "forward": "drop", "output": "accept"}
NONE = {"input": None, "forward": None, "output": None}

# scenario: (backend, backends, managers, policies, forwarding, tables as "source family name")
EXPECTED = {
    "iptables": ("mixed", ["iptables-nft", "nftables"], [], {"ipv4": DROP_IN, "ipv6": DROP_IN}, {"ipv4": True, "ipv6": True},
                 ["iptables-nft ip mangle", "iptables-nft ip raw", "iptables-nft ip filter", "iptables-nft ip nat",
                  "iptables-nft ip6 filter", "nftables inet extra"]),
    "legacy": ("mixed", ["iptables-nft", "iptables-legacy"], [{"name": "docker", "active": True}],
               {"ipv4": {"input": "accept", "forward": "drop", "output": "accept"}, "ipv6": NONE},
               {"ipv4": True, "ipv6": True},
               ["iptables-nft ip filter", "iptables-legacy ip filter", "iptables-legacy ip nat"]),
    "nft": ("nftables", ["nftables"], [],
            {"ipv4": {"input": "drop", "forward": "drop", "output": None}, "ipv6": {"input": "drop", "forward": "drop", "output": None}},
            {"ipv4": True, "ipv6": True},
            ["nftables inet filter", "nftables inet guard", "nftables ip nat", "nftables netdev edge"]),
    "ufw": ("iptables-nft", ["iptables-nft"],
            [{"name": "ufw", "active": True, "enabled": True, "input_policy": "drop", "forward_policy": "drop",
              "output_policy": "accept"}],
            {"ipv4": DROP_IN, "ipv6": DROP_IN}, {"ipv4": False, "ipv6": False},
            ["iptables-nft ip filter", "iptables-nft ip6 filter"]),
    "firewalld": ("nftables", ["nftables"],
                  [{"name": "firewalld", "active": True, "backend": "nftables", "default_zone": "public", "zones": [
                      {"name": "internal", "interfaces": ["eth1"], "sources": []},
                      {"name": "public", "interfaces": ["eth0"], "sources": []},
                      {"name": "trusted", "interfaces": [], "sources": ["192.0.2.0/28"]}]}],
                  {"ipv4": ACCEPT_ALL, "ipv6": ACCEPT_ALL}, {"ipv4": False, "ipv6": False},
                  ["nftables inet firewalld"]),
    "podman": ("iptables-nft", ["iptables-nft"], [{"name": "netavark", "active": True}],
               {"ipv4": ACCEPT_ALL, "ipv6": NONE}, {"ipv4": True, "ipv6": False},
               ["iptables-nft ip filter", "iptables-nft ip nat"]),
}


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_gather(scenario):
    module = replay.FakeModule(scenario)
    firewall, unavailable = gather_firewall(module, root=replay.root(scenario))
    backend, backends, managers, policies, forwarding, tables = EXPECTED[scenario]
    assert unavailable == []
    assert firewall["incomplete"] == []
    assert firewall["backend"] == backend
    assert firewall["backends"] == backends
    assert firewall["managers"] == managers
    assert firewall["policies"] == policies
    assert firewall["forwarding"] == forwarding
    assert ["%s %s %s" % (t["source"], t["family"], t["name"]) for t in firewall["tables"]] == tables
    json.dumps(firewall)  # the fact must be JSON-serialisable


@pytest.mark.parametrize("scenario, handles", [
    # table handle, then (chain, handle): creation order, which orders base chains of equal priority
    ("tie", [("iptables-nft ip filter", 2, [("INPUT", 1), ("FORWARD", 2), ("OUTPUT", 3)]),
             ("nftables inet early", 1, [("forward", 1)]), ("nftables inet late", 3, [("input", 1)])]),
    ("legacy", [("iptables-nft ip filter", 1, [("INPUT", 1), ("FORWARD", 2), ("OUTPUT", 3)]),
                ("iptables-legacy ip filter", None, [("INPUT", None), ("FORWARD", None), ("OUTPUT", None), ("DOCKER", None),
                                                     ("DOCKER-ISOLATION-STAGE-1", None), ("DOCKER-USER", None)]),
                ("iptables-legacy ip nat", None, [("PREROUTING", None), ("INPUT", None), ("OUTPUT", None),
                                                  ("POSTROUTING", None), ("DOCKER", None)])]),
])
def test_nft_handles(scenario, handles):
    firewall, dummy = gather_firewall(replay.FakeModule(scenario), root=replay.root(scenario))
    assert [("%s %s %s" % (t["source"], t["family"], t["name"]), t["handle"], [(c["name"], c["handle"]) for c in t["chains"]])
            for t in firewall["tables"]] == handles


def test_gather_runs_read_only_commands():
    module = replay.FakeModule("iptables")
    gather_firewall(module, root=replay.root("iptables"))
    assert module.calls == [
        ("iptables-nft-save",), ("iptables-legacy-save",), ("ip6tables-nft-save",), ("ip6tables-legacy-save",),
        ("ipset", "save"), ("nft", "-j", "list", "tables"), ("nft", "-j", "list", "chains"),
        ("nft", "-j", "list", "table", "inet", "extra"), ("nft", "-a", "list", "table", "inet", "extra"),
        ("ip", "-j", "addr", "show"),
        ("ip", "-j", "-4", "route", "show", "table", "main"), ("ip", "-j", "-6", "route", "show", "table", "main"),
    ]


def test_without_iptables_nft_tables_the_whole_ruleset_is_listed_once():
    module = replay.FakeModule("nft")
    gather_firewall(module, root=replay.root("nft"))
    assert [call for call in module.calls if call[0] == "nft"] == [("nft", "-j", "list", "ruleset"), ("nft", "-a", "list", "ruleset")]


@pytest.mark.parametrize("scenario", replay.SCENARIOS)
def test_listing_native_tables_one_by_one_reads_what_the_whole_ruleset_says(scenario):
    """The per-table listing (used beside iptables-nft) gives the same tables and handles as one dump."""
    with open(os.path.join(replay.root(scenario), "nft-list-ruleset.json")) as handle:
        ruleset = handle.read()
    with open(os.path.join(replay.root(scenario), "nft-a-list-ruleset.txt")) as handle:
        listing = handle.read()
    reader = _gather._Reader(replay.FakeModule(scenario))
    dummy, skip = _gather._read_iptables(reader)
    module = replay.FakeModule(scenario)
    reader = _gather._Reader(module)
    tables, handles = _gather._read_nft(reader, skip)
    assert (tables, handles) == (parse_nft_json(ruleset, listing, skip), nft_handles(ruleset))
    assert reader.unavailable == []
    listed = [call[4:] for call in module.calls if call[1:4] == ("-j", "list", "table")]
    native = [key for key in nft_handles(ruleset) if key not in skip]
    assert sorted(listed) == (sorted(native) if skip else [])


def test_addresses_and_routes():
    firewall, dummy = gather_firewall(replay.FakeModule("iptables"), root=replay.root("iptables"))
    assert {"iface": "eth0", "address": "203.0.113.5", "prefixlen": 24, "broadcast": None, "secondary": False,
            "tentative": False, "optimistic": False} in firewall["local_addresses"]
    assert firewall["routes"][0] == {"dst": "0.0.0.0/0", "dev": "eth0"}
    assert {"dst": "::/0", "dev": "eth0"} in firewall["routes"]


def test_missing_tools_are_unavailable_not_empty():
    tools = ("nft", "iptables-nft-save", "iptables-legacy-save", "iptables-save", "ip6tables-nft-save",
             "ip6tables-legacy-save", "ip6tables-save", "ip")
    firewall, unavailable = gather_firewall(replay.FakeModule("nft", missing=tools), root=replay.root("nft"))
    assert unavailable == [
        {"subset": "firewall", "tool": "iptables-save", "reason": "iptables-save not found: iptables rules not read"},
        {"subset": "firewall", "tool": "ip6tables-save", "reason": "ip6tables-save not found: iptables rules not read"},
        {"subset": "firewall", "tool": "nft", "reason": "nft not found: native nftables rules not read"},
        {"subset": "firewall", "tool": "ip", "reason": "ip (iproute2) not found: the host's addresses are unknown"},
    ]
    assert (firewall["backend"], firewall["tables"], firewall["local_addresses"], firewall["routes"]) == ("none", [], None, None)


def test_permission_denied_makes_the_fact_incomplete(monkeypatch):
    monkeypatch.setattr(_gather.os, "geteuid", lambda: 1000)  # the captured failure is a non-root user's
    fail = {"nft": (1, "netlink: Error: cache initialization failed: Operation not permitted"),
            "iptables-nft-save": (4, "iptables-nft-save v1.8.9 (nf_tables): Could not fetch rule set generation id: "
                                     "Permission denied (you must be root)")}
    firewall, unavailable = gather_firewall(replay.FakeModule("ufw", fail=fail), root=replay.root("ufw"))
    assert [u["tool"] for u in unavailable] == ["iptables-nft-save", "nft"]
    assert unavailable[0]["reason"] == (
        "/usr/sbin/iptables-nft-save exited with 4: iptables-nft-save v1.8.9 (nf_tables): Could not fetch rule set generation "
        "id: Permission denied (you must be root) (reading the firewall needs root)")
    assert len(firewall["incomplete"]) == 2


def test_ipset_missing():
    firewall, unavailable = gather_firewall(replay.FakeModule("iptables", missing=("ipset",)), root=replay.root("iptables"))
    assert unavailable == [{"subset": "firewall", "tool": "ipset",
                            "reason": "ipset not found: rules matching ipsets cannot be evaluated"}]
    services = [c for t in firewall["tables"] if t["name"] == "filter" and t["family"] == "ip"
                for c in t["chains"] if c["name"] == "SERVICES"][0]
    assert services["rules"][4]["match"][1]["reason"] == "ipset blocklist: set contents unavailable (ipset save failed or missing)"


class _OnlySave(replay.FakeModule):
    """An older host: only iptables-save / ip6tables-save, whose --version names the backend."""

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return "/sbin/" + name if name in ("iptables-save", "ip6tables-save", "nft", "ip") else None

    def run_command(self, argv, environ_update=None, **kwargs):
        if argv[1:] == ["--version"]:
            return 0, "%s v1.8.7 (legacy)\n" % os.path.basename(argv[0]), ""
        if os.path.basename(argv[0]) in ("iptables-save", "ip6tables-save"):
            argv = [argv[0].replace("-save", "-legacy-save")]
        return replay.FakeModule.run_command(self, argv, environ_update)


def test_plain_iptables_save_backend_from_version():
    firewall, unavailable = gather_firewall(_OnlySave("legacy"), root=replay.root("legacy"))
    assert unavailable == []
    # Without iptables-nft-save the iptables-nft table is read from nft (its rules are native expressions here).
    assert firewall["backends"] == ["iptables-legacy", "nftables"]
    assert ["%s %s %s" % (t["source"], t["family"], t["name"]) for t in firewall["tables"]] == [
        "iptables-legacy ip filter", "iptables-legacy ip nat", "nftables ip filter"]
