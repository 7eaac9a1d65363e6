# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Planted ``/run/.containerenv`` files do not hang, exhaust or fool port_facts.

- On a lab host with a real Podman container ``web``, a process in its own mount, network and PID
  namespace (``unshare``, a tmpfs over ``/run``) listens on a port and plants a
  ``/run/.containerenv`` claiming ``web``'s name and id. port_facts with ``namespaces: all``
  (which sees it: ``/proc`` is the machine's) must not call it ``web``, and must still name
  ``web``'s own namespace, from the engine's view.
- The FIFO, ``/dev/zero`` (as a symlink and bind-mounted), a ``run`` directory that is a symlink
  and an oversized file are planted in a private mount namespace under a ``/proc``-shaped tree
  that only the test reads: planted at a real ``/run/.containerenv`` they would hang or exhaust
  the memory of every older port_facts on the machine (every lab's ``namespaces: all`` gather
  reads every process's root). Each read must end at once with the right attribution, within a
  1 GB address-space limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time

import pytest

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error
from portproof_lab import Lab  # pylint: disable=import-error

pytestmark = pytest.mark.lab

PLANTS = {
    7104: "printf 'engine=\"podman\"\\nname=\"web\"\\nid=\"%s\"\\n' \"$WEB_ID\" > /run/.containerenv",
}
LISTEN = ("import socket, time\n"
          "s = socket.socket()\n"
          "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "s.bind(('0.0.0.0', %d))\n"
          "s.listen(1)\n"
          "time.sleep(3600)\n")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    spec = {"hosts": [{"name": "web1", "containers": [{"name": "web", "publish": ["8080:80/tcp"]}]}]}
    with Lab(spec, str(tmp_path_factory.mktemp("files") / "lab")) as built:
        yield built


@pytest.fixture(scope="module")
def planted(lab):
    web_id = json.loads(lab.podman("web1", ["inspect", "web"]).stdout)[0]["Id"]
    procs = {}
    try:
        for port, plant in PLANTS.items():
            script = "set -e; mount -t tmpfs tmpfs /run; %s; exec /usr/bin/python3 -c \"$LISTEN\"" % plant
            procs[port] = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--net", "--pid", "--fork", "--kill-child",
                 "--mount-proc", "sh", "-c", script],
                env=dict(os.environ, WEB_ID=web_id, LISTEN=LISTEN % port), stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(listening(procs)) < len(procs):
            time.sleep(0.2)
        assert sorted(listening(procs)) == sorted(PLANTS), "the planted listeners did not start"
        yield {"web_id": web_id, "procs": procs}
    finally:
        for proc in procs.values():
            proc.kill()  # --kill-child ends the namespace's processes with it
            proc.wait(timeout=30)


def listening(procs):
    """Ports whose planted process has its socket open (seen through its own network namespace)."""
    found = []
    for port, proc in procs.items():
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False).stdout.split()
        for child in children:
            out = subprocess.run(["nsenter", "--net=/proc/%s/ns/net" % child, "ss", "-Hltn"], capture_output=True, text=True,
                                 check=False).stdout
            if ":%d " % port in out:
                found.append(port)
    return found


def port_facts(lab, host, args, timeout):
    """(seconds, result) of port_facts on HOST through ansible, or a failure when it did not end in TIMEOUT."""
    tree = tempfile.mkdtemp(prefix="pptree-", dir=lab.workdir)
    env = ansible_env(lab, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
                      ANSIBLE_CALLBACK_TREE_DIR=tree)
    start = time.monotonic()
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible"), "-i", lab.inventory, host, "-m", "portproof.validate.port_facts",
                           "-a", args], capture_output=True, text=True, env=env, check=False, timeout=timeout)
    elapsed = time.monotonic() - start
    with open(os.path.join(tree, host)) as handle:
        return elapsed, json.load(handle)


def test_planted_containerenv_files_end_promptly_and_name_nothing(lab, planted):
    elapsed, result = port_facts(lab, "web1", "gather_subset=listeners namespaces=all", timeout=120)
    assert not result.get("failed"), result
    listeners = result["ansible_facts"]["portproof"]["listeners"]
    by_port = dict((i["port"], i) for i in listeners if i["port"] in PLANTS and i["netns"] != "host")
    assert sorted(by_port) == sorted(PLANTS), listeners
    for port, item in sorted(by_port.items()):
        assert (port, item["process"], item["container"], item["container_id"]) == (port, "python3", None, None), item
    # the real container is still named, from the engine's own view
    web = [(i["port"], i["container"], i["container_id"]) for i in listeners if i["container"] == "web"]
    assert web == [(80, "web", planted["web_id"])], listeners
    assert elapsed < 60, elapsed


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ID = "c" * 64
OTHER = "d" * 64
CASES = {
    # name: (shell planting under $T/proc/4242 and $T/outside, expected container_of answer)
    "fifo": ("mkfifo $R/run/.containerenv", None),
    "symlink to /dev/zero": ("ln -s /dev/zero $R/run/.containerenv", None),
    "/dev/zero bind-mounted": ("touch $R/run/.containerenv && mount --bind /dev/zero $R/run/.containerenv", None),
    "run is a symlink out of the root": ("rmdir $R/run && ln -s $T/outside $R/run && "
                                         "printf 'name=\"web\"\\nid=\"%s\"\\n' > $T/outside/.containerenv" % ID, None),
    "oversized file": ("(printf 'name=\"web\"\\nid=\"%s\"\\n'; head -c 200000 /dev/zero | tr '\\0' '#') > $R/run/.containerenv" % ID,
                       None),
    "name of another container's id": ("printf 'name=\"web\"\\nid=\"%s\"\\n' > $R/run/.containerenv && "
                                       "echo 0::/machine.slice/libpod-%s.scope > $T/proc/4242/cgroup" % (ID, OTHER),
                                       {"engine": "podman", "id": OTHER, "name": None}),
    "regular file naming its own cgroup's id": ("printf 'name=\"db\"\\nid=\"%s\"\\n' > $R/run/.containerenv && "
                                                "echo 0::/machine.slice/libpod-%s.scope > $T/proc/4242/cgroup" % (OTHER, OTHER),
                                                {"engine": "podman", "id": OTHER, "name": "db"}),
}
READ = ("import json, sys, time\n"
        "from ansible_collections.portproof.validate.plugins.module_utils._sockets import _processes\n"
        "start = time.monotonic()\n"
        "found = _processes.container_of(4242, sys.argv[1] + '/proc', sys.argv[1] + '/docker')\n"
        "print(json.dumps({'found': found, 'seconds': time.monotonic() - start}))\n")


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_containerenv_in_a_private_mount_namespace(case, tmp_path):
    plant, expected = CASES[case]
    script = ("set -e; T=$1; mount -t tmpfs -o size=8m tmpfs $T; R=$T/proc/4242/root; mkdir -p $R/run $T/outside $T/docker; "
              "%s; exec prlimit --as=1000000000 %s -c \"$READ\" $T" % (plant, os.path.join(VENV_BIN, "python")))
    env = dict(os.environ, READ=READ, PYTHONPATH=os.path.join(REPO, ".build", "collections"))
    start = time.monotonic()
    try:
        proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child",
                               "sh", "-c", script, "sh", str(tmp_path)], capture_output=True, text=True, env=env, timeout=20,
                              check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("%s: reading it did not end within 20 s" % case)
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = json.loads(proc.stdout)
    assert answer["found"] == expected
    assert answer["seconds"] < 1 and time.monotonic() - start < 10, answer
