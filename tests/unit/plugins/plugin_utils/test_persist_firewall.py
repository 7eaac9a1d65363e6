# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The firewall part of the check kind persist (docs/reboot.md): the running rules and the saved ones come from
iptables-save in a namespace of their own (fixtures/persist/capture.sh), the rest of the host's facts from the lab
of the molecule scenario "report" (fixtures/drift)."""

from __future__ import annotations

import copy
import json
import importlib.util
import os
import shutil

from ansible_collections.portproof.validate.plugins.module_utils._firewall._iptables import parse_save
from ansible_collections.portproof.validate.plugins.module_utils._firewall._saved import gather_saved_firewall
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._persist_firewall import NOT_SAVED, check_persist_firewall
from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import static_checks

HERE = os.path.join(os.path.dirname(__file__), "fixtures")
_SPEC = importlib.util.spec_from_file_location(
    "firewall_replay", os.path.join(os.path.dirname(HERE), "..", "module_utils", "fixtures", "firewall", "replay.py"))
replay = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(replay)
with open(os.path.join(HERE, "drift", "facts-before-web1.json")) as _handle:
    WEB1 = json.load(_handle)
with open(os.path.join(HERE, "persist", "running.v4")) as _handle:
    RUNNING = _handle.read()
with open(os.path.join(HERE, "persist", "rules.v4")) as _handle:
    SAVED = _handle.read()
ADDRESSES = {"web1": "10.231.127.11", "app1": "10.231.127.12", "db1": "10.231.127.13", "app2": "10.231.127.14"}
GROUPS = {"app": ["app1", "app2"], "db": ["db1"], "web": ["web1"]}
HOSTVARS = {name: {"ansible_host": address} for name, address in ADDRESSES.items()}
DB = {"name": "db", "port": 5432, "allow_from": ["app"], "deny_from": ["db"]}
RULE = "-A INPUT -s %s/32 -p tcp -m tcp --dport 5432 -j ACCEPT"


def _facts(tmp_path, saved_files):
    facts = copy.deepcopy(WEB1)
    tables, dummy = parse_save(RUNNING, "ip", "iptables-nft")
    facts["firewall"].update(tables=tables, backends=["iptables-nft"], backend="iptables-nft")
    for path, text in saved_files.items():
        full = tmp_path / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text)
    facts["saved_firewall"], dummy = gather_saved_firewall(str(tmp_path))
    return facts


def _check(facts, service=None):
    contract = load_contract("web1", [("portproof_services", [service or DB])], set(GROUPS), set(ADDRESSES))
    results = check_persist_firewall("web1", contract[0], facts, GROUPS, HOSTVARS, ADDRESSES["web1"], {})
    return [(r["check"], r["status"], r["source"], r["message"]) for r in results]


def test_unsaved_rule_mistyped_saved_rule_and_saved_rule_not_running(tmp_path):
    """app1 is saved as it runs; app2's running rule is saved with another source address (it would be dropped);
    db1's saved accept rule no longer runs (it would get in again)."""
    assert _check(_facts(tmp_path, {"/etc/iptables/rules.v4": SAVED})) == [
        ("persist", "pass", "app1", "db: after a reboot app1 (10.231.127.12) would get in on tcp/5432, as now (must get in): "
         "rule ip filter INPUT #3: %s in /etc/iptables/rules.v4" % (RULE % "10.231.127.12")),
        ("persist", "fail", "app2", "db: after a reboot app2 (10.231.127.14) would be dropped on tcp/5432 (must get in; now it would "
         "get in): the running accept rule ip filter INPUT #4: %s is not in /etc/iptables/rules.v4" % (RULE % "10.231.127.14")),
        ("persist", "fail", "db1", "db: after a reboot db1 (10.231.127.13) would get in on tcp/5432 (must not get in; now it would "
         "be dropped): the saved accept rule ip filter INPUT #5: %s in /etc/iptables/rules.v4 is not running" % (RULE % "10.231.127.13")),
    ]


def test_saved_as_running_passes_and_counters_are_read(tmp_path):
    """rules.v4 written by iptables-save -c (counters before each rule) equals the running rules: app1 and app2 pass."""
    counted = "\n".join("[7:420] " + line if line.startswith("-A") else line for line in RUNNING.splitlines())
    results = _check(_facts(tmp_path, {"/etc/iptables/rules.v4": counted}), dict(DB, deny_from=[]))
    assert [(r[1], r[2]) for r in results] == [("pass", "app1"), ("pass", "app2")]
    assert results[1][3] == ("db: after a reboot app2 (10.231.127.14) would get in on tcp/5432, as now (must get in): "
                             "rule ip filter INPUT #4: %s in /etc/iptables/rules.v4" % (RULE % "10.231.127.14"))


def test_nothing_saved_is_an_error_per_source(tmp_path):
    assert _check(_facts(tmp_path, {}), dict(DB, allow_from=["app1"])) == [
        ("persist", "error", "app1", "db: " + NOT_SAVED),
        ("persist", "error", "db", "db: " + NOT_SAVED),
    ]


def test_an_nftables_script_next_to_saved_iptables_rules_is_an_error_never_a_verdict(tmp_path):
    """An nft script that filters and rules.v4 both load at boot, in an order not known: every source is an error naming both."""
    script = "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n  chain input {\n    type filter hook input priority 0; policy drop;\n  }\n}\n"
    results = _check(_facts(tmp_path, {"/etc/iptables/rules.v4": SAVED, "/etc/nftables.conf": script}), dict(DB, deny_from=[]))
    assert results == [("persist", "error", "app", "db: cannot evaluate the firewall after a reboot: /etc/nftables.conf (nftables): "
                        "/etc/nftables.conf and /etc/iptables/rules.v4 are both saved and both load at boot, in an order that "
                        "is not known, so the firewall after a reboot is not evaluated")]


NFT_SAVED = ("#!/usr/sbin/nft -f\nflush ruleset\ndefine apps = { 10.231.127.12, 10.231.127.13 }\ninclude \"/etc/nftables.d/*.nft\"\n")
NFT_DB = ("table ip filter {\n\tchain INPUT {\n\t\ttype filter hook input priority filter; policy drop;\n"
          "\t\tiif lo accept\n\t\tip saddr $apps tcp dport 5432 accept comment \"db\"\n\t}\n}\n")


def test_an_nftables_script_with_an_include_gives_verdicts(tmp_path):
    """/etc/nftables.conf (a define, an include by glob) is evaluated: app1 is accepted by the included rule, app2's running
    rule is not in the script, db1 would get in by the saved rule that does not run."""
    facts = _facts(tmp_path, {"/etc/nftables.conf": NFT_SAVED, "/etc/nftables.d/db.nft": NFT_DB})
    assert facts["saved_firewall"]["unsupported"] == []
    assert _check(facts) == [
        ("persist", "pass", "app1", "db: after a reboot app1 (10.231.127.12) would get in on tcp/5432, as now (must get in): "
         "rule ip filter INPUT #2: ip saddr { 10.231.127.12, 10.231.127.13 } tcp dport 5432 accept comment \"db\" in "
         "/etc/nftables.d/db.nft"),
        ("persist", "fail", "app2", "db: after a reboot app2 (10.231.127.14) would be dropped on tcp/5432 (must get in; now it would "
         "get in): the running accept rule ip filter INPUT #4: %s is not in /etc/nftables.conf" % (RULE % "10.231.127.14")),
        ("persist", "fail", "db1", "db: after a reboot db1 (10.231.127.13) would get in on tcp/5432 (must not get in; now it would "
         "be dropped): the saved accept rule ip filter INPUT #2: ip saddr { 10.231.127.12, 10.231.127.13 } tcp dport 5432 accept "
         "comment \"db\" in /etc/nftables.d/db.nft is not running"),
    ]


def test_an_nftables_script_outside_the_subset_is_an_error_naming_file_and_line(tmp_path):
    facts = _facts(tmp_path, {"/etc/nftables.conf": NFT_SAVED,
                              "/etc/nftables.d/db.nft": NFT_DB.replace("iif lo accept", "tcp option maxseg size 1460 accept")})
    assert _check(facts, dict(DB, deny_from=[])) == [
        ("persist", "error", "app", "db: cannot evaluate the firewall after a reboot: /etc/nftables.conf (nftables): cannot evaluate "
         "this nftables script: /etc/nftables.d/db.nft line 4: 'tcp option' not understood (in 'tcp option maxseg size 1460 "
         "accept')")]


def test_debian_default_nftables_conf_filters_nothing(tmp_path):
    """Debian's shipped /etc/nftables.conf (an empty accepting filter table) is not a saved firewall."""
    shipped = ("#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n"
               "\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter;\n\t}\n\tchain output {\n"
               "\t\ttype filter hook output priority filter;\n\t}\n}\n")
    facts = _facts(tmp_path, {"/etc/nftables.conf": shipped})
    assert facts["saved_firewall"]["unsupported"] == []
    assert _check(facts, dict(DB, allow_from=["app1"], deny_from=[])) == [("persist", "error", "app1", "db: " + NOT_SAVED)]


def test_persist_is_a_static_kind(tmp_path):
    """static_checks runs persist when asked, and only then."""
    facts = _facts(tmp_path, {"/etc/iptables/rules.v4": SAVED})
    contract = load_contract("web1", [("portproof_services", [DB])], set(GROUPS), set(ADDRESSES))
    chosen = static_checks(contract, facts, "web1", GROUPS, HOSTVARS, kinds=["persist"], address=ADDRESSES["web1"])
    # the first is the service part of persist (who starts it after a reboot): these facts have no starters
    assert [(r["check"], r["status"], r["source"]) for r in chosen] == [
        ("persist", "skip", None), ("persist", "pass", "app1"), ("persist", "fail", "app2"), ("persist", "fail", "db1")]
    others = static_checks(contract, facts, "web1", GROUPS, HOSTVARS, kinds=["firewall_allow"], address=ADDRESSES["web1"])
    assert [r["check"] for r in others] == ["firewall_allow", "firewall_allow"]


def test_a_running_firewalld_next_to_a_saved_rules_v4_is_an_error_never_a_verdict(tmp_path):
    """firewalld runs (its nft table is in the running firewall) with its defaults only, and a rules.v4 is saved:
    both load at boot in an order that is not known."""
    facts = _facts(tmp_path, {"/etc/iptables/rules.v4": SAVED, "/etc/firewalld/firewalld.conf": "DefaultZone=public\n"})
    facts["firewall"]["managers"] = [{"name": "firewalld", "active": True, "backend": "nftables", "default_zone": "public", "zones": []}]
    assert _check(facts, dict(DB, deny_from=[])) == [
        ("persist", "error", "app", "db: cannot evaluate the firewall after a reboot: /etc/firewalld (firewalld): firewalld runs now "
         "and /etc/iptables/rules.v4 is saved too: both load at boot, in an order that is not known")]


FWD = os.path.join(os.path.dirname(HERE), "..", "module_utils", "fixtures", "firewalld_saved")
WEBPORT = {"name": "web", "port": 8005, "allow_from": ["app1"], "deny_from": ["db1"]}


def _firewalld_facts(tmp_path, changes):
    """web1's facts with the running firewall of a real firewalld (fixtures/firewall/firewalld, eth0 in zone public)
    and, as its saved firewall, the permanent configuration of fixtures/firewalld_saved with CHANGES (path: text)."""
    root = tmp_path / "root"
    shutil.copytree(FWD, str(root))
    for path, text in changes.items():
        (root / path.lstrip("/")).write_text(text)
    facts = copy.deepcopy(WEB1)
    captured = replay.firewall("firewalld")[0]
    facts["firewall"].update((key, captured[key]) for key in ("tables", "managers", "backends", "backend"))
    facts["saved_firewall"], dummy = gather_saved_firewall(str(root))
    return facts


def test_firewalld_permanent_as_running_passes(tmp_path):
    assert _check(_firewalld_facts(tmp_path, {}), WEBPORT) == [
        ("persist", "pass", "app1", "web: after a reboot app1 (10.231.127.12) would get in on tcp/8005, as now (must get in): rule ip "
         'firewalld IN_public #8: <port port="8000-8010" protocol="tcp"/> (zone public) in /etc/firewalld/zones/public.xml'),
        ("persist", "fail", "db1", "web: after a reboot db1 (10.231.127.13) would get in on tcp/8005, as it does now (must not get in): "
         'rule ip firewalld IN_public #8: <port port="8000-8010" protocol="tcp"/> (zone public) in /etc/firewalld/zones/public.xml'),
    ]


def test_firewalld_port_added_at_runtime_only_and_permanent_rule_not_loaded(tmp_path):
    """The running firewalld accepts 8000-8010 (firewall-cmd --add-port without --permanent): public.xml lacks the port,
    so after a reboot app1 is rejected; public.xml rejects db1 with a rich rule that was never loaded."""
    public = os.path.join(FWD, "etc", "firewalld", "zones", "public.xml")
    with open(public) as handle:
        text = handle.read().replace('  <port port="8000-8010" protocol="tcp"/>\n', "")
    facts = _firewalld_facts(tmp_path, {"/etc/firewalld/zones/public.xml": text})
    assert _check(facts, dict(WEBPORT, deny_from=[])) == [
        ("persist", "fail", "app1", "web: after a reboot app1 (10.231.127.12) would be rejected on tcp/8005 (must get in; now it "
         "would get in): the running accept rule inet firewalld filter_IN_public_allow #5: tcp dport 8000-8010 accept is not in "
         "firewalld's permanent configuration (/etc/firewalld, /usr/lib/firewalld); after a reboot: reject by rule ip firewalld "
         "IN_public #9: target default (zone public) in /etc/firewalld/zones/public.xml")]
    text = text.replace("</zone>", '  <port port="9000" protocol="tcp"/>\n</zone>')
    facts = _firewalld_facts(tmp_path / "b", {"/etc/firewalld/zones/public.xml": text})
    assert _check(facts, dict(WEBPORT, port=9000, allow_from=[], deny_from=["db1"])) == [
        ("persist", "fail", "db1", "web: after a reboot db1 (10.231.127.13) would get in on tcp/9000 (must not get in; now it would "
         'be rejected): the permanent accept rule ip firewalld IN_public #8: <port port="9000" protocol="tcp"/> (zone public) in '
         "/etc/firewalld/zones/public.xml is not running (firewalld loads it at its start or on firewall-cmd --reload); now: reject "
         "by rule inet firewalld filter_IN_public #9: reject with icmpx admin-prohibited")]


def test_ufw_a_rule_added_by_hand_is_not_in_its_files(tmp_path):
    """ufw's running rules (fixtures/firewall/ufwboot, captured) with app2's rule inserted by hand (iptables -I
    ufw-user-input 1 ...): app1's rule is ufw's own and passes, app2's would be gone after a reboot."""
    ufw = os.path.join(os.path.dirname(HERE), "..", "module_utils", "fixtures", "firewall", "ufwboot")
    facts = copy.deepcopy(WEB1)
    tables = []
    for name, family in (("running.v4", "ip"), ("running.v6", "ip6")):
        with open(os.path.join(ufw, name)) as handle:
            text = handle.read()
        if family == "ip":
            text = text.replace("-A ufw-user-input ", RULE.replace("INPUT", "ufw-user-input", 1) % "10.231.127.14" + "\n-A ufw-user-input ", 1)
        tables.extend(parse_save(text, family, "iptables-nft")[0])
    facts["firewall"].update(tables=tables, backends=["iptables-nft"], backend="iptables-nft")
    facts["saved_firewall"], dummy = gather_saved_firewall(ufw)
    assert _check(facts, dict(DB, deny_from=[])) == [
        ("persist", "pass", "app1", "db: after a reboot app1 (10.231.127.12) would get in on tcp/5432, as now (must get in): "
         "rule ip filter ufw-user-input #2: -A ufw-user-input -p tcp -s 10.231.127.12 -m tcp --dport 5432 -j ACCEPT in /etc/ufw/user.rules"),
        ("persist", "fail", "app2", "db: after a reboot app2 (10.231.127.14) would be dropped on tcp/5432 (must get in; now it would "
         "get in): the running accept rule ip filter ufw-user-input #1: -A ufw-user-input -s 10.231.127.14/32 -p tcp -m tcp --dport 5432 "
         "-j ACCEPT is not in /etc/ufw/user.rules"),
    ]


def test_nothing_saved_for_ipv6_opens_it_after_a_reboot(tmp_path):
    """IPv6 rules run (ip6tables) but only rules.v4 is saved: after a reboot IPv6 has no rule at all."""
    facts = _facts(tmp_path, {"/etc/iptables/rules.v4": SAVED})
    with open(os.path.join(HERE, "persist", "running.v6")) as handle:
        facts["firewall"]["tables"].extend(parse_save(handle.read(), "ip6", "iptables-nft")[0])
    assert _check(facts, dict(DB, allow_from=["fd70:7070:7f::c/128"], deny_from=["fd70:7070:7f::d/128"])) == [
        ("persist", "pass", "fd70:7070:7f::c/128 (fd70:7070:7f::c)",
         "db: after a reboot fd70:7070:7f::c/128 (fd70:7070:7f::c) would get in on tcp/5432 (must get in; now it would be dropped): "
         "now: dropped by the policy of ip6 filter INPUT; after a reboot, with the saved rules (nothing is saved for IPv6): "
         "accepted (no rule stops it; the base chains' policies accept), delivered locally"),
        ("persist", "fail", "fd70:7070:7f::d/128 (fd70:7070:7f::d)",
         "db: after a reboot fd70:7070:7f::d/128 (fd70:7070:7f::d) would get in on tcp/5432 (must not get in; now it would be "
         "dropped): now: dropped by the policy of ip6 filter INPUT; after a reboot, with the saved rules (nothing is saved for "
         "IPv6): accepted (no rule stops it; the base chains' policies accept), delivered locally"),
    ]


def _loaders(facts, state, detail=None):
    facts["saved_firewall"]["loaders"] = {"netfilter-persistent.service": {"state": state, "detail": detail or state,
                                                                           "how": "systemctl"}}
    return facts


def test_saved_rules_nothing_loads_at_boot_fail_and_count_as_no_rules(tmp_path):
    """netfilter-persistent.service disabled: rules.v4 is not loaded at boot, the host boots with no rules (the
    kernel's default accepts): the saved file is named in a fail, and each source is judged against no rules."""
    results = _check(_loaders(_facts(tmp_path, {"/etc/iptables/rules.v4": SAVED}), "disabled"))
    lost = "the rules loaded at boot (none: nothing loads /etc/iptables/rules.v4: netfilter-persistent.service is disabled)"
    assert [r[:3] for r in results] == [("persist", "fail", None), ("persist", "pass", "app1"), ("persist", "pass", "app2"),
                                        ("persist", "fail", "db1")]
    assert results[0][3] == "db: after a reboot nothing loads /etc/iptables/rules.v4: netfilter-persistent.service is disabled"
    assert results[3][3] == ("db: after a reboot db1 (10.231.127.13) would get in on tcp/5432 (must not get in; now it would be "
                             "dropped): now: dropped by the policy of ip filter INPUT; after a reboot, with %s: accepted (no rule stops it; "
                             "the base chains' policies accept), delivered locally" % lost)


def test_a_missing_loader_is_named_and_an_undecided_one_is_an_error(tmp_path):
    facts = _loaders(_facts(tmp_path, {"/etc/iptables/rules.v4": SAVED}), "missing")
    assert _check(facts)[0][1:] == ("fail", None, "db: after a reboot nothing loads /etc/iptables/rules.v4: "
                                    "netfilter-persistent.service is not installed (no unit file)")
    facts = _loaders(facts, "undecided", "UnitFileState=static does not say whether it starts at boot")
    assert _check(facts) == [("persist", "error", source, "db: cannot evaluate the firewall after a reboot: whether anything "
                              "loads /etc/iptables/rules.v4 at boot cannot be decided: netfilter-persistent.service: "
                              "UnitFileState=static does not say whether it starts at boot") for source in ("app", "db")]


def test_an_enabled_loader_changes_nothing(tmp_path):
    before = _check(_facts(tmp_path / "a", {"/etc/iptables/rules.v4": SAVED}))
    assert _check(_loaders(_facts(tmp_path / "b", {"/etc/iptables/rules.v4": SAVED}), "enabled")) == before


def test_firewalld_with_the_package_defaults_only_is_evaluated_when_it_runs(tmp_path):
    """Nothing of its own below /etc/firewalld (firewalld.conf only): the package's zones are what firewalld loads
    at start, and they do not accept 8005 that the running firewalld accepts."""
    root = tmp_path / "root"
    shutil.copytree(FWD, str(root))
    shutil.rmtree(str(root / "etc" / "firewalld" / "zones"))
    facts = copy.deepcopy(WEB1)
    captured = replay.firewall("firewalld")[0]
    facts["firewall"].update((key, captured[key]) for key in ("tables", "managers", "backends", "backend"))
    facts["saved_firewall"], dummy = gather_saved_firewall(str(root))
    assert facts["saved_firewall"]["sources"] == [] and len(facts["saved_firewall"]["firewalld"]["tables"]) == 2
    assert _check(facts, dict(WEBPORT, deny_from=[])) == [
        ("persist", "fail", "app1", "web: after a reboot app1 (10.231.127.12) would be rejected on tcp/8005 (must get in; now it "
         "would get in): the running accept rule inet firewalld filter_IN_public_allow #5: tcp dport 8000-8010 accept is not in "
         "firewalld's permanent configuration (/etc/firewalld, /usr/lib/firewalld); after a reboot: reject by rule ip firewalld "
         "IN_public #4: target default (zone public) in /usr/lib/firewalld/zones/public.xml")]
    facts["firewall"]["managers"] = []  # firewalld does not run: its defaults are not a saved firewall
    assert _check(facts, dict(WEBPORT, deny_from=[])) == [("persist", "error", "app1", "web: " + NOT_SAVED)]
