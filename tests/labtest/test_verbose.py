# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""post_deploy with -v stays readable: no step of the contract, static checks, drift or failing prints more than
about 1 KB a host (2 KB together), and no task of the whole run more than 1 KB a host, on real lab hosts.

Three lab hosts; db1 runs redis, declared with its sources; each host's baseline is saved first so that drift
runs too. The output of `ansible-playbook -v` is cut into task blocks and each block into what it printed for
each host. The tasks checked are those of the role validate's task files gather, record, drift and fail and of
the role baseline (their names read from the files); the live checks' tasks are not (roles/validate/tasks/live.yml).
Before the steps moved into action plugins, set_fact printed every result and the contract of each host at -v
(about 3.5 KB a host for the static checks on db1 alone).
"""

from __future__ import annotations

import os
import re
import subprocess

from typing import List, Tuple

import pytest
import yaml

from lab_ansible import REPO, VENV_BIN, ansible_env  # pylint: disable=import-error

pytestmark = pytest.mark.lab

SPEC = {"hosts": [
    {"name": "app1", "groups": ["app"]},
    {"name": "web1", "groups": ["web"]},
    {"name": "db1", "groups": ["db"], "services": [{"name": "redis", "listen": ["tcp:0.0.0.0:6379"]}],
     "vars": {"portproof_services": [{"name": "redis", "port": 6379, "allow_from": ["app"]}]}},
]}
# What one task may print for one host at -v (its "ok: [host] => {...}" and the lines that follow it).
PER_HOST = 1024
# What all of those tasks together may print for all hosts (6.2 KB before, 2.0 KB of it the static checks and drift
# of db1).
TOTAL = 2 * 1024
OWN_FILES = [os.path.join("roles", "validate", "tasks", name) for name in ("gather.yml", "record.yml", "drift.yml", "fail.yml")] \
    + [os.path.join("roles", "baseline", "tasks", "main.yml")]
ENTRY = re.compile(r"^(ok|changed|skipping|fatal|failed|included|FAILED - RETRYING): \[([^\]]+)\]")


def own_task(names: List[str], task: str) -> bool:
    """Whether TASK (a name as printed) is one of NAMES (a name with a template: its text up to the template)."""
    return any(task == name or ("{{" in name and task.startswith(name.split("{{", 1)[0])) for name in names)


def own_task_names() -> List[str]:
    """The names of the tasks of OWN_FILES."""
    names = []
    for path in OWN_FILES:
        with open(os.path.join(REPO, path)) as handle:
            names.extend(task["name"] for task in yaml.safe_load(handle) or [] if task.get("name"))
    return names


def printed_per_host(stdout: str) -> List[Tuple[str, str, int]]:
    """[(task name, host, characters printed for that host)] of every task block of STDOUT."""
    found = []
    for block in stdout.split("\nTASK [")[1:]:
        header, _sep, body = block.partition("\n")
        task = header.split("]", 1)[0]
        task = task.split(" : ", 1)[1] if " : " in task else task
        host, size = None, 0
        for line in body.split("\n"):
            match = ENTRY.match(line)
            if match:
                if host is not None:
                    found.append((task, host, size))
                host, size = match.group(2), 0
            if line.startswith(("PLAY [", "PLAY RECAP")):
                break
            if host is not None:
                size += len(line) + 1
        if host is not None:
            found.append((task, host, size))
    return found


def playbook(lab, tmp, name: str, *argv: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "portproof.validate." + name] + list(argv),
                          cwd=str(tmp), env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=900)
    (tmp / ("%s.txt" % name)).write_text(proc.stdout + proc.stderr)
    return proc


def test_post_deploy_at_v_prints_little_for_the_contract_static_drift_and_fail_steps(make_lab, tmp_path):
    lab = make_lab(SPEC)
    baseline_dir = "portproof_baseline_dir=%s" % (tmp_path / "baseline")
    saved = playbook(lab, tmp_path, "baseline", "-e", baseline_dir)
    assert saved.returncode == 0, (saved.stdout + saved.stderr)[-3000:]
    assert sorted(os.listdir(str(tmp_path / "baseline"))) == ["app1.json", "db1.json", "web1.json"]
    proc = playbook(lab, tmp_path, "post_deploy", "-v", "-e", baseline_dir, "-e", "portproof_report_dir=%s" % (tmp_path / "report"))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    names = own_task_names()
    printed = [(task, host, size) for task, host, size in printed_per_host(proc.stdout)
               if own_task(names, task)]
    shown = set(task for task, _host, _size in printed)
    # every step of the contract, the static checks and drift ran and was measured
    for step in ("Validate the contract and start the results of the host", "Evaluate the static checks: ",
                 "Compare each host with its baseline", "Gather the port facts"):
        assert any(task.startswith(step) for task in shown), (step, sorted(shown))
    too_long = sorted((size, task, host) for task, host, size in printed if size > PER_HOST)
    total = sum(size for _task, _host, size in printed)
    assert (too_long, total <= TOTAL) == ([], True), (too_long, total)
    # and the whole run at -v: no task of any step (the live checks' and the report's too) prints more than the bound
    # for a host (before the live step moved into action plugins, its plan printed 2 KB for the planning host)
    everything = printed_per_host(proc.stdout)
    assert sorted((size, task, host) for task, host, size in everything if size > PER_HOST) == []
    assert len(everything) > 20, everything
