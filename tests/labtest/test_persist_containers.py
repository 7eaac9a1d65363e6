# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The persist check of services published from containers: does something start the container after a reboot?

Real Podman containers on two plain lab hosts (the lab's own Podman engine of each host). Their PID 1
is not systemd (the hosts are network namespaces of this machine), so the check reads what the next
boot starts from the unit files, with systemd's own offline reading (``systemctl --root=/``), in each
host's own view of /etc (the ``sshd.etc`` overlay; whatever a session changes there stays in the host's
directory). Planted as an operator would: on c1 ``systemctl enable podman-restart.service``, on c2
``systemctl disable podman-restart.service``.

c1: shop-plain (no restart policy) fails; shop-kept (``--restart always``, podman-restart.service
enabled) passes; shop-once (``--rm``) fails; shop-dyn (``--restart always``, published on a random host
port, ``port: auto``) passes and says that its host port is dynamic. c2: shop-kept (``--restart always``,
podman-restart.service disabled) fails.
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


def _service(name, container, port=8080):
    return {"name": name, "port": port, "publish": {"container": container, "container_port": 80}}


SPEC = {"hosts": [
    {"name": "c1", "sshd": {"etc": {"hostname": "c1\n"}},
     "containers": [{"name": "shop-plain", "publish": ["8080:80/tcp"]},
                    {"name": "shop-kept", "publish": ["8081:80/tcp"], "restart": "always"},
                    {"name": "shop-once", "publish": ["8082:80/tcp"], "rm": True},
                    {"name": "shop-dyn", "publish": ["80/tcp"], "restart": "always"}],
     "vars": {"portproof_services": [_service("plain", "shop-plain"), _service("kept", "shop-kept", 8081),
                                     _service("once", "shop-once", 8082), _service("dyn", "shop-dyn", "auto")]}},
    {"name": "c2", "sshd": {"etc": {"hostname": "c2\n"}},
     "containers": [{"name": "shop-kept", "publish": ["8081:80/tcp"], "restart": "always"}],
     "vars": {"portproof_services": [_service("kept", "shop-kept", 8081)]}},
]}
OFFLINE = "read from the unit files, systemd is not PID 1 now"


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """The lab, shop-dyn's host port and the persist results of both hosts."""
    tmp = tmp_path_factory.mktemp("persist-containers")
    lab = Lab(SPEC, str(tmp / "lab"), keep_workdir=True)
    lab.up()
    try:
        started = time.monotonic()
        planted = {host: lab.ssh(host, "systemctl --root=/ %s podman-restart.service >/dev/null 2>&1;"
                                       " systemctl --root=/ is-enabled podman-restart.service" % verb, check=False).stdout.strip()
                   for host, verb in (("c1", "enable"), ("c2", "disable"))}
        dyn_port = int(lab.podman("c1", ["port", "shop-dyn", "80/tcp"]).stdout.strip().rsplit(":", 1)[1])
        (tmp / "site.yml").write_text(yaml.safe_dump([{
            "name": "Persist", "hosts": "all", "gather_facts": False,
            "roles": [{"role": "portproof.validate.validate", "vars": {"portproof_checks": ["persist"]}}]}]))
        proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory, "site.yml"],
                              cwd=str(tmp), env=ansible_env(lab), capture_output=True, text=True, check=False, timeout=300)
        results = json.loads((tmp / "portproof-report" / "results.json").read_text())["results"]
        yield {"lab": lab, "planted": planted, "dyn_port": dyn_port, "proc": proc, "results": results,
               "seconds": time.monotonic() - started}
    finally:
        lab.down()


def test_the_hosts_boot_files_say_what_was_planted(checked):
    assert checked["planted"] == {"c1": "enabled", "c2": "disabled"}
    lab = checked["lab"]
    assert lab.ssh("c1", "cat /proc/1/comm").stdout.strip() != "systemd"
    policies = lab.podman("c1", ["inspect", "--format", "{{.Name}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.AutoRemove}}",
                                 "shop-plain", "shop-kept", "shop-once"]).stdout.split("\n")
    assert [p.split() for p in policies if p] == [["shop-plain", "false"], ["shop-kept", "always", "false"], ["shop-once", "true"]]


def test_persist_of_containers_names_what_starts_them_or_why_nothing_does(checked):
    proc = checked["proc"]
    assert proc.returncode == 2, (proc.stdout + proc.stderr)[-4000:]
    by = {(r["host"], r["service"]): (r["status"], r["message"]) for r in checked["results"] if r["check"] == "persist"}
    enabled = "podman-restart.service enabled (%s, in default.target.wants)" % OFFLINE
    assert by == {
        ("c1", "plain"): ("fail", "after a reboot nothing starts plain: container shop-plain: restart policy no"),
        ("c1", "kept"): ("pass", "kept runs in container shop-kept: restart policy always, " + enabled),
        ("c1", "once"): ("fail", "after a reboot nothing starts once: container shop-once: it was run with --rm, so it is"
                                 " removed when it stops"),
        ("c1", "dyn"): ("pass", "dyn runs in container shop-dyn: restart policy always, %s; host port %d is dynamic"
                                " (port: auto): it moves on every restart and the checks follow it" % (enabled, checked["dyn_port"])),
        ("c2", "kept"): ("fail", "after a reboot nothing starts kept: container shop-kept: restart policy always but"
                                 " podman-restart.service is disabled (%s), so Podman does not start it at boot" % OFFLINE),
    }
    print("persist containers lab test: %.1f s for the run (lab up excluded)" % checked["seconds"])
