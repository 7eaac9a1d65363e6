# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""port_facts gather_subset saved_firewall: the files the host loads at boot, read below a root directory (the
iptables-save texts are the captures of fixtures/firewall/iptables, see capture.sh)."""

from __future__ import annotations

import os

from ansible_collections.portproof.validate.plugins.module_utils._firewall._saved import gather_saved_firewall

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "firewall", "iptables")


def _read(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def _root(tmp_path, files):
    for path, text in files.items():
        full = tmp_path / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text)
    return str(tmp_path)


def test_iptables_persistent_and_sysconfig_files_are_read_into_the_model(tmp_path):
    root = _root(tmp_path, {"/etc/iptables/rules.v4": _read("iptables-nft-save.txt"), "/etc/iptables/rules.v6": _read("ip6tables-nft-save.txt"),
                            "/etc/sysconfig/iptables": "*filter\n:INPUT DROP [0:0]\nCOMMIT\n"})
    saved, unavailable = gather_saved_firewall(root)
    assert unavailable == []
    assert saved["sources"] == [
        {"path": "/etc/iptables/rules.v4", "format": "iptables-save", "loader": "iptables-persistent", "family": "ipv4"},
        {"path": "/etc/iptables/rules.v6", "format": "iptables-save", "loader": "iptables-persistent", "family": "ipv6"},
        {"path": "/etc/sysconfig/iptables", "format": "iptables-save", "loader": "iptables-services", "family": "ipv4"},
    ]
    assert saved["unsupported"] == [] and saved["incomplete"] == []
    assert sorted(set((t["path"], t["family"], t["source"]) for t in saved["tables"])) == [
        ("/etc/iptables/rules.v4", "ip", "iptables-persistent"), ("/etc/iptables/rules.v6", "ip6", "iptables-persistent"),
        ("/etc/sysconfig/iptables", "ip", "iptables-services")]
    sysconfig = [t for t in saved["tables"] if t["path"] == "/etc/sysconfig/iptables"][0]
    assert [(c["name"], c["hook"], c["policy"]) for c in sysconfig["chains"]] == [("INPUT", "input", "drop")]


def test_nothing_saved(tmp_path):
    assert gather_saved_firewall(str(tmp_path)) == ({"sources": [], "unsupported": [], "tables": [], "incomplete": []}, [])


def test_a_fifo_and_a_broken_file_are_reported_not_read(tmp_path):
    """A FIFO planted as rules.v4 does not block the read; a file iptables-restore would refuse is named with its line."""
    root = _root(tmp_path, {"/etc/iptables/rules.v6": "*filter\n:INPUT ACCEPT [0:0]\n-A FOO -j DROP\nCOMMIT\n"})
    os.mkfifo(os.path.join(root, "etc", "iptables", "rules.v4"))
    saved, unavailable = gather_saved_firewall(root)
    assert saved["sources"] == [] and saved["tables"] == []
    assert saved["incomplete"] == [
        "/etc/iptables/rules.v4 could not be read: %s/etc/iptables/rules.v4 is a FIFO, not a regular file: not read" % root,
        "/etc/iptables/rules.v6: iptables-persistent line 3: chain FOO is not declared: '-A FOO -j DROP'",
    ]
    assert [(u["subset"], u["tool"]) for u in unavailable] == [
        ("saved_firewall", "/etc/iptables/rules.v6"), ("saved_firewall", "/etc/iptables/rules.v4")]


def test_managers_that_are_not_evaluated_are_named(tmp_path):
    root = _root(tmp_path, {"/etc/firewalld/zones/public.xml": "<zone/>\n",
                            "/etc/sysconfig/nftables.conf": "include \"/etc/nftables/main.nft\"\n"})
    saved, dummy = gather_saved_firewall(root)
    assert [(u["path"], u["loader"]) for u in saved["unsupported"]] == [
        ("/etc/sysconfig/nftables.conf", "nftables"), ("/etc/firewalld", "firewalld")]


def test_an_enabled_ufw_next_to_saved_iptables_files_is_named(tmp_path):
    """Both load at boot, in an order that is not known: not evaluated."""
    root = _root(tmp_path, {"/etc/ufw/ufw.conf": "# /etc/ufw/ufw.conf\nENABLED=yes\nLOGLEVEL=low\n",
                            "/etc/iptables/rules.v4": "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"})
    saved, dummy = gather_saved_firewall(root)
    assert saved["unsupported"] == [{"path": "/etc/ufw", "loader": "ufw", "reason": (
        "ufw is enabled and /etc/iptables/rules.v4 is saved: both load at boot, in an order that is not known, so the firewall "
        "after a reboot is not evaluated")}]


def test_an_enabled_ufw_without_its_rules_files_is_incomplete(tmp_path):
    """ufw-init itself fails to load a missing before.rules: no verdict."""
    saved, unavailable = gather_saved_firewall(_root(tmp_path, {"/etc/ufw/ufw.conf": "ENABLED=yes\n"}))
    assert saved["incomplete"] == ["ufw at boot: /etc/ufw/before.rules is missing or empty: ufw-init fails to load it at boot"]
    assert unavailable == [{"subset": "saved_firewall", "tool": "ufw", "reason": saved["incomplete"][0]}]


def test_a_disabled_ufw_and_firewalld_as_installed_are_not_loaded_at_boot(tmp_path):
    """ufw with ENABLED=no loads nothing; firewalld's package ships firewalld.conf and empty folders (its defaults live in
    /usr/lib/firewalld; a firewalld that runs is recognised by the check from the running firewall)."""
    root = _root(tmp_path, {"/etc/ufw/ufw.conf": "ENABLED=no\n", "/etc/firewalld/firewalld.conf": "DefaultZone=public\n"})
    for folder in ("zones", "policies", "services", "ipsets"):
        os.makedirs(os.path.join(root, "etc", "firewalld", folder))
    saved, dummy = gather_saved_firewall(root)
    assert saved["unsupported"] == []


def test_a_rules_file_written_by_hand_keeps_every_match(tmp_path):
    """iptables-restore loads -p tcp's match module implicitly and takes -s anywhere; the model keeps the source
    (a rule read as accepting port 5432 from everyone would be a wrong pass)."""
    root = _root(tmp_path, {"/etc/iptables/rules.v4": "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 5432 -s 10.0.0.2 -j ACCEPT\nCOMMIT\n"})
    saved, unavailable = gather_saved_firewall(root)
    assert unavailable == []
    rule = saved["tables"][0]["chains"][0]["rules"][0]
    assert (rule["text"], rule["match"]) == ("-A INPUT -p tcp -s 10.0.0.2 -m tcp --dport 5432 -j ACCEPT", [
        {"key": "l4proto", "op": "eq", "values": ["tcp"]}, {"key": "saddr", "op": "eq", "values": ["10.0.0.2"]},
        {"key": "dport", "op": "eq", "values": [5432]}])


def test_an_nftables_script_and_its_includes_are_read_into_the_model(tmp_path):
    root = _root(tmp_path, {"/etc/nftables.conf": "flush ruleset\ninclude \"nftables.d/*.nft\"\n",
                            "/etc/nftables.d/a.nft": "table inet filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n"
                                                     "  tcp dport 22 accept\n }\n}\n"})
    saved, unavailable = gather_saved_firewall(root)
    assert (saved["unsupported"], saved["incomplete"], unavailable) == ([], [], [])
    assert saved["sources"] == [
        {"path": "/etc/nftables.conf", "format": "nft", "loader": "nftables", "family": family,
         "files": ["/etc/nftables.conf", "/etc/nftables.d/a.nft"]} for family in ("ipv4", "ipv6")]
    (table,) = saved["tables"]
    assert (table["source"], table["family"], table["name"], table["path"]) == ("nftables", "inet", "filter", "/etc/nftables.conf")
    (chain,) = table["chains"]
    assert (chain["hook"], chain["priority"], chain["policy"]) == ("input", 0, "drop")
    assert [(r["text"], r["path"], r["match"], r["verdict"]) for r in chain["rules"]] == [
        ("tcp dport 22 accept", "/etc/nftables.d/a.nft",
         [{"key": "l4proto", "op": "eq", "values": ["tcp"]}, {"key": "dport", "op": "eq", "values": [22]}], {"kind": "accept"})]


def test_an_nftables_include_that_is_a_symlink_is_not_followed(tmp_path):
    root = _root(tmp_path, {"/etc/nftables.conf": "flush ruleset\ninclude \"/etc/nftables.d/*.nft\"\n",
                            "/etc/elsewhere.nft": "table inet filter {\n}\n"})
    (tmp_path / "etc" / "nftables.d").mkdir()
    os.symlink(str(tmp_path / "etc" / "elsewhere.nft"), str(tmp_path / "etc" / "nftables.d" / "a.nft"))
    saved, dummy = gather_saved_firewall(root)
    assert (saved["sources"], saved["tables"]) == ([], [])
    assert saved["unsupported"] == [{"path": "/etc/nftables.conf", "loader": "nftables", "reason":
                                     "cannot evaluate this nftables script: /etc/nftables.d/a.nft could not be read: Too many levels "
                                     "of symbolic links"}]
