# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role validate gathers only the port_facts subsets its chosen checks read, on a host that boots systemd.

sd1 (tests/lab/lab_systemd.py) runs api.service, enabled. The role validate runs twice: with the check listen alone,
the host's facts (as the report keeps them, facts/sd1.json) hold neither who starts each listener (starters: four
systemctl runs on such a host) nor the firewall loaded at boot (saved_firewall); with persist as well they hold both,
and persist decides. Each run's wall time is printed (pytest -s) for the comparison in docs/benchmarks.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import yaml

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error
from portproof_lab import Lab  # pylint: disable=import-error

pytestmark = pytest.mark.lab

UNITS = {"api.service": "[Unit]\nDescription=api\n[Service]\nExecStart={lab_service} --name api --listen tcp:0.0.0.0:8080\n"
                        "[Install]\nWantedBy=multi-user.target\n"}
SPEC = {"hosts": [{"name": "sd1", "systemd": {"units": UNITS, "enable": ["api.service"]},
                   "vars": {"portproof_services": [{"name": "api", "port": 8080}]}}]}
ALWAYS = ["addresses", "firewall", "gathered_at", "listeners", "mappings", "ssh_client", "unavailable"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(SPEC, str(tmp_path_factory.mktemp("gather") / "lab"))
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


def validate(lab, cwd, checks):
    """The role validate with CHECKS on sd1 in the new directory CWD: the process, sd1's facts and results, the seconds."""
    os.makedirs(str(cwd))
    with open(os.path.join(str(cwd), "site.yml"), "w") as handle:
        yaml.safe_dump([{"name": "Validate", "hosts": "all", "gather_facts": False,
                         "roles": [{"role": "portproof.validate.validate", "vars": {"portproof_checks": checks}}]}], handle)
    started = time.monotonic()
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "site.yml"],
                          cwd=str(cwd), env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=300)
    seconds = time.monotonic() - started
    report = os.path.join(str(cwd), "portproof-report")
    facts, results = {}, []
    if os.path.exists(os.path.join(report, "results.json")):
        with open(os.path.join(report, "facts", "sd1.json")) as handle:
            facts = json.load(handle)["facts"] or {}
        with open(os.path.join(report, "results.json")) as handle:
            results = json.load(handle)["results"]
    print("validate %s on sd1: %.2f s" % (", ".join(checks), seconds))
    return proc, facts, results, "facts gathered: %s\nrc=%d\n%s\n%s" % (sorted(facts), proc.returncode, proc.stdout[-4000:],
                                                                        proc.stderr[-2000:])


def test_without_persist_neither_starters_nor_the_saved_firewall_are_gathered(lab, tmp_path):
    proc, facts, results, why = validate(lab, tmp_path / "static", ["listen"])
    assert (proc.returncode, sorted(facts)) == (0, ALWAYS), why
    assert sorted((r["check"], r["status"]) for r in results) == [("listen", "pass")], why


def test_with_persist_both_are_gathered_and_persist_decides(lab, tmp_path):
    proc, facts, results, why = validate(lab, tmp_path / "persist", ["listen", "persist"])
    assert (proc.returncode, sorted(facts)) == (0, sorted(ALWAYS + ["saved_firewall", "starters"])), why
    assert facts["starters"]["init"] == "systemd", why
    assert [(r["service"], r["status"]) for r in results if r["check"] == "persist"] == [("api", "pass")], why
