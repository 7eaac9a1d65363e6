# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The check kind persist, firewall part (docs/reboot.md), on real lab hosts.

web1's rules are saved the way iptables-persistent saves them (iptables-save > /etc/iptables/rules.v4,
in its sessions' own /etc), then changed by hand as an operator would: app2's rule is saved with a
mistyped source CIDR and corrected only in the running rules, db1's rule is removed from the running
rules only. fw1 runs ufw, whose files (ufw wrote them) its sessions see; then app2's rule is inserted
and db1's deleted by hand with iptables, not with ufw. db1 runs rules and saved none. app2 saves an
nftables script (a define, an include by glob) that accepts app1 on the port its running rules drop.
The role validate with portproof_checks [persist] must give exactly these results.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import subprocess
import time

import pytest
import yaml

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error
from portproof_lab import Lab  # pylint: disable=import-error

pytestmark = pytest.mark.lab

RULES = ("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
         "-A INPUT -s {lab_address}/32 -j ACCEPT\n-A INPUT -i lo -j ACCEPT\n"
         "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n%sCOMMIT\n")
ACCEPT = "-A INPUT -s %s/32 -p tcp -m tcp --dport %d -j ACCEPT"
NFT = ("#!/usr/sbin/nft -f\nflush ruleset\ndefine cache_port = 6379\ninclude \"/etc/nftables.d/*.nft\"\n")
NFT_INCLUDED = ("table inet filter {\n  chain input {\n    type filter hook input priority filter; policy drop;\n"
                "    tcp dport $cache_port accept\n  }\n}\n")
# The loaders are enabled in the sessions' own /etc (PID 1 is not systemd here: the unit files decide, _loaders.py):
# Debian's netfilter-persistent.service (web1; the machine has no iptables-persistent), and an entry in the
# target's .wants folder for each (the lab's etc option writes files: one stands for systemctl enable's link,
# read by its name as systemd reads it). fw1's ufw.service is the machine's own, enabled.
NETFILTER_UNIT = "systemd/system/netfilter-persistent.service"
with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit", "plugins", "module_utils",
                       "fixtures", "firewall", "loaders", "netfilter-persistent.service")) as _handle:
    UNIT = _handle.read()
ENABLED = "systemd/system/%s.target.wants/nftables.service"
SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "app2", "groups": ["app"], "iptables": RULES % "",
     "sshd": {"etc": {"nftables.conf": NFT, "nftables.d/cache.nft": NFT_INCLUDED, ENABLED % "sysinit": "enabled\n"}},
     "vars": {"portproof_services": [{"name": "cache", "port": 6379, "allow_from": ["app1"]}]}},
    {"name": "db1", "groups": ["db"], "iptables": RULES % (ACCEPT.replace("%s", "{address:app1}", 1) % 5432 + "\n"),
     "vars": {"portproof_services": [{"name": "pg", "port": 5432, "allow_from": ["app1"]}]}},
    {"name": "fw1", "groups": ["web"],
     "ufw": ["default deny incoming", "allow from {lab_address}", "allow from {address:app1} to any port 6432 proto tcp",
             "allow from {address:db1} to any port 6432 proto tcp", "--force enable"],
     "sshd": {"etc": {"portproof-lab": "fw1's sessions see their own /etc\n"}},
     "vars": {"portproof_services": [{"name": "pgbouncer", "port": 6432, "allow_from": ["app"], "deny_from": ["db"]}]}},
    {"name": "web1", "groups": ["web"],
     "iptables": RULES % "".join(ACCEPT.replace("%s", "{address:%s}" % h, 1) % 5432 + "\n" for h in ("app1", "db1")),
     "sshd": {"etc": {"portproof-lab": "web1's sessions see their own /etc\n", NETFILTER_UNIT: UNIT,
                      ENABLED.replace("nftables", "netfilter-persistent") % "multi-user": "enabled\n"}},
     "vars": {"portproof_services": [{"name": "db", "port": 5432, "allow_from": ["app"], "deny_from": ["db"]}]}},
]}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("persist")
    with Lab(SPEC, str(tmp / "lab")) as lab:
        app2, db1 = lab.address("app2"), lab.address("db1")
        # a /29 at the top of the lab's subnet: not app2's address (the typo of the saved rule)
        wrong = str(ipaddress.ip_network(app2 + "/24", strict=False)[248]) + "/29"
        assert ipaddress.ip_address(app2) not in ipaddress.ip_network(wrong)
        lab.ssh("web1", " && ".join([
            "iptables -A INPUT -s %s -p tcp --dport 5432 -j ACCEPT" % wrong,
            "mkdir -p /etc/iptables", "iptables-save > /etc/iptables/rules.v4",  # what netfilter-persistent save does
            "iptables -D INPUT -s %s -p tcp --dport 5432 -j ACCEPT" % wrong,
            "iptables -A INPUT -s %s/32 -p tcp --dport 5432 -j ACCEPT" % app2,
            "iptables -D INPUT -s %s/32 -p tcp --dport 5432 -j ACCEPT" % db1]))
        # fw1: ufw's own files (in the copy of /etc that the lab's ufw writes) where fw1's sessions read /etc
        netns_etc = "/etc/netns/%s" % lab.host("fw1")["netns"]
        for name in ("ufw/ufw.conf", "ufw/before.rules", "ufw/after.rules", "ufw/user.rules", "ufw/before6.rules",
                     "ufw/after6.rules", "ufw/user6.rules", "default/ufw"):
            with open(os.path.join(netns_etc, name), "rb") as handle:
                lab.ssh("fw1", "echo %s | base64 -d > /etc/%s" % (base64.b64encode(handle.read()).decode(), name))
        lab.ns("fw1", ["iptables", "-I", "ufw-user-input", "1", "-s", app2, "-p", "tcp", "--dport", "6432", "-j", "ACCEPT"])
        lab.ns("fw1", ["iptables", "-D", "ufw-user-input", "-s", db1, "-p", "tcp", "--dport", "6432", "-j", "ACCEPT"])
        (tmp / "site.yml").write_text(yaml.safe_dump([{
            "name": "Would the firewall survive a reboot", "hosts": "all", "gather_facts": False,
            "roles": [{"role": "portproof.validate.validate", "vars": {"portproof_checks": ["persist"]}}]}]))
        started = time.monotonic()
        proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "site.yml"], cwd=str(tmp),
                              env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=600)
        elapsed = time.monotonic() - started
        addresses = dict((name, lab.address(name)) for name in ("app1", "app2", "db1", "web1", "fw1"))
        saved = lab.ssh("web1", "cat /etc/iptables/rules.v4").stdout
    yield {"proc": proc, "tmp": tmp, "addresses": addresses, "wrong": wrong, "saved": saved, "elapsed": elapsed}


def test_each_fault_is_named_exactly(run):
    proc, addr = run["proc"], run["addresses"]
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-4000:]
    # the saved file is iptables-save's text of the rules before the hand changes
    assert (ACCEPT % (addr["db1"], 5432) + "\n") in run["saved"] and ("-A INPUT -s %s " % run["wrong"]) in run["saved"]
    results = json.loads((run["tmp"] / "portproof-report" / "results.json").read_text())["results"]
    rule = ACCEPT % (addr["app1"], 5432)
    # the firewall half of persist has a source; the service half (who starts it) is test_persist_services.py's
    results = [r for r in results if r["source"] is not None]
    assert sorted((r["host"], r["service"], r["check"], r["status"], r["source"], r["message"]) for r in results) == [
        ("app2", "cache", "persist", "pass", "app1",
         "cache: after a reboot app1 (%s) would get in on tcp/6379 (must get in; now it would be dropped): the saved accept rule "
         "inet filter input #1: tcp dport 6379 accept in /etc/nftables.d/cache.nft is not running" % addr["app1"]),
        ("db1", "pg", "persist", "error", "app1", "pg: the firewall is not saved anywhere this host loads at boot"),
        ("fw1", "pgbouncer", "persist", "fail", "app2",
         "pgbouncer: after a reboot app2 (%s) would be dropped on tcp/6432 (must get in; now it would get in): the running accept rule "
         "ip filter ufw-user-input #1: %s is not in /etc/ufw/user.rules"
         % (addr["app2"], ACCEPT.replace("INPUT", "ufw-user-input") % (addr["app2"], 6432))),
        ("fw1", "pgbouncer", "persist", "fail", "db1",
         "pgbouncer: after a reboot db1 (%s) would get in on tcp/6432 (must not get in; now it would be dropped): the saved accept rule "
         "ip filter ufw-user-input #3: -A ufw-user-input -p tcp -s %s -m tcp --dport 6432 -j ACCEPT in /etc/ufw/user.rules is not running"
         % (addr["db1"], addr["db1"])),
        ("fw1", "pgbouncer", "persist", "pass", "app1",
         "pgbouncer: after a reboot app1 (%s) would get in on tcp/6432, as now (must get in): rule ip filter ufw-user-input #2: "
         "-A ufw-user-input -p tcp -s %s -m tcp --dport 6432 -j ACCEPT in /etc/ufw/user.rules" % (addr["app1"], addr["app1"])),
        ("web1", "db", "persist", "fail", "app2",
         "db: after a reboot app2 (%s) would be dropped on tcp/5432 (must get in; now it would get in): the running accept rule "
         "ip filter INPUT #5: %s is not in /etc/iptables/rules.v4" % (addr["app2"], ACCEPT % (addr["app2"], 5432))),
        ("web1", "db", "persist", "fail", "db1",
         "db: after a reboot db1 (%s) would get in on tcp/5432 (must not get in; now it would be dropped): the saved accept rule "
         "ip filter INPUT #5: %s in /etc/iptables/rules.v4 is not running" % (addr["db1"], ACCEPT % (addr["db1"], 5432))),
        ("web1", "db", "persist", "pass", "app1",
         "db: after a reboot app1 (%s) would get in on tcp/5432, as now (must get in): rule ip filter INPUT #4: %s in "
         "/etc/iptables/rules.v4" % (addr["app1"], rule)),
    ], results
    print("persist lab playbook: %.1f s" % run["elapsed"])
