# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The private actions of the role validate (contract_load, host_index, check_static, check_drift, baseline_save),
run by the roles' own task files in a real ansible-playbook.

The hosts are those of the molecule scenario "report", with the port facts captured on its lab
(fixtures/drift/facts-before-*.json, set as port_facts sets them) and marked gathered, so that no task connects:
each host's ssh command does not exist. bad1 has a contract with two problems. The play saves the baseline of each
host, then sets the facts captured after the faults were planted and compares: what the roles record must be what
plugin_utils gives for the same input, the baseline files the text of the state, and no host changed. Last, the
entry point fail fails each host that drifted with its own drift messages.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from typing import Any, Dict, List, Tuple

import pytest
import yaml

from ansible_collections.portproof.validate.plugins.plugin_utils._contract import load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._validate_steps import (
    baseline_state, drift_results, host_contract, static_checks,
)
from ansible_collections.portproof.validate.tests.unit.plugins.action.test_report_write import ansible_env
from ansible_collections.portproof.validate.tests.unit.plugins.plugin_utils.test_baseline import ADDRESS, FIXTURES, GROUPS, HOST_VARS

BIN = os.path.dirname(sys.executable)
HOSTS = ["web1", "app1", "db1"]
KINDS = ["listen", "bind", "process", "undeclared", "firewall_allow", "firewall_deny", "mapping"]
SECRET = "s3cr3t-t0ken"  # a header value, pasted into path too: no message may show it
BAD_CONTRACT = [{"name": "pg", "port": 70000}, {"name": "pg", "port": 5432, "bnid": "x"},
                {"name": "api", "port": 8000, "check": {"http": {"headers": {"X-Token": SECRET}, "path": SECRET}}}]
BAD_MESSAGE = ("invalid portproof contract for host bad1:\n"
               "  - portproof_services[0] (pg): port 70000 is out of range 1-65535\n"
               "  - portproof_services[1] (pg): unknown key bnid (allowed: name, port, proto, bind, process, user, publish, "
               "names, allow_from, deny_from, check, restart)\n"
               "  - portproof_services[1] (pg): name is already used by portproof_services[0]; names are unique per host\n"
               "  - portproof_services[2] (api).check.http: path must start with / and contain no spaces or control characters, "
               "got '********'")
KEEP = ["portproof_contract", "portproof_results", "portproof_last_results", "portproof_drift_last"]


def facts_file(host: str, when: str) -> str:
    return os.path.join(FIXTURES, "facts-%s-%s.json" % (when, host))


def include(tasks_from: str, role: str = "validate", **variables: Any) -> Dict[str, Any]:
    task = {"name": "%s %s" % (role, tasks_from), "ansible.builtin.include_role": {"name": "portproof.validate." + role,
                                                                                   "tasks_from": tasks_from}}
    if variables:
        task["vars"] = variables
    return task


def set_facts(when: str) -> Dict[str, Any]:
    return {"name": "The port facts of each host, as port_facts sets them (%s)" % when,
            "ansible.builtin.set_fact": {"portproof": "{{ lookup('ansible.builtin.file', facts_%s) | from_json }}" % when,
                                         "cacheable": True}}


PLAYBOOK = [{
    "name": "The steps of the role validate",
    "hosts": "all",
    "gather_facts": False,
    "vars": {"portproof_defer_failures": True, "portproof_strict": True, "portproof_ignore": ["22/tcp"]},
    "tasks": [
        set_facts("before"),
        include("gather"),
        include("record", portproof_kinds=KINDS),
        include("main", role="baseline"),
        set_facts("after"),
        include("drift", role="baseline"),
        {"name": "Keep the variables of each host", "delegate_to": "localhost", "changed_when": False,
         "ansible.builtin.copy": {"content": "{{ dict(keep | zip(keep | map('extract', vars))) | to_json }}",
                                  "dest": "{{ out }}/{{ inventory_hostname }}.json", "mode": "0644"},
         "vars": {"keep": KEEP}},
        include("fail", portproof_fail_from="portproof_drift_last"),
    ],
}]


def inventory() -> Dict[str, Any]:
    no_connection = {"ansible_connection": "ssh", "ansible_ssh_executable": "/nonexistent/ssh", "portproof_gathered": True}
    hosts = {}
    for host in HOSTS:
        hosts[host] = dict(no_connection, ansible_host=ADDRESS[host], facts_before=facts_file(host, "before"),
                           facts_after=facts_file(host, "after"), portproof_services=HOST_VARS[host]["portproof_services"])
    hosts["bad1"] = dict(no_connection, ansible_host="127.0.0.1", facts_before=facts_file("db1", "before"),
                         facts_after=facts_file("db1", "after"), portproof_services=BAD_CONTRACT)
    children = dict((group, {"hosts": dict((host, None) for host in members)}) for group, members in GROUPS.items() if group != "all")
    return {"all": {"hosts": hosts, "children": children}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("steps")
    (tmp / "out").mkdir()
    with open(tmp / "inventory.yml", "w") as handle:
        yaml.safe_dump(inventory(), handle, sort_keys=False)
    with open(tmp / "play.yml", "w") as handle:
        yaml.safe_dump(PLAYBOOK, handle, sort_keys=False)
    baseline_dir = tmp / "made" / "baseline"  # neither exists yet
    extra = {"out": str(tmp / "out"), "portproof_baseline_dir": str(baseline_dir)}
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "inventory.yml", "play.yml", "-e", json.dumps(extra)],
                          cwd=str(tmp), env=ansible_env(tmp), capture_output=True, text=True, check=False, timeout=300)
    kept = {}
    for host in HOSTS:
        path = tmp / "out" / ("%s.json" % host)
        assert path.exists(), proc.stdout[-5000:] + proc.stderr[-3000:]
        kept[host] = json.loads(path.read_text())
    return {"proc": proc, "kept": kept, "baseline": baseline_dir}


def recap(stdout: str) -> Dict[str, Tuple[int, int, int]]:
    """{host: (changed, unreachable, failed)} of the play recap."""
    found = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[1] == ":" and parts[2].startswith("ok="):
            counts = dict(item.split("=") for item in parts[2:])
            found[parts[0]] = (int(counts["changed"]), int(counts["unreachable"]), int(counts["failed"]))
    return found


def load(path: str) -> Any:
    with open(path) as handle:
        return json.load(handle)


def contract_of(host: str) -> List[Dict[str, Any]]:
    return load_contract(host, [("portproof_services", HOST_VARS[host]["portproof_services"])], set(GROUPS), set(ADDRESS))


def addresses() -> Dict[str, Dict[str, str]]:
    return dict((host, {"ansible_host": ADDRESS[host]}) for host in HOSTS)


def test_a_bad_contract_fails_its_host_with_every_problem_the_drifted_hosts_fail_on_drift_and_nothing_changes(run):
    proc = run["proc"]
    assert proc.returncode == 2, proc.stdout[-5000:]
    drifted = {}
    for host in HOSTS:
        for item in run["kept"][host]["portproof_drift_last"]:
            if item["status"] in ("fail", "error"):
                drifted.setdefault(item["host"], []).append(item["message"])
    assert sorted(drifted) == ["db1", "web1"]  # the faults planted after the baseline: app1 did not drift
    assert recap(proc.stdout) == {"web1": (0, 0, 1), "app1": (0, 0, 0), "db1": (0, 0, 1), "bad1": (0, 0, 1)}, proc.stdout[-3000:]
    fatal = [line for line in proc.stdout.splitlines() if line.startswith("fatal: ")]
    assert sorted(fatal) == sorted(["fatal: [bad1]: FAILED! => %s" % json.dumps({"changed": False, "msg": BAD_MESSAGE})]
                                   + ["fatal: [%s]: FAILED! => %s" % (host, json.dumps({"changed": False, "msg": messages}))
                                      for host, messages in drifted.items()])
    assert SECRET not in proc.stdout + proc.stderr
    with pytest.raises(Exception) as caught:
        host_contract({"portproof_services": BAD_CONTRACT}, "bad1", dict(GROUPS, all=HOSTS + ["bad1"]))
    assert str(caught.value) == BAD_MESSAGE


@pytest.mark.parametrize("host", HOSTS)
def test_the_roles_record_what_plugin_utils_gives(run, host):
    kept = run["kept"][host]
    contract = contract_of(host)
    assert kept["portproof_contract"] == contract
    static = static_checks(contract, load(facts_file(host, "before")), host, groups=GROUPS, hostvars=addresses(), kinds=KINDS,
                           strict=True, ignore=["22/tcp"], address=ADDRESS[host])
    assert kept["portproof_last_results"] == static
    path = str(run["baseline"] / ("%s.json" % host))
    with open(path) as handle:
        saved_text = handle.read()
    saved = json.loads(saved_text)
    state = baseline_state(contract, load(facts_file(host, "before")), host, groups=GROUPS, hostvars=addresses(), address=ADDRESS[host],
                           saved=saved["saved"])
    assert saved_text == json.dumps(state, indent=4, sort_keys=True, separators=(",", ": "))
    drift = drift_results(saved_text, contract, load(facts_file(host, "after")), host, groups=GROUPS, hostvars=addresses(),
                          address=ADDRESS[host], path=path, ignore=["22/tcp"])
    assert kept["portproof_drift_last"] == drift
    assert kept["portproof_results"] == static + drift


def test_the_baseline_directory_is_made_and_the_files_written_with_their_modes(run):
    baseline = run["baseline"]
    assert stat.S_IMODE(os.stat(str(baseline)).st_mode) == 0o755
    assert sorted(os.listdir(str(baseline))) == ["app1.json", "db1.json", "web1.json"]
    assert [stat.S_IMODE(os.stat(str(baseline / name)).st_mode) for name in sorted(os.listdir(str(baseline)))] == [0o644] * 3
