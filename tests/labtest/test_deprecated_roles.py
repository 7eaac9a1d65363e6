# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The deprecated check roles still behave as before, and the role validate with their kinds does the same.

Three lab hosts: db1 runs postgres on every address (the contract says loopback, and web1 must
not reach it; no firewall keeps web1 out) and an HTTP api that answers 200 (the contract wants
201), and declares a service published from a container on a host with no container engine (an error). Each deprecated
role (listeners, firewall, mappings, reachability, endpoints, and the entry point drift of
baseline) is run alone, without deferring, as existing playbooks run it, and so is the role
validate with that role's kinds in portproof_checks and portproof_report false. Both runs must
record exactly the expected results, fail exactly db1 with the same messages, and write no report;
with portproof_defer_failures true they fail no host and record the same results.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error

# Its own step of scripts/test (PORTPROOF_TEST_ONLY=extended), outside the default set: the CI budget.
pytestmark = [pytest.mark.lab, pytest.mark.extended]

CONTRACT = [
    {"name": "postgres", "port": 5432, "bind": "loopback", "process": "postgres", "allow_from": ["app"], "deny_from": ["web"]},
    {"name": "api", "port": 8000, "allow_from": ["app"], "check": {"http": {"path": "/", "status": 201}}},
    {"name": "shop", "port": 8080, "publish": {"container": "shop", "container_port": 80}},
]
SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "web1", "groups": ["web"]},
    {"name": "db1", "groups": ["db"],
     "services": [{"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]}, {"name": "api", "listen": ["tcp:0.0.0.0:8000"], "behavior": "http"}],
     "vars": {"portproof_services": CONTRACT, "portproof_probe_timeout": 2}},
]}
# (role, entry point, its kinds, the results it records: (host, service, check, status, source))
CASES = [
    ("listeners", "main", ["listen", "bind", "process", "undeclared"], [
        ("db1", "api", "listen", "pass", None), ("db1", "postgres", "bind", "fail", None), ("db1", "postgres", "listen", "pass", None),
        ("db1", "postgres", "process", "pass", None), ("db1", "shop", "listen", "fail", None)]),
    ("firewall", "main", ["firewall_allow", "firewall_deny"], [
        ("db1", "api", "firewall_allow", "pass", "app1"), ("db1", "postgres", "firewall_allow", "pass", "app1"),
        ("db1", "postgres", "firewall_deny", "fail", "web1")]),
    ("mappings", "main", ["mapping"], [("db1", "shop", "mapping", "error", None)]),
    ("reachability", "main", ["reach", "isolation"], [
        ("db1", "api", "reach", "pass", "app1"), ("db1", "postgres", "isolation", "fail", "web1"),
        ("db1", "postgres", "reach", "pass", "app1")]),
    ("endpoints", "main", ["response", "tls", "load"], [("db1", "api", "response", "fail", "app1")]),
    ("baseline", "drift", ["drift"], [("app1", None, "drift", "pass", None), ("db1", None, "drift", "fail", None),
                                      ("db1", "api", "drift", "pass", None), ("db1", "postgres", "drift", "pass", None),
                                      ("db1", "shop", "drift", "pass", None), ("web1", None, "drift", "pass", None)]),
]
KEEP = {"name": "Keep the results of every host", "hosts": "localhost", "gather_facts": False, "tasks": [{
    "name": "Write them", "ansible.builtin.copy": {
        "content": "{{ dict(groups['all'] | zip(groups['all'] | map('extract', hostvars) | map(attribute='portproof_results', default=[])))"
                   " | to_json }}",
        "dest": "{{ portproof_out }}", "mode": "0644"}}]}
RECAP = re.compile(r"^(\w+)\s+: ok=\d+\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
FATAL = re.compile(r"^fatal: \[(\w+)\]: FAILED! => (\{.*\})$", re.M)
MS = re.compile(r"\b\d+(\.\d+)? ms\b")


def _run(lab, workdir, name, include, variables):
    """Runs a play over every host with INCLUDE (an include_role) and VARIABLES, then keeps every host's results.
    Returns (results, {failed host: its failure messages}, the output)."""
    case = workdir / name
    case.mkdir()
    task = {"name": "Run the checks", "ansible.builtin.include_role": include}
    plays = [{"name": "Check", "hosts": "all", "gather_facts": False, "vars": variables, "tasks": [task]}, KEEP]
    (case / "site.yml").write_text(yaml.safe_dump(plays, sort_keys=False))
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "site.yml",
                           "-e", "portproof_out=%s" % (case / "results.json"), "-e", "portproof_baseline_dir=%s" % (workdir / "saved-baseline")],
                          cwd=str(case), env=ansible_env(lab), capture_output=True, text=True, check=False)
    output = proc.stdout + proc.stderr
    assert os.path.isfile(case / "results.json"), output[-4000:]
    # no report, neither in the default directory nor anywhere else in the working directory
    assert sorted(os.listdir(case)) == ["results.json", "site.yml"], (name, os.listdir(case))
    results = json.loads((case / "results.json").read_text())
    found = sorted(((r["host"], r["service"], r["check"], r["status"], r["source"]) for rs in results.values() for r in rs),
                   key=repr)
    # the failures' messages, without what differs between two runs (latencies)
    failed = dict((host, [MS.sub("N ms", message) for message in json.loads(fatal)["msg"]])
                  for host, fatal in FATAL.findall(proc.stdout))
    recap = dict((host, int(count)) for host, _unreachable, count in RECAP.findall(proc.stdout))
    assert sorted(host for host, count in recap.items() if count) == sorted(failed), output[-4000:]
    assert proc.returncode == (2 if failed else 0), output[-4000:]
    return found, failed, output


def test_each_deprecated_role_behaves_as_validate_with_its_kinds(make_lab, tmp_path):
    lab = make_lab(SPEC)
    saved = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "portproof.validate.baseline",
                            "-e", "portproof_baseline_dir=%s" % (tmp_path / "saved-baseline")],
                           cwd=str(tmp_path), env=ansible_env(lab), capture_output=True, text=True, check=False)
    assert saved.returncode == 0, (saved.stdout + saved.stderr)[-4000:]
    # drift since the baseline: a new listener on db1 that no service declares
    lab.start_service("db1", {"name": "nc", "listen": ["tcp:0.0.0.0:9999"]})
    for role, entry, kinds, expected in CASES:
        old = {"name": "portproof.validate.%s" % role, "tasks_from": entry}
        new = {"name": "portproof.validate.validate"}
        new_vars = {"portproof_checks": kinds, "portproof_report": False}
        found_old, failed_old, out_old = _run(lab, tmp_path, role, old, {})
        found_new, failed_new, out_new = _run(lab, tmp_path, role + "-validate", new, new_vars)
        expected = sorted(expected, key=repr)
        assert (found_old, found_new) == (expected, expected), (role, found_old, found_new)
        assert sorted(failed_old) == ["db1"], (role, failed_old, out_old[-3000:])
        assert failed_new == failed_old, (role, failed_new, failed_old)
        # deferred: the same results, no host failed, no report
        found_old, failed_old, _out = _run(lab, tmp_path, role + "-deferred", old, {"portproof_defer_failures": True})
        found_new, failed_new, _out = _run(lab, tmp_path, role + "-validate-deferred", new,
                                           dict(new_vars, portproof_defer_failures=True))
        assert (found_old, failed_old, found_new, failed_new) == (expected, {}, expected, {}), role
