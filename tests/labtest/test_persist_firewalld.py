# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""firewalld's permanent configuration against firewalld itself (docs/reboot.md), on a real lab host.

fw runs its own firewalld (1.3, nftables backend) started on the permanent configuration FILES, which its
SSH sessions also see under /etc/firewalld: what firewalld loads at its start is exactly what it loads after
a reboot. So, for a grid of (source, port, protocol), the verdict the collection computes from those files
(saved_firewall) must equal the verdict it computes from the kernel rules firewalld installed (firewall),
and, for every TCP point, the kernel's own answer to a real connection from that source. Then two faults,
as an operator makes them: a port opened at runtime only (firewall-cmd --add-port, without --permanent) and
a port written into the zone file but not loaded; the role validate with portproof_checks [persist] must name
both exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time

import pytest
import yaml

from ansible_collections.portproof.validate.plugins.module_utils._verdict._evaluate import Compiled, evaluate
from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error
from portproof_lab import HOST_PYTHON, Lab  # pylint: disable=import-error

pytestmark = pytest.mark.lab

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(HERE, "fwdiff_probe.py")
XML = '<?xml version="1.0" encoding="utf-8"?>\n'
PUBLIC = (XML + '<zone>\n  <short>Public</short>\n  <interface name="eth0"/>\n  <service name="ssh"/>\n'
          '  <service name="redis"/>\n  <port port="8080-8081" protocol="tcp"/>\n  <port port="5353" protocol="udp"/>\n'
          '  <rule family="ipv4">\n    <source address="{address:app1}"/>\n    <service name="postgresql"/>\n    <accept/>\n  </rule>\n'
          '  <rule family="ipv4">\n    <source address="{address:app2}"/>\n    <reject/>\n  </rule>\n'
          '  <rule family="ipv4">\n    <source ipset="ops"/>\n    <port port="9000" protocol="tcp"/>\n    <drop/>\n  </rule>\n'
          '  <rule family="ipv4" priority="5">\n    <source address="{address:app1}" invert="true"/>\n'
          '    <port port="8081" protocol="tcp"/>\n    <drop/>\n  </rule>\n</zone>\n')
FILES = {
    "zones/public.xml": PUBLIC,
    # the controller's SSH and whatever app3 sends: trusted by source, before the interface's zone
    "zones/trusted.xml": XML + '<zone target="ACCEPT"><source address="{lab_address}/32"/></zone>\n',
    "zones/drop.xml": XML + '<zone target="DROP"><source address="{address:app3}/32"/><port port="6379" protocol="tcp"/></zone>\n',
    "ipsets/ops.xml": XML + '<ipset type="hash:ip"><entry>{address:app1}</entry><entry>{address:app3}</entry></ipset>\n',
    "policies/host-7000.xml": (XML + '<policy target="CONTINUE" priority="-10"><ingress-zone name="ANY"/><egress-zone name="HOST"/>'
                               '<port port="7000" protocol="tcp"/></policy>\n'),
    "direct.xml": (XML + '<direct>\n  <rule ipv="ipv4" table="filter" chain="INPUT" priority="0">-s {address:app1} -p tcp '
                   '--dport 8080 -j DROP</rule>\n</direct>\n'),
}
SOURCES = ("app1", "app2", "app3")
PORTS = [("tcp", 22), ("tcp", 5432), ("tcp", 6379), ("tcp", 7000), ("tcp", 8080), ("tcp", 8081), ("tcp", 9000),
         ("tcp", 9100), ("tcp", 9200), ("udp", 5353), ("udp", 5432)]
TCP_PORTS = sorted(set(port for proto, port in PORTS if proto == "tcp"))
SPEC = {"hosts": [
    {"name": "app1"}, {"name": "app2"}, {"name": "app3"},
    {"name": "fw", "sysctls": {"net.ipv4.icmp_ratelimit": "0", "net.ipv4.icmp_msgs_per_sec": "100000",
                               "net.ipv4.icmp_msgs_burst": "100000"},  # every reject answers (no ICMP rate limit)
     "services": [{"name": "apps", "listen": ["tcp:0.0.0.0:%d" % port for port in TCP_PORTS if port != 22]}],
     "firewalld": {"files": FILES},
     "sshd": {"etc": dict(("firewalld/" + path, text) for path, text in FILES.items())},
     "vars": {"portproof_services": [
         {"name": "pg", "port": 5432, "allow_from": ["app1"], "deny_from": ["app2"]},
         {"name": "metrics", "port": 9100, "allow_from": ["app1", "app2"]},
         {"name": "admin", "port": 9200, "deny_from": ["app1"]}]}},
]}


def _gather(lab):
    tree = tempfile.mkdtemp(prefix="pptree-", dir=lab.workdir)
    env = ansible_env(lab, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
                      ANSIBLE_CALLBACK_TREE_DIR=tree)
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible"), "-i", lab.inventory, "fw", "-m", "portproof.validate.port_facts",
                           "-a", "gather_subset=firewall,addresses,saved_firewall"],
                          capture_output=True, text=True, env=env, check=False, timeout=300)
    path = os.path.join(tree, "fw")
    assert os.path.exists(path), proc.stdout + proc.stderr
    with open(path) as handle:
        result = json.load(handle)
    assert result.get("failed") is not True, result
    return result["ansible_facts"]["portproof"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Lab(SPEC, str(tmp_path_factory.mktemp("fwdperm") / "lab")) as made:
        yield made


@pytest.fixture(scope="module")
def grid(lab):
    """(facts, [(source, proto, port, running verdict, saved verdict, kernel answer or None)]) before any fault."""
    started = time.monotonic()
    facts = _gather(lab)
    assert facts["saved_firewall"]["unsupported"] == [] and facts["saved_firewall"]["incomplete"] == []
    assert [s["loader"] for s in facts["saved_firewall"]["sources"]] == ["firewalld", "firewalld"]
    now = Compiled(facts["firewall"])
    then = Compiled(dict(facts["firewall"], tables=facts["saved_firewall"]["tables"]))
    dst = lab.address("fw")
    points = []
    probes = []
    for source in SOURCES:
        for proto, port in PORTS:
            packet = {"src": lab.address(source), "dst": dst, "proto": proto, "dport": port, "state": "new", "iface": "eth0"}
            points.append((source, proto, port, evaluate(now, packet)["verdict"], evaluate(then, packet)["verdict"]))
            if proto == "tcp":
                probes.append({"id": len(probes), "source": source, "src": lab.address(source), "sport": 41000 + len(probes),
                               "dst": dst, "dport": port, "proto": proto})
    kernel = {}
    for source in SOURCES:
        request = {"probes": [p for p in probes if p["source"] == source], "tcp_timeout": 2.0, "udp_timeout": 2.0, "workers": 16}
        out = lab.ns(source, [HOST_PYTHON, PROBE], input_text=json.dumps(request), timeout=120).stdout
        for item in json.loads(out):
            probe = probes[item["id"]]
            kernel[(probe["source"], probe["dport"])] = item["kernel"]
    rows = [(s, proto, port, now_v, then_v, kernel.get((s, port)) if proto == "tcp" else None)
            for s, proto, port, now_v, then_v in points]
    print("firewalld grid: %d points, %.1f s" % (len(rows), time.monotonic() - started))
    return facts, rows


def test_permanent_verdicts_equal_what_firewalld_installed_and_the_kernel_answers(grid):
    facts, rows = grid
    differ = [row for row in rows if row[3] != row[4] or (row[5] is not None and row[5] != row[4])]
    assert differ == [], "\n".join("%s %s/%d: kernel rules %s, permanent %s, connection %s" % row for row in differ)
    assert set(row[4] for row in rows) == {"accept", "drop", "reject"}
    expected = {("app1", 5432): "accept", ("app2", 5432): "reject", ("app3", 5432): "drop", ("app3", 6379): "accept",
                ("app1", 8080): "drop", ("app2", 8080): "reject", ("app1", 8081): "accept", ("app1", 9000): "drop",
                ("app2", 9000): "reject", ("app2", 7000): "accept", ("app3", 7000): "accept", ("app1", 6379): "accept"}
    got = dict(((s, port), then_v) for s, proto, port, now_v, then_v, kernel in rows if proto == "tcp")
    assert dict((key, got[key]) for key in expected) == expected


@pytest.fixture(scope="module")
def faults(lab, grid):
    """A port opened at runtime only; a port written into public.xml (where fw's sessions read /etc) but not loaded."""
    tmp = tempfile.mkdtemp(prefix="fwdperm-", dir=lab.workdir)
    lab.ssh("fw", "firewall-cmd --zone=public --add-port=9100/tcp")
    lab.ssh("fw", "sed -i 's|</zone>|  <port port=\"9200\" protocol=\"tcp\"/>\\n</zone>|' /etc/firewalld/zones/public.xml")
    with open(os.path.join(tmp, "site.yml"), "w") as handle:
        yaml.safe_dump([{"name": "Would the firewall survive a reboot", "hosts": "fw", "gather_facts": False,
                         "roles": [{"role": "portproof.validate.validate", "vars": {"portproof_checks": ["persist"]}}]}], handle)
    started = time.monotonic()
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "site.yml"], cwd=tmp,
                          env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=600)
    print("persist playbook: %.1f s" % (time.monotonic() - started))
    return proc, tmp, dict((name, lab.address(name)) for name in SOURCES)


def test_runtime_only_and_not_loaded_rules_are_named(faults):
    proc, tmp, addr = faults
    assert proc.returncode == 2, (proc.stdout + proc.stderr)[-4000:]
    with open(os.path.join(tmp, "portproof-report", "results.json")) as handle:
        results = [r for r in json.load(handle)["results"] if r["check"] == "persist" and r["source"] is not None]
    public = "/etc/firewalld/zones/public.xml"
    assert sorted((r["service"], r["status"], r["source"], r["message"]) for r in results) == [
        ("admin", "fail", "app1",
         'admin: after a reboot app1 (%s) would get in on tcp/9200 (must not get in; now it would be rejected): the permanent accept '
         'rule ip firewalld IN_public #10: <port port="9200" protocol="tcp"/> (zone public) in %s is not running (firewalld loads '
         'it at its start or on firewall-cmd --reload); now: reject by rule inet firewalld filter_IN_public #9: reject with icmpx '
         'admin-prohibited' % (addr["app1"], public)),
        ("metrics", "fail", "app1",
         "metrics: after a reboot app1 (%s) would be rejected on tcp/9100 (must get in; now it would get in): the running accept "
         "rule inet firewalld filter_IN_public_allow #6: tcp dport 9100 accept is not in firewalld's permanent configuration "
         "(/etc/firewalld, /usr/lib/firewalld); after a reboot: reject by rule ip firewalld IN_public #13: target default "
         "(zone public) in %s" % (addr["app1"], public)),
        ("metrics", "fail", "app2",
         "metrics: after a reboot app2 (%s) would be rejected on tcp/9100, as it does now (must get in): rule ip firewalld "
         'IN_public #3: rich rule <rule family="ipv4"> <source address="%s"> <reject> in %s' % (addr["app2"], addr["app2"], public)),
        ("pg", "pass", "app1",
         "pg: after a reboot app1 (%s) would get in on tcp/5432, as now (must get in): rule ip firewalld IN_public #5: rich rule "
         '<rule family="ipv4"> <source address="%s"> <service name="postgresql"> <accept> in %s' % (addr["app1"], addr["app1"], public)),
        ("pg", "pass", "app2",
         "pg: after a reboot app2 (%s) would be rejected on tcp/5432, as now (must not get in): rule ip firewalld IN_public #3: rich "
         'rule <rule family="ipv4"> <source address="%s"> <reject> in %s' % (addr["app2"], addr["app2"], public)),
    ], results
