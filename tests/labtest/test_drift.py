# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drift on real lab hosts: a baseline followed at once by post_deploy on the same stack has no drift.

Three targets with the same service and the same firewall (iptables and ip6tables rules that let
app1 and the controller in and reject, over IPv6 drop, everyone else): db4 has IPv4 only, db6 IPv6
only (reached over IPv6, its IPv4 address removed), db46 both. Every kind of source is declared: a
group, a host, the controller, public (an IPv4 and an IPv6 address), an IPv4 and an IPv6 CIDR (each
checked at two addresses). Each source has several saved verdicts per port, of which none may
stand in for another.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error

pytestmark = pytest.mark.lab

IPTABLES = ("*filter\n:INPUT ACCEPT [0:0]\n"
            "-A INPUT -s {address:app1}/32 -p tcp -m tcp --dport 5432 -j ACCEPT\n"
            "-A INPUT -s {lab_address}/32 -j ACCEPT\n"
            "-A INPUT -p tcp -m tcp --dport 5432 -j REJECT --reject-with tcp-reset\nCOMMIT\n")
IP6TABLES = ("*filter\n:INPUT ACCEPT [0:0]\n"
             "-A INPUT -s {address6:app1}/128 -p tcp -m tcp --dport 5432 -j ACCEPT\n"
             "-A INPUT -s {lab_address6}/128 -j ACCEPT\n"
             "-A INPUT -p tcp -m tcp --dport 5432 -j DROP\nCOMMIT\n")
CONTRACT = [{"name": "postgres", "port": 5432, "process": "postgres",
             "allow_from": ["app", "app1", "controller"],
             "deny_from": ["public", "198.51.100.0/24", "2001:db8:5::/64"]}]
NO_IPV6 = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1",
           "net.ipv6.conf.eth0.disable_ipv6": "1", "net.ipv6.conf.lo.disable_ipv6": "1"}


def _db(name, listen, sysctls=None):
    host = {"name": name, "groups": ["db"], "services": [{"name": "postgres", "listen": listen}],
            "iptables": IPTABLES, "ip6tables": IP6TABLES, "vars": {"portproof_services": CONTRACT}}
    if sysctls:
        host["sysctls"] = sysctls
    return host


SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    _db("db4", ["tcp:0.0.0.0:5432"], NO_IPV6),
    _db("db6", ["tcp:[::]:5432,dual"]),
    _db("db46", ["tcp:[::]:5432,dual"]),
]}


def _playbook(lab, inventory, playbook, cwd, *extra):
    return subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", inventory, playbook] + list(extra),
                          cwd=str(cwd), env=ansible_env(lab), capture_output=True, text=True, check=False)


def _ipv6_only(lab, name, inventory):
    """NAME reached over IPv6 and without its IPv4 address; the inventory written to INVENTORY."""
    with open(lab.inventory) as handle:
        data = yaml.safe_load(handle)
    entry = lab.host(name)
    data["all"]["hosts"][name]["ansible_host"] = entry["address6"]
    with open(inventory, "w") as handle:
        yaml.safe_dump(data, handle)
    lab.ns(name, ["ip", "-4", "addr", "flush", "dev", "eth0"])
    addresses = lab.ns(name, ["ip", "-j", "addr", "show", "dev", "eth0"]).stdout
    assert '"family":"inet",' not in addresses.replace(" ", ""), addresses


def test_a_baseline_then_a_run_on_the_same_stack_has_no_drift(make_lab, tmp_path):
    lab = make_lab(SPEC)
    inventory = str(tmp_path / "inventory.yml")
    _ipv6_only(lab, "db6", inventory)
    v4 = lab.ns("db4", ["ip", "-j", "addr", "show", "dev", "eth0"]).stdout.replace(" ", "")
    assert '"family":"inet6"' not in v4, v4

    run = tmp_path / "run"
    run.mkdir()
    saved = _playbook(lab, inventory, "portproof.validate.baseline", run)
    assert saved.returncode == 0, (saved.stdout + saved.stderr)[-4000:]

    checked = _playbook(lab, inventory, "portproof.validate.post_deploy", run)
    output = (checked.stdout + checked.stderr)[-6000:]
    results = json.loads((run / "portproof-report" / "results.json").read_text())["results"]
    drift = sorted((r["host"], r["service"] or "", r["status"], r["source"]) for r in results if r["check"] == "drift")
    assert drift == [(name, service, "pass", None) for name in ("app1", "db4", "db46", "db6") for service in ("", "postgres")
                     if name != "app1" or not service], (
        [r["message"] for r in results if r["check"] == "drift" and r["status"] != "pass"], output)
    # The verdicts themselves are the ones the rules give, per family.
    statuses = sorted((r["host"], r["check"], r["source"], r["status"]) for r in results
                      if r["check"].startswith("firewall_") and r["source"] == "public")
    assert statuses == [("db4", "firewall_deny", "public", "pass"),
                        ("db46", "firewall_deny", "public", "pass"), ("db46", "firewall_deny", "public", "pass"),
                        ("db6", "firewall_deny", "public", "pass")], statuses
    # The family a single-family host lacks is one note per host, not a skip per source.
    hosts = json.loads((run / "portproof-report" / "results.json").read_text())["summary"]["hosts"]
    assert hosts["db4"]["notes"] == [
        "db4 has no IPv6 address: 3 firewall checks from IPv6 sources do not apply (postgres: 2001:db8:5::/64 "
        "2001:db8:5:0:ffff:ffff:ffff:fffe, 2001:db8:5::/64 2001:db8:5::1, public 2001:db8::7)"]
    (note,) = hosts["db6"]["notes"]
    assert note.startswith("db6 has no IPv4 address: ") and "public 203.0.113.7" in note, note
    assert "notes" not in hosts["db46"], hosts["db46"]
    # Nothing else fails on this stack either: the run passes.
    assert [(r["host"], r["check"], r["source"], r["message"]) for r in results if r["status"] in ("fail", "error")] == []
    assert checked.returncode == 0, output

    baselines = dict((name, json.loads((run / "portproof-baseline" / ("%s.json" % name)).read_text())) for name in ("db4", "db6", "db46"))
    # Each source is saved with every address it was decided at: public and the CIDRs have two.
    keys = sorted((v["source"], v["address"], v["family"], v["proto"]) for v in baselines["db46"]["services"]["postgres"]["firewall"])
    assert [key[0] for key in keys].count("public") == 2
    assert {key[2] for key in keys if key[0] == "public"} == {"ipv4", "ipv6"}
    assert len([key for key in keys if key[0].startswith("198.51.100.0/24")]) == 2
    assert len([key for key in keys if key[0].startswith("2001:db8:5::/64")]) == 2


PLANTED_SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "db1", "groups": ["db"],
     "services": [{"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]},
                  {"name": "node_exporter", "listen": ["tcp:0.0.0.0:9100"]}],
     "containers": [{"name": "static", "publish": ["8080:80/tcp"]}],
     "iptables": "*filter\n:INPUT DROP [0:0]\n"
                 "-A INPUT -i lo -j ACCEPT\n"
                 "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
                 "-A INPUT -s {lab_address}/32 -j ACCEPT\n"
                 "-A INPUT -s {address:app1}/32 -p tcp -m tcp --dport 5432 -j ACCEPT\n"
                 "-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT\nCOMMIT\n",
     "ip6tables": "*filter\n:INPUT DROP [0:0]\n"
                  "-A INPUT -i lo -j ACCEPT\n"
                  "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
                  "-A INPUT -p ipv6-icmp -j ACCEPT\n"
                  "-A INPUT -s {lab_address6}/128 -j ACCEPT\n"
                  "-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT\nCOMMIT\n",
     "vars": {"portproof_ignore": ["7000/tcp"],
              "portproof_services": [
                  {"name": "postgres", "port": 5432, "allow_from": ["app"], "deny_from": ["public"]},
                  {"name": "static", "port": 8080, "publish": {"container": "static", "container_port": 80}}]}},
]}


def _drift_table(run):
    results = json.loads((run / "portproof-report" / "results.json").read_text())["results"]
    return sorted(((r["host"], r["service"] or "", r["status"], r["message"].split(" (baseline of ")[0]) for r in results
                   if r["check"] == "drift"))


def test_drift_of_what_no_service_declares(make_lab, tmp_path):
    """A new and a vanished undeclared listener, a new firewall opening on an undeclared port and a new published
    container port are drift results without a service, in strict and non-strict mode alike; an ignored port is not."""
    lab = make_lab(PLANTED_SPEC)
    run = tmp_path / "run"
    run.mkdir()
    saved = _playbook(lab, lab.inventory, "portproof.validate.baseline", run)
    assert saved.returncode == 0, (saved.stdout + saved.stderr)[-4000:]
    checked = _playbook(lab, lab.inventory, "portproof.validate.post_deploy", run)
    unchanged = _drift_table(run)
    assert [row[:3] for row in unchanged] == [("app1", "", "pass"), ("db1", "", "pass"), ("db1", "postgres", "pass"),
                                              ("db1", "static", "pass")], (unchanged, (checked.stdout + checked.stderr)[-3000:])
    assert checked.returncode == 0, (checked.stdout + checked.stderr)[-4000:]

    lab.start_service("db1", {"name": "nc", "listen": ["tcp:0.0.0.0:9999"]})
    lab.stop_service("db1", "node_exporter")
    lab.start_service("db1", {"name": "debugd", "listen": ["tcp:0.0.0.0:7000"]})
    lab.ns("db1", ["iptables", "-I", "INPUT", "-p", "tcp", "-m", "tcp", "--dport", "8443", "-j", "ACCEPT"])
    lab.start_container("db1", {"name": "adminer", "publish": ["8088:80/tcp"]})
    expected = [
        ("app1", "", "pass", "app1: listeners, published ports and firewall openings that no service declares as in the baseline of"),
        ("db1", "", "fail", "db1: 0.0.0.0:8088/tcp, which no service declares: newly published to container adminer port 80 "
                            "(image localhost/portproof-lab/busybox:1), not in the baseline"),
        ("db1", "", "fail", "db1: 8443/tcp, which no service declares: the firewall now accepts new connections from "
                            "public (203.0.113.7)"),
        ("db1", "", "fail", "db1: 9100/tcp, which no service declares: the listener on 0.0.0.0:9100 (node_exporter (user root)) is "
                            "gone, nothing listens there now"),
        ("db1", "", "fail", "db1: 9999/tcp, which no service declares: new listener on 0.0.0.0:9999 (nc (user root)), not in the "
                            "baseline"),
        ("db1", "postgres", "pass", "postgres: listeners, processes, mappings and firewall verdicts as in the baseline of"),
        ("db1", "static", "pass", "static: listeners, processes, mappings and firewall verdicts as in the baseline of"),
    ]
    for extra in ([], ["-e", json.dumps({"portproof_strict": True})]):
        checked = _playbook(lab, lab.inventory, "portproof.validate.post_deploy", run, *extra)
        assert checked.returncode == 2, (checked.stdout + checked.stderr)[-4000:]
        found = [(host, service, status, message.rsplit(" as in the baseline of", 1)[0] + " as in the baseline of"
                  if status == "pass" else message) for host, service, status, message in _drift_table(run)]
        assert found == expected, (extra, found)
