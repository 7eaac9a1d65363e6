# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The playbook portproof.validate.post_deploy run against a lab as a user runs it, and its results, for the lab tests
that check what one run reports (test_protocol_check, test_dns_names, test_tls_chain)."""

from __future__ import annotations

import json
import os
import subprocess

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error


def post_deploy(lab, cwd, extra_vars=None):
    """Runs post_deploy on the lab's inventory in the new directory CWD (the report goes to its portproof-report);
    returns the process and the results of results.json ([] when no report was written)."""
    os.makedirs(str(cwd))
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), "portproof.validate.post_deploy", "-i", lab.inventory]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    proc = subprocess.run(argv, cwd=str(cwd), env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=600)
    path = os.path.join(str(cwd), "portproof-report", "results.json")
    items = []
    if os.path.exists(path):
        with open(path) as handle:
            items = json.load(handle)["results"]
    return proc, items


def explain(proc, items):
    """What a failed assertion shows: the exit status, the results (their tail) and the tails of the run's output."""
    return "rc=%d\n%s\n--- stdout tail\n%s\n--- stderr tail\n%s" % (
        proc.returncode, json.dumps(items, indent=1)[-6000:], proc.stdout[-3000:], proc.stderr[-2000:])
