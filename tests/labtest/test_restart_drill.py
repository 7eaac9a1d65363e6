# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The restart drill on a host that boots systemd: opt-in, then measured per service.

sd1 (tests/lab/lab_systemd.py) runs three enabled units: quick (back at once, restart.max_s 30)
passes; slow (ExecStartPre=sleep 3, restart.max_s 1) fails with its measured downtime; moving
(its port comes from Environment=PORT, changed by a drop-in that was not applied yet, as an edited
configuration waits for the next restart) fails naming the old and the new port. quick and edge
allow app1 (a plain lab host), which polls each after its restart: quick is reachable (reachable_s);
sd1's firewall drops app1's connections to edge, which listens again at once but fails naming app1 and
what app1 saw. app1 runs the container web (published 8080:80), which the drill restarts through
Podman and sd1 polls. Without portproof_restart_drill=true the playbook refuses and restarts nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error
from portproof_lab import Lab  # pylint: disable=import-error

pytestmark = pytest.mark.lab

UNIT = "[Service]\n%s\nExecStart=%s\n[Install]\nWantedBy=multi-user.target\n"
# web's PID 1 is a shell that ends on SIGTERM (busybox httpd as PID 1 ignores it: Podman would wait its 10 s stop timeout)
APP1 = {"name": "app1", "containers": [{"name": "web", "publish": ["8080:80/tcp"],
                                        "command": ["/bin/sh", "-c", "trap 'exit 0' TERM; /bin/httpd -f -p 80 -h /www & wait"]}],
        "vars": {"portproof_services": [
            {"name": "web", "port": 8080, "publish": {"container": "web", "container_port": 80}, "allow_from": ["sd1"]}]}}
SD1 = {"name": "sd1", "systemd": {
    "units": {
        "edge.service": UNIT % ("", "{lab_service} --name edge --listen tcp:0.0.0.0:8094"),
        "quick.service": UNIT % ("", "{lab_service} --name quick --listen tcp:0.0.0.0:8091"),
        "slow.service": UNIT % ("ExecStartPre=/bin/sleep 3", "{lab_service} --name slow --listen tcp:0.0.0.0:8090"),
        "moving.service": UNIT % ("Environment=PORT=8092", "/bin/sh -c 'exec {lab_service} --name moving --listen tcp:0.0.0.0:$PORT'"),
    },
    "enable": ["quick.service", "slow.service", "moving.service", "edge.service"]},
    # what a firewall that drops an allowed source does: edge listens again, but app1 never gets in
    "iptables": "*filter\n-A INPUT -s {address:app1} -p tcp --dport 8094 -j DROP\nCOMMIT\n",
    "vars": {"portproof_services": [
        {"name": "quick", "port": 8091, "allow_from": ["app1"], "restart": {"max_s": 30}},
        {"name": "edge", "port": 8094, "allow_from": ["app1"], "restart": {"max_s": 2}},
        {"name": "slow", "port": 8090, "restart": {"max_s": 1}},
        {"name": "moving", "port": 8092}]}}
SPEC = {"hosts": [APP1, SD1]}


def _playbook(lab, tmp, *extra):
    return subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "portproof.validate.restart_drill"]
                          + list(extra),
                          cwd=str(tmp), env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=300)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    built = Lab(SPEC, str(tmp_path_factory.mktemp("drill") / "lab"), keep_workdir=True)
    built.up()
    try:
        yield built
    finally:
        built.down()


def _main_pids(lab):
    return lab.ssh("sd1", "systemctl show -p MainPID --value quick.service slow.service moving.service edge.service").stdout.split()


def test_the_drill_refuses_unless_asked_and_restarts_nothing(lab, tmp_path):
    pids = _main_pids(lab)
    proc = _playbook(lab, tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert "portproof: the restart drill restarts services (it changes the hosts) and runs only when asked: set " \
           "portproof_restart_drill=true (for example -e portproof_restart_drill=true) to run it" in output, output[-3000:]
    assert _main_pids(lab) == pids


def test_the_drill_measures_each_service(lab, tmp_path):
    # the port moves at the next restart: a drop-in not yet applied, as an edited configuration waits
    lab.ssh("sd1", "mkdir -p /etc/systemd/system/moving.service.d && printf '[Service]\\nEnvironment=PORT=8093\\n'"
                   " > /etc/systemd/system/moving.service.d/port.conf && systemctl daemon-reload")
    started = time.monotonic()
    proc = _playbook(lab, tmp_path, "-e", "portproof_restart_drill=true")
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-4000:]
    results = {r["service"]: r for r in json.loads((tmp_path / "portproof-report" / "results.json").read_text())["results"]
               if r["check"] == "restart"}
    assert sorted(results) == ["edge", "moving", "quick", "slow", "web"], results
    quick, slow, moving, edge, web = results["quick"], results["slow"], results["moving"], results["edge"], results["web"]
    # web: a container restarted through Podman, listening again inside it and published again, then sd1 connected
    assert (web["host"], web["status"], web["source"]) == ("app1", "pass", "sd1"), web
    assert 0 < web["downtime_s"] <= web["reachable_s"] < 10, web
    assert web["message"] == ("web came back on 8080/tcp %.1f s after restart of container web and was reachable from sd1"
                              " %.1f s after it (restart.max_s 30), the same as before: [::]:80 (process httpd user root)"
                              % (web["downtime_s"], web["reachable_s"])), web
    # quick: listening again on sd1, then app1 connected: reachable_s counts from the restart on sd1 to app1's connect
    assert quick["status"] == "pass" and 0 < quick["downtime_s"] < 5, quick
    assert quick["source"] == "app1" and quick["downtime_s"] <= quick["reachable_s"] <= 30, quick
    assert quick["message"] == ("quick came back on 8091/tcp %.1f s after restart of quick.service and was reachable from app1"
                                " %.1f s after it (restart.max_s 30), the same as before: 0.0.0.0:8091 (process quick user root)"
                                % (quick["downtime_s"], quick["reachable_s"]))
    # edge: listening again at once, but sd1's firewall drops app1: app1 polls what is left of restart.max_s 2
    address = lab.address("sd1")
    assert (edge["status"], edge["source"], edge["reachable_s"]) == ("fail", "app1", None), edge
    assert 0 < edge["downtime_s"] < 2, edge
    assert edge["message"] == ("edge came back on 8094/tcp %.1f s after restart of edge.service, but not reachable from app1"
                               " within restart.max_s 2 (timeout connecting to %s:8094)" % (edge["downtime_s"], address)), edge
    assert slow["status"] == "fail" and 3.0 <= slow["downtime_s"] < 10, slow
    assert slow["message"] == "slow was down %.1f s after restart of slow.service, over restart.max_s 1" % slow["downtime_s"]
    assert (moving["status"], moving["message"], moving["downtime_s"]) == (
        "fail", "moving came back on another port after restart of moving.service: 0.0.0.0:8093 (process moving user root)"
                " instead of port 8092", None)
    assert (slow["source"], slow["reachable_s"], moving["source"], moving["reachable_s"]) == (None, None, None, None)
    print("restart drill run: %.1f s; downtimes quick %.3f s, slow %.3f s, edge %.3f s, web %.3f s; reachable quick %.3f s, web %.3f s"
          % (seconds, quick["downtime_s"], slow["downtime_s"], edge["downtime_s"], web["downtime_s"], quick["reachable_s"],
             web["reachable_s"]))
