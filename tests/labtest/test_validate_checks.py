# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role validate runs the kinds in portproof_checks and no other, then writes the report and fails at the end.

db1 runs postgres on every address (the contract says loopback, and web1 must not reach it; no
firewall keeps web1 out). validate with portproof_checks [bind, firewall_deny, isolation] must
write a report whose results are exactly those kinds (no listen, process, reach, drift result),
and fail db1 once, at the end, through the report.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error

pytestmark = pytest.mark.lab

SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "web1", "groups": ["web"]},
    {"name": "db1", "groups": ["db"], "services": [{"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]}],
     "vars": {"portproof_probe_timeout": 2, "portproof_services": [
         {"name": "postgres", "port": 5432, "bind": "loopback", "process": "postgres", "allow_from": ["app"], "deny_from": ["web"]}]}},
]}


def test_validate_runs_only_the_chosen_kinds_then_the_report(make_lab, tmp_path):
    lab = make_lab(SPEC)
    (tmp_path / "site.yml").write_text(yaml.safe_dump([{
        "name": "Some checks", "hosts": "all", "gather_facts": False,
        "roles": [{"role": "portproof.validate.validate", "vars": {"portproof_checks": ["isolation", "bind", "firewall_deny"]}}]}]))
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "site.yml"],
                          cwd=str(tmp_path), env=ansible_env(lab), capture_output=True, text=True, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-4000:]
    results = json.loads((tmp_path / "portproof-report" / "results.json").read_text())["results"]
    assert sorted((r["host"], r["service"], r["check"], r["status"], r["source"]) for r in results) == [
        ("db1", "postgres", "bind", "fail", None),
        ("db1", "postgres", "firewall_deny", "fail", "web1"),
        ("db1", "postgres", "isolation", "fail", "web1")], results
    # db1 failed once, through the report, with its three failures
    assert output.count("fatal: [db1]") == 1, output[-4000:]
    fatal = [line for line in proc.stdout.splitlines() if line.startswith("fatal: [db1]")][0]
    assert len(json.loads(fatal.split(" => ", 1)[1])["msg"]) == 3, fatal
    assert "TASK [portproof.validate.report : Fail the hosts whose checks failed or errored, each with its own failures]" in proc.stdout
