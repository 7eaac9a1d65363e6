# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Live checks when a source of the play itself is unreachable (the molecule scenario "live" covers the rest).

A host that Ansible cannot reach leaves the play (it is still in ansible_play_hosts_all, no longer in
ansible_play_hosts) and ansible-playbook ends with 4, which a molecule step cannot accept; so this
runs ansible-playbook itself. The source's planned checks must be ``error`` results, recorded on the
play's first host, and the other sources' checks must still be decided.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error

pytestmark = pytest.mark.lab

SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "app2", "groups": ["app"]},
    {"name": "db1", "groups": ["db"], "services": [{"name": "postgres", "listen": ["tcp:0.0.0.0:5432"]},
                                                   {"name": "syslogd", "listen": ["udp:0.0.0.0:514"], "behavior": "silent"}],
     "vars": {"portproof_services": [{"name": "postgres", "port": 5432, "allow_from": ["app"]},
                                     {"name": "syslog", "port": 514, "proto": "udp", "deny_from": ["app"]}]}},
]}

PLAYBOOK = """
- name: Live checks with a source that is down
  hosts: all
  gather_facts: false
  vars:
    portproof_defer_failures: true
    portproof_probe_timeout: 2
  roles:
    - role: portproof.validate.validate
      vars:
        portproof_checks: [reach, isolation]
        portproof_report: false
  tasks:
    - name: Save every host's results
      ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'portproof_results'))) | to_json }}"
        mode: "0600"
      delegate_to: localhost
      run_once: true
"""


def test_a_source_that_left_the_play_gives_errors_and_the_run_carries_on(make_lab, tmp_path):
    lab = make_lab(SPEC)
    os.kill(lab.host("app2")["sshd_pid"], signal.SIGTERM)
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    out = tmp_path / "results.json"
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, str(playbook), "-e", "out=%s" % out],
                          env=ansible_env(lab), capture_output=True, text=True, check=False)
    assert proc.returncode == 4, proc.stdout + proc.stderr  # app2 unreachable, nothing failed
    recorded = json.loads(out.read_text())
    assert sorted(recorded) == ["app1", "db1"]
    rows = sorted((holder, r["host"], r["service"], r["check"], r["status"], r["source"]) for holder, results in recorded.items()
                  for r in results)
    assert rows == [
        ("app1", "db1", "postgres", "reach", "error", "app2"),
        ("app1", "db1", "postgres", "reach", "pass", "app1"),
        ("app1", "db1", "syslog", "isolation", "error", "app2"),
        ("app1", "db1", "syslog", "isolation", "fail", "app1"),
    ]
    errors = [r["message"] for r in recorded["app1"] if r["source"] == "app2"]
    assert errors == [
        "postgres: app2 could not probe %s:5432/tcp: the source left the play before the plan was made (unreachable or failed)"
        % lab.address("db1"),
        "syslog: app2 could not probe %s:514/udp: the source left the play before the plan was made (unreachable or failed)"
        % lab.address("db1"),
    ]
