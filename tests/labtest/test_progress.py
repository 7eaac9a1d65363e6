# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a user sees on a run of post_deploy: every phase named, in order, which source probes how many
targets, and one final line whose counts are those of results.json and whose path is the report.

Runs ``ansible-playbook portproof.validate.post_deploy`` as a user would, from a working directory
with the default report directory, on three lab hosts with one planted fault (a firewall rule that
drops app1's connections to postgres).
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error

pytestmark = pytest.mark.lab

SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "web1", "groups": ["web"]},
    {"name": "db1", "groups": ["db"],
     "services": [{"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]},
                  {"name": "statsd", "listen": ["udp:0.0.0.0:8125"], "reply": "pong"}],
     "iptables": "*filter\n:INPUT ACCEPT [0:0]\n"
                 "-A INPUT -s {address:app1}/32 -p tcp -m tcp --dport 5432 -j DROP\n"
                 "-A INPUT -s {address:web1}/32 -p tcp -m tcp --dport 5432 -j REJECT --reject-with tcp-reset\nCOMMIT\n",
     "vars": {"portproof_probe_timeout": 2,
              "portproof_services": [
                  {"name": "postgres", "port": 5432, "process": "postgres", "allow_from": ["app"], "deny_from": ["web"]},
                  {"name": "statsd", "port": 8125, "proto": "udp", "allow_from": ["app", "web"],
                   "check": {"send": "ping", "expect": "^pong"}}]}},
]}

PHASES = [
    "Phase 1/3 gather: validate the contract and gather the port facts",
    "Phase 2/3 checks: static (listen, bind, process, undeclared, firewall, mapping), live (reach, isolation, response, tls, protocol, load), drift",
    "Phase 3/3 report: write the report, then fail once on what the checks found",
]
FINAL = re.compile(r'"msg": "portproof (PASS|FAIL|ERROR): (\d+) results on (\d+) hosts: (\d+) pass, (\d+) fail, (\d+) error, '
                   r'(\d+) skip; report: ([^"]+)"')
PLAN = re.compile(r'"msg": "live probes of the play: (\d+) probes from (\d+) sources \(one port_probe task each\): ([^"]+)"')


def test_post_deploy_names_each_phase_and_ends_with_the_counts_and_the_report_path(make_lab, tmp_path):
    lab = make_lab(SPEC)
    workdir = tmp_path / "run"
    workdir.mkdir()
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "portproof.validate.post_deploy"],
                          cwd=str(workdir), env=ansible_env(lab), capture_output=True, text=True, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-4000:]

    # Every phase is named once, in order, and the hosts each phase runs on are named under it.
    tasks = re.findall(r"^TASK \[(.*)\] \**$", proc.stdout, re.M)
    phases = [name for name in tasks if name.startswith("Phase ")]
    assert phases == PHASES, tasks
    # The first play gathered (phase 1 has nothing left to do); no baseline was saved (drift skipped).
    for index, phase in enumerate(PHASES):
        block = proc.stdout.split("TASK [%s]" % phase, 1)[1].split("\nTASK [", 1)[0]
        if index == 0:
            assert sorted(re.findall(r"^skipping: \[(\w+)\]$", block, re.M)) == ["app1", "db1", "web1"], block
        else:
            assert re.search(r"included: portproof\.validate\.\w+ for (app1|web1|db1), (app1|web1|db1), (app1|web1|db1)\n", block), block
    assert proc.stdout.count("TASK [portproof.validate.validate : Gather the port facts]") == 1
    # The checks are imported whole: no include of a step's task file (each include costs a worker per host); the
    # only includes are those of phases 2 and 3 (phase 1 is skipped: the first play gathered).
    assert re.findall(r"^included: (\S+) for ", proc.stdout, re.M) == ["portproof.validate.validate", "portproof.validate.report"], \
        re.findall(r"^included: .*$", proc.stdout, re.M)
    drift = proc.stdout.split("TASK [portproof.validate.validate : Compare each host with its baseline]", 1)[1].split("\nTASK [", 1)[0]
    assert sorted(re.findall(r"^skipping: \[(\w+)\]$", drift, re.M)) == ["app1", "db1", "web1"], drift

    # The live phase says which source probes how many targets: app1 and web1 probe postgres and statsd.
    plans = PLAN.findall(proc.stdout)
    assert plans == [("4", "2", "app1 2, web1 2")], proc.stdout[-4000:]

    # One final line; its counts are results.json's, its path is the report directory.
    report_dir = workdir / "portproof-report"
    summary = json.loads((report_dir / "results.json").read_text())["summary"]
    finals = FINAL.findall(proc.stdout)
    assert len(finals) == 1, proc.stdout[-4000:]
    status, total, hosts, passed, failed, errored, skipped, path = finals[0]
    assert (status.lower(), int(total), int(hosts), int(passed), int(failed), int(errored), int(skipped)) == (
        summary["status"], summary["total"], len(summary["hosts"]), summary["pass"], summary["fail"], summary["error"], summary["skip"])
    assert path == str(report_dir) and os.path.isdir(path)
    assert sorted(os.listdir(path)) == ["facts", "junit.xml", "metrics.prom", "report.html", "results.json", "summary.md"]
    # The planted fault: app1 is dropped by db1's firewall, statically and live.
    failures = sorted((r["service"], r["check"], r["source"]) for r in
                      json.loads((report_dir / "results.json").read_text())["results"] if r["status"] == "fail")
    assert failures == [("postgres", "firewall_allow", "app1"), ("postgres", "reach", "app1")]
    assert (summary["status"], summary["fail"], summary["error"]) == ("fail", 2, 0)
    # The final line comes after the last phase, before the single failure that ends the run.
    assert output.count("fatal:") == 1
    assert proc.stdout.index("TASK [%s]" % PHASES[-1]) < proc.stdout.index("portproof FAIL:") < proc.stdout.index("fatal:")
