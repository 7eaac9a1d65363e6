# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The persist check of services on a host that boots systemd: who starts each declared service after a reboot.

sd1 is a lab host running systemd as PID 1 (tests/lab/lab_systemd.py), with four services:
api (api.service, enabled, WantedBy multi-user.target, Restart=on-failure) passes; batch
(batch.service, started but disabled) fails; hand (started over SSH, so in the login's session
scope) fails naming its pid and control group; echo (echo.socket, enabled, socket activation:
systemd itself holds the listening socket) passes naming the socket unit.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest
import yaml

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error
from portproof_lab import Lab  # pylint: disable=import-error

pytestmark = pytest.mark.lab

SERVICE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab", "lab_service.py")
UNITS = {
    "api.service": "[Unit]\nDescription=api\n[Service]\nExecStart={lab_service} --name api --listen tcp:0.0.0.0:8080\n"
                   "Restart=on-failure\n[Install]\nWantedBy=multi-user.target\n",
    "batch.service": "[Service]\nExecStart={lab_service} --name batch --listen tcp:0.0.0.0:8081\n"
                     "[Install]\nWantedBy=multi-user.target\n",
    "echo.socket": "[Socket]\nListenStream=7777\nAccept=yes\n[Install]\nWantedBy=sockets.target\n",
    "echo@.service": "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n",
}
SPEC = {"hosts": [{"name": "sd1", "systemd": {"units": UNITS, "enable": ["api.service", "echo.socket"], "start": ["batch.service"]},
                   "vars": {"portproof_services": [
                       {"name": "api", "port": 8080}, {"name": "batch", "port": 8081},
                       {"name": "hand", "port": 8082}, {"name": "echo", "port": 7777}]}}]}


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """The lab, the pid and control group of the process started by hand, and the persist results."""
    tmp = tmp_path_factory.mktemp("persist")
    lab = Lab(SPEC, str(tmp / "lab"), keep_workdir=True)
    lab.up()
    try:
        started = time.monotonic()
        pid = lab.ssh("sd1", "nohup /usr/bin/python3 %s --name hand --listen tcp:0.0.0.0:8082 --ready-file /tmp/hand.ready"
                             " </dev/null >/dev/null 2>&1 & echo $!; for i in $(seq 100); do [ -s /tmp/hand.ready ] && break;"
                             " sleep 0.05; done" % SERVICE).stdout.strip()
        cgroup = lab.ssh("sd1", "cat /proc/%s/cgroup" % pid).stdout
        (tmp / "site.yml").write_text(yaml.safe_dump([{
            "name": "Persist", "hosts": "all", "gather_facts": False,
            "roles": [{"role": "portproof.validate.validate", "vars": {"portproof_checks": ["persist"]}}]}]))
        proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "site.yml"],
                              cwd=str(tmp), env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=300)
        results = json.loads((tmp / "portproof-report" / "results.json").read_text())["results"]
        yield {"lab": lab, "pid": int(pid), "cgroup": cgroup, "proc": proc, "results": results,
               "seconds": time.monotonic() - started}
    finally:
        lab.down()


def _by_service(checked):
    return {r["service"]: r for r in checked["results"] if r["check"] == "persist"}


def test_the_systemd_host_boots_with_its_units_only(checked):
    lab = checked["lab"]
    listing = lab.ssh("sd1", "systemctl is-enabled api.service batch.service echo.socket nginx.service; true").stdout.split()
    assert listing == ["enabled", "disabled", "enabled", "masked"]
    assert lab.ssh("sd1", "cat /proc/1/comm").stdout.strip() == "systemd"


def test_persist_results_name_the_starter_or_why_nothing_starts_it(checked):
    proc, by = checked["proc"], _by_service(checked)
    assert proc.returncode == 2, (proc.stdout + proc.stderr)[-4000:]
    session = re.search(r"^\d+:name=systemd:(\S+)$", checked["cgroup"], re.M).group(1)
    assert session.endswith(".scope") and "/user.slice/user-0.slice/session-" in session, checked["cgroup"]
    assert {s: (r["status"], r["message"]) for s, r in by.items()} == {
        "api": ("pass", "api is started by api.service (enabled, WantedBy multi-user.target, Restart=on-failure)"),
        "batch": ("fail", "after a reboot nothing starts batch: batch.service (disabled, Restart=no) is not pulled in by the"
                          " default target multi-user.target"),
        "hand": ("fail", "after a reboot nothing starts hand: hand (pid %d), started from a shell: cgroup %s"
                         % (checked["pid"], session)),
        "echo": ("pass", "echo is started by socket activation: echo.socket (enabled, WantedBy sockets.target)"),
    }
    print("persist lab test: %.1f s for the run (lab up excluded)" % checked["seconds"])
