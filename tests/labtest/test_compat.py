# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""post_deploy on real lab hosts with the ansible-playbook of one ansible-core release.

PORTPROOF_ANSIBLE_VENV names the virtualenv whose ansible-playbook runs (tests/lab/lab_ansible.py; default: the project's
.venv, ansible-core 2.19); the compat step of scripts/test runs this file with .venv-2.17 and .venv-2.18 (scripts/bootstrap makes them
from tests/requirements-ansible-*.txt). Every release must give the same run: the same results, the same console,
the same exit status.

db1 runs redis on 6379 and postgres on 5432 (bound to every address though the contract binds it to loopback); its
firewall lets web1 reach redis, which the contract denies. app1 and web1 have nothing wrong.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error
from portproof_lab import Lab  # pylint: disable=import-error

pytestmark = pytest.mark.lab

RULES = ("*filter\n:INPUT ACCEPT [0:0]\n"
         "-A INPUT -s {address:web1}/32 -p tcp -m tcp --dport 6379 -j ACCEPT\n"
         "COMMIT\n")
CONTRACT = [
    {"name": "redis", "port": 6379, "process": "redis", "allow_from": ["app"], "deny_from": ["web"]},
    {"name": "postgres", "port": 5432, "process": "postgres", "bind": ["loopback"]},
]
SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "web1", "groups": ["web"]},
    {"name": "db1", "groups": ["db"], "iptables": RULES,
     "services": [{"name": "redis", "listen": ["tcp:0.0.0.0:6379"]}, {"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]}],
     "vars": {"portproof_probe_timeout": 2, "portproof_services": CONTRACT}},
]}


def release():
    """The ansible-core release of the ansible-playbook the lab tests run, as it says (X.Y.Z)."""
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "--version"], capture_output=True, text=True, check=True,
                          timeout=120)
    return re.match(r"ansible-playbook \[core (\S+)\]", proc.stdout).group(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compat")
    with Lab(SPEC, str(tmp / "lab")) as lab:
        proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "portproof.validate.post_deploy",
                               "-e", "portproof_report_dir=%s" % (tmp / "report")],
                              cwd=str(tmp), env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=900)
        (tmp / "post_deploy.txt").write_text(proc.stdout + proc.stderr)
        # then the baseline of each host (after post_deploy, which would otherwise compare the hosts with it)
        baseline = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "portproof.validate.baseline",
                                   "-e", "portproof_baseline_dir=%s" % (tmp / "baseline")],
                                  cwd=str(tmp), env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=900)
        (tmp / "baseline.txt").write_text(baseline.stdout + baseline.stderr)
        yield {"proc": proc, "dir": tmp / "report", "web1": lab.address("web1"), "db1": lab.address("db1"), "baseline": baseline,
               "baseline_dir": tmp / "baseline"}


def test_the_venv_runs_its_own_release():
    found = release()
    wanted = re.search(r"\.venv-(\d+\.\d+)/bin$", VENV_BIN)
    assert found.startswith(wanted.group(1) + ".") if wanted else found.startswith("2.19."), (VENV_BIN, found)


def test_the_results_are_those_of_the_contract(run):
    proc = run["proc"]
    with open(str(run["dir"] / "results.json")) as handle:
        report = json.load(handle)
    found = sorted((r["host"], r["service"], r["check"], r["source"] or "", r["status"]) for r in report["results"])
    assert found == EXPECTED, proc.stdout[-4000:]
    summary = report["summary"]
    assert (summary["status"], summary["total"], summary["pass"], summary["fail"], summary["error"], summary["skip"]) == (
        "fail", 9, 6, 3, 0, 0)
    assert summary["headline"] == "FAIL: 3 fail, 6 pass of 9 results on 3 hosts"
    assert dict((host, (info["status"], info["total"])) for host, info in summary["hosts"].items()) == {
        "app1": ("pass", 0), "web1": ("pass", 0), "db1": ("fail", 9)}


def test_db1_alone_fails_with_its_failures(run):
    proc = run["proc"]
    assert proc.returncode == 2, proc.stdout[-4000:] + proc.stderr[-2000:]
    failed = re.findall(r"^fatal: \[(.*?)\]: FAILED! => (.*)$", proc.stdout, re.M)
    assert [host for host, _msg in failed] == ["db1"], proc.stdout[-4000:]
    # the release is one the collection supports (meta/runtime.yml: requires_ansible)
    assert "does not support Ansible version" not in proc.stdout + proc.stderr, proc.stderr
    web1, db1 = run["web1"], run["db1"]
    lines = json.loads(failed[0][1])["msg"]
    assert len(lines) == 3, lines
    assert lines[0] == ("FAIL db1 redis firewall_deny from web1: redis: new TCP connection from web1 (%s) to %s:6379 (must not get in): "
                        "accept by rule ip filter INPUT #1: -A INPUT -s %s/32 -p tcp -m tcp --dport 6379 -j ACCEPT" % (web1, db1, web1))
    assert re.fullmatch(r"FAIL db1 redis isolation from web1: redis: web1 must not get through, but connected to %s:6379/tcp in "
                        r"[\d.]+ ms" % re.escape(db1), lines[1]), lines
    assert re.fullmatch(r"FAIL db1 postgres bind: postgres declared on 5432/tcp bound to loopback addresses; listening on "
                        r"0\.0\.0\.0:5432 \(process postgres pid \d+ user root\): all IPv4 addresses", lines[2]), lines
    # the recap: db1 alone failed, and no host counts the report, written on the controller, as a change
    counts = dict((host, dict((key, int(value)) for key, value in re.findall(r"(\w+)=(\d+)", rest)))
                  for host, rest in re.findall(r"^(\S+)\s+: (ok=.*?)\s*$", proc.stdout, re.M))
    assert dict((host, (c["failed"], c["changed"], c["unreachable"])) for host, c in counts.items()) == {
        "app1": (0, 0, 0), "web1": (0, 0, 0), "db1": (1, 0, 0)}


def test_each_baseline_file_is_the_indented_json_of_its_host(run):
    assert run["baseline"].returncode == 0, run["baseline"].stdout[-4000:]
    assert sorted(os.listdir(str(run["baseline_dir"]))) == ["app1.json", "db1.json", "web1.json"]
    for name in ("app1.json", "db1.json", "web1.json"):
        text = (run["baseline_dir"] / name).read_text()
        document = json.loads(text)
        # ansible.builtin.to_nice_json(sort_keys=true): the text as written, not data turned back into compact JSON
        assert text == json.dumps(document, indent=4, sort_keys=True, separators=(",", ": ")), name
        assert (document["host"], document["version"]) == (name[:-len(".json")], 2), name


# (host, service, check, source, status) of every result, sorted
EXPECTED = [
    ("db1", "postgres", "bind", "", "fail"),
    ("db1", "postgres", "listen", "", "pass"),
    ("db1", "postgres", "process", "", "pass"),
    ("db1", "redis", "firewall_allow", "app1", "pass"),
    ("db1", "redis", "firewall_deny", "web1", "fail"),
    ("db1", "redis", "isolation", "web1", "fail"),
    ("db1", "redis", "listen", "", "pass"),
    ("db1", "redis", "process", "", "pass"),
    ("db1", "redis", "reach", "app1", "pass"),
]
