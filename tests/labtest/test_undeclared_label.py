# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Strict mode names what answers on an undeclared listener: a strict host with a real redis-server
(Debian package, tests/lab/lab_daemons.py) on 9999 that no service declares, and a listener on 9998
that accepts and never answers (lab_service behavior hang). ``post_deploy`` fails on both undeclared
results; the first says ``9999/tcp answers as redis`` (protected mode answers the host's own
address with ``-DENIED``), the second ``answers nothing within 2 s``, and the run is bounded."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest
import yaml

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error

pytestmark = pytest.mark.lab

REDIS = 'bind {address}\nport 9999\ndaemonize no\ndir {dir}\nsave ""\nlogfile ""\n'
SPEC = {"hosts": [
    {"name": "db1", "groups": ["db"], "ipv6": False,
     "services": [{"name": "stuck", "behavior": "hang", "listen": ["tcp:{address:db1}:9998"]}],
     "daemons": [{"kind": "redis", "config": REDIS, "listen": ["tcp:{address}:9999"]}]},
]}


def test_undeclared_listeners_say_what_answers_on_them(make_lab, tmp_path):
    lab = make_lab(SPEC)
    address = lab.address("db1")
    os.makedirs(os.path.join(lab.workdir, "host_vars"), exist_ok=True)
    with open(os.path.join(lab.workdir, "host_vars", "db1.yml"), "w") as handle:
        yaml.safe_dump({"portproof_strict": True, "portproof_ignore": ["22/tcp"], "portproof_probe_timeout": 2,
                        "portproof_services": []}, handle)
    started = time.monotonic()
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "portproof.validate.post_deploy", "-i", lab.inventory],
                          cwd=str(tmp_path), env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=600)
    elapsed = time.monotonic() - started
    path = tmp_path / "portproof-report" / "results.json"
    items = json.loads(path.read_text())["results"] if path.exists() else []
    explain = "rc=%d\n%s\n--- stdout tail\n%s\n--- stderr tail\n%s" % (
        proc.returncode, json.dumps(items, indent=1)[-4000:], proc.stdout[-3000:], proc.stderr[-2000:])
    undeclared = [(i["status"], re.sub(r"pid \d+", "pid N", i["message"]), re.sub(r"pid \d+", "pid N", i["actual"] or ""))
                  for i in items if i["check"] == "undeclared"]
    assert (proc.returncode, undeclared) == (2, [
        ("fail", "db1: %s:9998 (process stuck pid N user root) listens on 9998/tcp and no service declares it; 9998/tcp answers "
                 "nothing within 2 s (declare it, or list it in portproof_ignore)" % address,
         "9998/tcp: %s:9998 (process stuck pid N user root); answers nothing within 2 s" % address),
        ("fail", "db1: %s:9999 (process redis-server pid N user redis) listens on 9999/tcp and no service declares it; 9999/tcp "
                 "answers as redis (declare it, or list it in portproof_ignore)" % address,
         "9999/tcp: %s:9999 (process redis-server pid N user redis); answers as redis" % address),
    ]), explain
    summary = (tmp_path / "portproof-report" / "summary.md").read_text()
    assert "9999/tcp answers as redis" in summary and "9998/tcp answers nothing within 2 s" in summary, summary
    # both identifications ran side by side in one port_probe run, bounded by the 2 s timeout
    assert elapsed < 60, elapsed
