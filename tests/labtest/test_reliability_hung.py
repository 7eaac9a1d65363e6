# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hung firewall tools on real lab hosts: every command of port_facts is bounded, and so is the module.

- ``slow`` has an ``nft`` first on its sessions' PATH that never answers;
- ``stuck`` has ``iptables-nft-save`` and ``ip6tables-nft-save`` that never answer;
- ``db1`` is a healthy host with the same service and rules.

One run of the portproof and validate roles (what post_deploy runs) ends, the hung hosts get the
exact ``unavailable`` entry and ``error`` results naming the tool and the limit, and ``db1`` is
checked as usual. Without a per-command limit, the deadline of the whole module still ends it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from lab_ansible import VENV_BIN, ansible_env, command_wrappers, module_result  # pylint: disable=import-error
from portproof_lab import Lab  # pylint: disable=import-error

pytestmark = pytest.mark.lab

COMMAND_TIMEOUT = 3
RULES = """*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -s {lab_address}/32 -p tcp --dport 22 -j ACCEPT
-A INPUT -s {address:app1}/32 -p tcp --dport 5432 -j ACCEPT
COMMIT
"""
PG = {"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]}
PG_CONTRACT = [{"name": "postgres", "port": 5432, "process": "postgres", "allow_from": ["app"]}]
HANG = "exec sleep 600"

PLAYBOOK = """
- name: Prove every service port while firewall tools hang
  hosts: all
  gather_facts: false
  module_defaults:
    portproof.validate.port_facts:
      command_timeout: %(timeout)d
  vars:
    portproof_defer_failures: true
    portproof_probe_timeout: 2
  roles:
    - role: portproof.validate.validate
"""


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("hung")


@pytest.fixture(scope="module")
def lab(tmp):
    slow = command_wrappers(str(tmp / "slow-bin"), {"nft": HANG})
    stuck = command_wrappers(str(tmp / "stuck-bin"), {"iptables-nft-save": HANG, "ip6tables-nft-save": HANG})
    path = ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    host = {"groups": ["db"], "services": [PG], "iptables": RULES, "vars": {"portproof_services": PG_CONTRACT}}
    spec = {"hosts": [
        {"name": "app1", "groups": ["app"]},
        dict(host, name="db1"),
        dict(host, name="slow", sshd={"env": {"PATH": slow + path}}),
        dict(host, name="stuck", sshd={"env": {"PATH": stuck + path}}),
    ]}
    with Lab(spec, str(tmp / "lab")) as built:
        yield built


@pytest.fixture(scope="module")
def run(lab, tmp):
    playbook = tmp / "play.yml"
    playbook.write_text(PLAYBOOK % {"timeout": COMMAND_TIMEOUT})
    report = tmp / "report"
    start = time.monotonic()
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, str(playbook),
                           "-e", "portproof_report_dir=%s" % report], env=ansible_env(lab), capture_output=True, text=True,
                          check=False, timeout=400)
    elapsed = time.monotonic() - start
    (tmp / "stdout.txt").write_text(proc.stdout + proc.stderr)
    assert (report / "results.json").exists(), proc.stdout[-5000:] + proc.stderr
    with open(report / "results.json") as handle:
        data = json.load(handle)
    facts = {}
    for name in os.listdir(report / "facts"):
        with open(report / "facts" / name) as handle:
            facts[name[:-len(".json")]] = json.load(handle)
    return {"proc": proc, "report": data, "facts": facts, "elapsed": elapsed}


def results(run, host, **match):
    return [r for r in run["report"]["results"] if r["host"] == host and all(r.get(k) == v for k, v in match.items())]


def firewall_unavailable(run, host):
    return [e for e in run["facts"][host]["facts"]["unavailable"] if e["subset"] == "firewall"]


def test_the_run_ends_and_reports_every_host(run):
    assert run["proc"].returncode == 2, run["proc"].stdout[-5000:]
    assert run["elapsed"] < 200, run["elapsed"]  # the planted tools would hang for 600 s
    assert sorted(run["facts"]) == ["app1", "db1", "slow", "stuck"]
    for host in ("db1", "slow", "stuck"):
        assert [r["status"] for r in results(run, host, service="postgres", check="reach", source="app1")] == ["pass"], host
        assert [r["status"] for r in results(run, host, service="postgres", check="listen")] == ["pass"], host
    # the healthy host is checked as usual: its firewall is complete and lets app1 in
    assert firewall_unavailable(run, "db1") == []
    assert [r["status"] for r in results(run, "db1", service="postgres", check="firewall_allow", source="app1")] == ["pass"]


def test_a_hung_nft_is_killed_and_named(run):
    message = "nft -j list tables did not answer within 3 s (port_facts' command_timeout) and was killed"
    assert firewall_unavailable(run, "slow") == [{"subset": "firewall", "tool": "nft", "reason": message}]
    assert run["facts"]["slow"]["facts"]["firewall"]["incomplete"] == [message]
    assert [(r["status"], r["message"]) for r in results(run, "slow", check="firewall_allow", source="app1")] == [
        ("error", "postgres: new TCP connection from app1 (%s) to %s:5432 (must get in): cannot be decided statically: the "
                  "firewall facts are incomplete: %s" % (run["facts"]["app1"]["address"], run["facts"]["slow"]["address"],
                                                         message))]


def test_hung_iptables_save_tools_are_killed_and_named(run):
    expected = ["%s did not answer within 3 s (port_facts' command_timeout) and was killed" % tool
                for tool in ("iptables-nft-save", "ip6tables-nft-save")]
    assert [(e["tool"], e["reason"]) for e in firewall_unavailable(run, "stuck")] == [
        ("iptables-nft-save", expected[0]), ("ip6tables-nft-save", expected[1])]
    assert run["facts"]["stuck"]["facts"]["firewall"]["incomplete"] == expected
    assert [r["status"] for r in results(run, "stuck", check="firewall_allow", source="app1")] == ["error"]


def test_the_deadline_ends_the_module(lab):
    # a command limit longer than the deadline: the deadline kills the hung nft, and no command starts after it
    start = time.monotonic()
    result = module_result(lab, "slow", "portproof.validate.port_facts",
                           "gather_subset=firewall command_timeout=60 deadline=4")
    elapsed = time.monotonic() - start
    assert not result.get("failed"), result
    entries = result["ansible_facts"]["portproof"]["unavailable"]
    assert entries[0] == {"subset": "firewall", "tool": "nft", "reason": "nft -j list tables was killed: "
                          "port_facts' deadline of 4 s for the whole gather was reached"}, entries
    assert [(e["tool"], e["reason"].split(": ", 1)[1]) for e in entries[1:]] == [
        ("ip", "port_facts' deadline of 4 s for the whole gather had passed")] * 2, entries
    assert elapsed < 30, elapsed  # the planted nft would hang for 600 s
