# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What port_facts says when it may not see everything, on real processes in namespaces of their own.

- ``/proc`` mounted with ``hidepid=2`` (a private mount namespace) hides other users' processes
  from a non-root user without any error: the warning says so, and names the listeners.
- Root without ``CAP_SYS_PTRACE`` cannot read the ``/proc/PID/fd`` of another user's process:
  the warning names the listeners whose owner is unknown.
- Root without ``CAP_NET_ADMIN`` cannot read the firewall: the entries name the capability.

Each runs in a network namespace of its own (``unshare --net``), with its own listener.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile

import pytest

from lab_ansible import VENV_BIN, ansible_env  # pylint: disable=import-error

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LISTEN = "import socket, time; s = socket.socket(); s.bind(('0.0.0.0', %d)); s.listen(1); time.sleep(120)"
GATHER = ("import json\n"
          "from ansible_collections.portproof.validate.plugins.module_utils._sockets import _listeners\n"
          "listeners, unavailable, warnings = _listeners.gather('host')\n"
          "print(json.dumps({'listeners': listeners, 'warnings': warnings}))\n")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def in_namespace(script, env, timeout=60):
    """Run the shell SCRIPT in a network and mount namespace of its own; its stdout."""
    proc = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", "--fork", "--kill-child", "sh", "-c",
                           script], capture_output=True, text=True, env=env, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def gather_env(port):
    return dict(os.environ, GATHER=GATHER, LISTEN=LISTEN % port, PYTHONPATH=os.path.join(REPO, ".build", "collections"))


def test_hidepid_hides_the_owners_from_a_non_root_user():
    # a root listener, read by nobody through a /proc mounted hidepid=2: its owner is not even listed
    script = ("set -e; mount -t proc -o hidepid=2 proc /proc; /usr/bin/python3 -c \"$LISTEN\" & "
              "for i in $(seq 50); do ss -Hltn | grep -q ':7201 ' && break; sleep 0.1; done; "
              "%s /usr/bin/python3 -c \"$GATHER\"; kill $!" % " ".join(NOBODY))
    answer = json.loads(in_namespace(script, gather_env(7201)))
    assert [(i["port"], i["pid"], i["process"]) for i in answer["listeners"]] == [(7201, None, None)]
    assert answer["warnings"] == [
        "not running as root, and /proc is mounted with hidepid=invisible, which hides the processes of other users: the "
        "owning process of 1 listener(s) is unknown (pid, process and user are null for tcp 0.0.0.0:7201); the listeners "
        "themselves are complete"]


def test_root_that_cannot_read_a_process_names_the_listeners_affected():
    # nobody's listener, read by root without CAP_SYS_PTRACE: /proc/PID/fd of another user is refused
    script = ("set -e; %s /usr/bin/python3 -c \"$LISTEN\" & "
              "for i in $(seq 50); do ss -Hltn | grep -q ':7202 ' && break; sleep 0.1; done; "
              "setpriv --inh-caps=-sys_ptrace --bounding-set=-sys_ptrace /usr/bin/python3 -c \"$GATHER\"; kill $!"
              % " ".join(NOBODY))
    answer = json.loads(in_namespace(script, gather_env(7202)))
    assert [(i["port"], i["pid"], i["process"]) for i in answer["listeners"]] == [(7202, None, None)]
    assert len(answer["warnings"]) == 1
    assert re.fullmatch(r"/proc of [1-9][0-9]* process\(es\) could not be read: the owning process of 1 listener\(s\) may be "
                        r"unknown \(pid, process and user are null for tcp 0\.0\.0\.0:7202\); the listeners themselves are "
                        r"complete", answer["warnings"][0]), answer["warnings"]


def test_root_without_cap_net_admin_is_told_the_capability():
    tree = tempfile.mkdtemp(prefix="pptree-")
    env = ansible_env(None, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
                      ANSIBLE_CALLBACK_TREE_DIR=tree)
    script = ("setpriv --inh-caps=-net_admin --bounding-set=-net_admin %s -i localhost, -c local localhost "
              "-e ansible_python_interpreter=/usr/bin/python3 -m portproof.validate.port_facts -a gather_subset=firewall"
              % os.path.join(VENV_BIN, "ansible"))
    in_namespace(script, env, timeout=120)
    with open(os.path.join(tree, "localhost")) as handle:
        result = json.load(handle)
    entries = [e for e in result["ansible_facts"]["portproof"]["unavailable"] if e["subset"] == "firewall"]
    tools = [e["tool"] for e in entries]
    assert "nft" in tools and any(t.startswith("iptables") for t in tools), entries
    for entry in entries:
        assert entry["reason"].endswith(
            " (reading the firewall needs the CAP_NET_ADMIN capability, which this root session lacks)"), entry
