# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The contract is honoured wherever Ansible lets a user give variables, and a play that declares nothing is refused.

One lab host, db1, runs postgres on every address; the contract says loopback only. Each run gives
that contract another way (inventory, play vars, role vars, include_role vars, -e, and a
portproof_services__* variable in play vars added to the inventory's list) to the role validate
with the listener checks and failures deferred, and keeps the host's results: each must hold the bind failure. A play
whose hosts declare nothing must fail, naming them, instead of passing with no result.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error

pytestmark = pytest.mark.lab

POSTGRES = {"name": "postgres", "port": 5432, "bind": "loopback", "process": "postgres"}
REDIS = {"name": "redis", "port": 6379, "bind": "loopback"}
SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "db1", "groups": ["db"],
     "services": [{"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]}, {"name": "redis", "listen": ["tcp:127.0.0.1:6379"]},
                  {"name": "api", "listen": ["tcp:0.0.0.0:8000"], "behavior": "http", "require_headers": {"X-Token": "s3cret-t0ken"}}]},
]}
CHECKS = [("postgres", "bind", "fail"), ("postgres", "listen", "pass"), ("postgres", "process", "pass")]
KEEP = {"name": "Keep the results of the host", "ansible.builtin.copy": {
    "content": "{{ portproof_results | to_json }}", "dest": "{{ portproof_out }}/{{ inventory_hostname }}.json", "mode": "0644"},
    "delegate_to": "localhost"}


LISTENERS = ["listen", "bind", "process", "undeclared"]
VALIDATE = {"role": "portproof.validate.validate"}


def _play(hosts="db1", variables=None, roles=None, tasks=None, kinds=None):
    play = {"name": "Check db1", "hosts": hosts, "gather_facts": False,
            "vars": dict({"portproof_defer_failures": True, "portproof_report": False, "portproof_checks": kinds or LISTENERS},
                         **(variables or {}))}
    play["roles"] = roles if roles is not None else [VALIDATE]
    play["tasks"] = (tasks or []) + [KEEP]
    return play


CASES = {
    "inventory": ({"db1": {"portproof_services": [POSTGRES]}}, [_play()], [], CHECKS),
    "play vars": ({}, [_play(variables={"portproof_services": [POSTGRES]})], [], CHECKS),
    "role vars": ({}, [_play(roles=[{"role": "contract_role"}, VALIDATE])], [], CHECKS),
    "include_role vars": ({}, [_play(roles=[], tasks=[{"name": "Check the listeners", "ansible.builtin.include_role": {
        "name": "portproof.validate.validate"}, "vars": {"portproof_services": [POSTGRES]}}])], [], CHECKS),
    "extra vars": ({}, [_play()], ["-e", json.dumps({"portproof_services": [POSTGRES]})], CHECKS),
    "merged": ({"db1": {"portproof_services": [REDIS]}}, [_play(variables={"portproof_services__pg": [POSTGRES]})], [],
               sorted(CHECKS + [("redis", "bind", "pass"), ("redis", "listen", "pass")])),
}


def _write(tmp_path, lab, name, host_vars, plays):
    case = tmp_path / name.replace(" ", "_")
    (case / "out").mkdir(parents=True)
    role = case / "roles" / "contract_role" / "vars"
    role.mkdir(parents=True)
    (role / "main.yml").write_text(yaml.safe_dump({"portproof_services": [POSTGRES]}))
    with open(lab.inventory) as handle:
        inventory = yaml.safe_load(handle)
    for host, values in host_vars.items():
        inventory["all"]["hosts"][host].update(values)
    (case / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (case / "site.yml").write_text(yaml.safe_dump(plays, sort_keys=False))
    return case


def _run(lab, case, extra):
    return subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(case / "inventory.yml"), "site.yml",
                           "-e", "portproof_out=%s" % (case / "out")] + extra,
                          cwd=str(case), env=ansible_env(lab), capture_output=True, text=True, check=False)


def test_the_contract_is_honoured_wherever_it_is_given(make_lab, tmp_path):
    lab = make_lab(SPEC)
    found = {}
    for name, (host_vars, plays, extra, _expected) in CASES.items():
        case = _write(tmp_path, lab, name, host_vars, plays)
        proc = _run(lab, case, extra)
        assert proc.returncode == 0, (name, (proc.stdout + proc.stderr)[-3000:])
        results = json.loads((case / "out" / "db1.json").read_text())
        found[name] = sorted((r["service"], r["check"], r["status"]) for r in results)
        bind = [r["message"] for r in results if (r["service"], r["check"]) == ("postgres", "bind")]
        assert len(bind) == 1 and bind[0].startswith("postgres declared on 5432/tcp bound to loopback addresses; listening on "
                                                     "0.0.0.0:5432 (process postgres pid "), (name, bind)
    assert found == dict((name, case[3]) for name, case in CASES.items())


def test_a_play_that_declares_no_service_is_refused(make_lab, tmp_path):
    lab = make_lab(SPEC)
    case = _write(tmp_path, lab, "nothing", {}, [_play(hosts="all")])
    proc = _run(lab, case, [])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert ("portproof: no host of this play (app1, db1) declares a service: portproof_services and portproof_services__* are "
            "empty or not set for each of them, and portproof_strict is off, so nothing would be checked.") in " ".join(output.split()), output[-3000:]
    assert not os.listdir(case / "out")


def test_a_strict_play_without_services_still_checks_what_listens(make_lab, tmp_path):
    """Strict mode with no service declared is a contract too (nothing but the ignored ports may listen): not refused."""
    lab = make_lab(SPEC)
    case = _write(tmp_path, lab, "strict", {}, [_play(variables={"portproof_strict": True, "portproof_ignore": ["22/tcp"]})])
    proc = _run(lab, case, [])
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    results = json.loads((case / "out" / "db1.json").read_text())
    tail = "listens on %d/tcp and no service declares it; %d/tcp %s (declare it, or list it in portproof_ignore)"
    # what answers on each, asked from db1 itself: the postgres stand-in says nothing, api is an HTTP server (401)
    assert sorted((r["check"], r["status"], re.sub(r"pid \d+", "pid N", r["message"])) for r in results) == [
        ("undeclared", "fail", "db1: 0.0.0.0:5432 (process postgres pid N user root) " + tail % (5432, 5432, "answers nothing within 5 s")),
        ("undeclared", "fail", "db1: 0.0.0.0:8000 (process api pid N user root) " + tail % (8000, 8000, "answers as http"))], results


def test_a_contract_in_play_vars_sends_its_http_secrets(make_lab, tmp_path):
    """The validated contract masks header values; the live checks take them from the variables the role saw."""
    lab = make_lab(SPEC)
    api = {"name": "api", "port": 8000, "allow_from": ["app"],
           "check": {"http": {"path": "/", "status": 200, "headers": {"X-Token": "s3cret-t0ken"}}}}
    case = _write(tmp_path, lab, "secrets", {}, [_play(variables={"portproof_services": [api], "portproof_probe_timeout": 2},
                                                       kinds=["response", "tls", "load"])])
    proc = _run(lab, case, [])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    results = json.loads((case / "out" / "db1.json").read_text())
    assert [(r["host"], r["service"], r["check"], r["status"], r["source"]) for r in results] == [
        ("db1", "api", "response", "pass", "app1")], [r["message"] for r in results]
    assert "s3cret-t0ken" not in output and "s3cret-t0ken" not in json.dumps(results)
