# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The private action discover_write in ansible-playbook, over port facts captured on real lab hosts
(plugin_utils/fixtures/static), set as port_facts sets them; no host is connected to.

It writes the discovered files and a marker listing them; it refuses a directory holding anything it did not
write; with a contract in the inventory it writes only what that contract lacks; an invalid contract stops it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from ansible_collections.portproof.validate.tests.unit.plugins.action.test_report_write import ansible_env

BIN = os.path.dirname(sys.executable)
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "plugin_utils", "fixtures", "static")
with open(os.path.join(FIXTURES, "lab.json")) as _handle:
    LAB = json.load(_handle)
HOSTS = ["db1", "bad1", "ctr1"]
PLAYBOOK = [{
    "name": "discover_write over captured facts",
    "hosts": "all",
    "gather_facts": False,
    "tasks": [
        {"name": "The port facts of each host, as port_facts sets them",
         "ansible.builtin.set_fact": {"portproof": "{{ lookup('ansible.builtin.file', facts) | from_json }}", "cacheable": True}},
        {"name": "Write", "portproof.validate.discover_write": None, "run_once": True},
    ],
}]


def _play(tmp_path, directory, services=None):
    no_connection = {"ansible_connection": "ssh", "ansible_ssh_executable": "/nonexistent/ssh"}
    hosts = {}
    for host in HOSTS:
        hosts[host] = dict(no_connection, ansible_host=LAB["addresses"][host], facts=os.path.join(FIXTURES, "facts-%s.json" % host))
    hosts.update((host, dict(no_connection, ansible_host=address)) for host, address in LAB["addresses"].items() if host not in hosts)
    if services is not None:
        hosts["db1"]["portproof_services"] = services
    children = dict((group, {"hosts": dict((host, None) for host in members)}) for group, members in LAB["groups"].items())
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts, "children": children}}))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(PLAYBOOK, sort_keys=False))
    return subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "inventory.yml", "play.yml", "--limit", ",".join(HOSTS),
                           "-e", json.dumps({"portproof_discover_dir": str(directory)})],
                          cwd=str(tmp_path), env=ansible_env(tmp_path), capture_output=True, text=True, check=False, timeout=300)


def test_discover_write_writes_refuses_and_rewrites(tmp_path):
    out = tmp_path / "discovered"
    proc = _play(tmp_path, out)
    assert proc.returncode == 0, proc.stdout[-3000:]
    written = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
    assert written == [".portproof-discovered", "README.md", "host_vars/bad1.yml", "host_vars/ctr1.yml", "host_vars/db1.yml", "hosts.yml"]
    assert (out / ".portproof-discovered").read_text().splitlines()[1:] == [
        "host_vars/bad1.yml", "host_vars/ctr1.yml", "host_vars/db1.yml", "hosts.yml", "README.md"]
    db1 = yaml.safe_load((out / "host_vars" / "db1.yml").read_text())
    assert [s["name"] for s in db1["portproof_services__discovered"]] == ["postgres", "api"]

    # again into its own output: fine, and a file it wrote before and no longer writes is removed
    (out / "host_vars" / "gone1.yml").write_text("x: 1\n")
    with open(out / ".portproof-discovered", "a") as handle:
        handle.write("host_vars/gone1.yml\n")
    proc = _play(tmp_path, out)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert not (out / "host_vars" / "gone1.yml").exists()

    # a file in the way that discover did not write (not in the marker): refused, nothing written
    marker = (out / ".portproof-discovered").read_text()
    (out / ".portproof-discovered").write_text(marker.replace("hosts.yml\n", ""))
    proc = _play(tmp_path, out)
    assert proc.returncode == 2
    assert "discover: %s holds hosts.yml, which an earlier discover did not write: discover never writes over files it did " \
           "not write" % out in proc.stdout

    # a directory of someone else's: refused
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    proc = _play(tmp_path, mine)
    assert proc.returncode == 2
    assert ("discover: %s is not empty and is not the output of an earlier discover (it has no .portproof-discovered)" % mine) \
        in proc.stdout
    assert sorted(os.listdir(str(mine))) == ["notes.txt"]


def test_with_a_contract_only_what_it_lacks_is_written(tmp_path):
    out = tmp_path / "discovered"
    proc = _play(tmp_path, out, services=[{"name": "pg", "port": 5432, "allow_from": ["app"]}])
    assert proc.returncode == 0, proc.stdout[-3000:]
    db1 = yaml.safe_load((out / "host_vars" / "db1.yml").read_text())
    assert [s["name"] for s in db1["portproof_services__discovered"]] == ["api"]
    assert "db1: service pg (portproof_services[0]): deny_from lacks web: drop by rule ip filter INPUT #1" \
        in (out / "README.md").read_text()

    proc = _play(tmp_path, tmp_path / "other", services=[{"name": "pg", "port": 70000}])
    assert proc.returncode == 2
    assert "discover: the existing contract is invalid, fix it first:" in proc.stdout
    assert "portproof_services[0] (pg): port 70000 is out of range 1-65535" in proc.stdout
    assert not (tmp_path / "other").exists()
