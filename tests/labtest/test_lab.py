# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab tool itself: real hosts come up as described and go away completely."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lab_ansible import ansible  # pylint: disable=import-error
from portproof_lab import Lab, LabError  # pylint: disable=import-error

pytestmark = pytest.mark.lab

HERE = os.path.dirname(os.path.abspath(__file__))
LAB_TOOL = os.path.join(os.path.dirname(HERE), "lab", "portproof_lab.py")
SMOKE = os.path.join(os.path.dirname(HERE), "lab", "specs", "smoke.yml")


def _netns():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _link_exists(name):
    return os.path.exists("/sys/class/net/" + name)


def _ss(lab, host):
    return lab.ns(host, ["ss", "-H", "-ltunp"]).stdout


def test_smoke_lab_hosts_are_real_and_separate(tmp_path):
    lab = Lab.from_file(SMOKE, str(tmp_path / "lab"))
    with lab:
        state = json.loads(open(lab.path("state.json")).read())
        # Each host answers on its own sshd with its own identity, as Ansible reaches it.
        for name in ("db1", "web1"):
            assert lab.ssh(name, "printenv PORTPROOF_LAB_HOST").stdout.strip() == name
        ping = ansible(lab, ["ansible", "all", "-m", "ansible.builtin.ping"])
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert ping.stdout.count("SUCCESS") == 2
        # Services listen with the process names they stand for, only on their own host.
        db_ss = _ss(lab, "db1")
        assert '0.0.0.0:5432 ' in db_ss and '"postgres"' in db_ss
        assert '127.0.0.1:6379 ' in db_ss and '"redis-server"' in db_ss
        assert "udp UNCONN" in db_ss and '"named"' in db_ss
        assert "*:53 " in db_ss  # the dual-stack socket
        assert '"postgres"' not in _ss(lab, "web1")
        # The postgres stand-in runs as the user it was given.
        pid = lab.host("db1")["services"]["postgres"][0]
        with open("/proc/%d/status" % pid) as handle:
            uid = [line.split()[1] for line in handle if line.startswith("Uid:")][0]
        assert uid == "65534"
        # Rule sets are loaded into the host's own namespace, not the machine's.
        assert "portproof_lab" in lab.ns("db1", ["nft", "list", "tables"]).stdout
        assert "portproof_lab" not in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False).stdout
        assert "--dport 9999 -j REJECT" in lab.ns("web1", ["iptables-save", "-t", "filter"]).stdout
        # The container's published port is a real DNAT in the web host, served by the container.
        assert "dnat name: web" not in lab.ns("db1", ["iptables-save", "-t", "nat"]).stdout
        assert "--dport 8081" in lab.ns("web1", ["iptables-save", "-t", "nat"]).stdout
        ports = lab.ssh("web1", "podman port web").stdout
        assert "80/tcp -> 0.0.0.0:8081" in ports
        page = subprocess.run(["curl", "-s", "-m", "5", "http://%s:8081/" % lab.address("web1")],
                              capture_output=True, text=True, check=False).stdout
        assert page == "portproof lab\n"
    # Everything is gone afterwards.
    assert not {h["netns"] for h in state["hosts"].values()} & _netns()
    assert not _link_exists(state["bridge"])
    for pid in state["processes"]:
        assert not Lab._alive(pid)  # pylint: disable=protected-access
    assert not os.path.exists(os.path.join(state["hosts"]["web1"]["dir"], "podman"))


def test_refuses_what_it_did_not_make(tmp_path):
    with pytest.raises(LabError, match="no lab state here; refusing"):
        Lab.attach(str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({"spec": {}}))
    with pytest.raises(LabError, match="not written by the lab"):
        Lab.attach(str(tmp_path))


def test_leaves_a_namespace_it_did_not_make(tmp_path):
    lab = Lab({"hosts": [{"name": "solo"}]}, str(tmp_path / "lab"), keep_workdir=True).up()
    netns = lab.host("solo")["netns"]
    real_inode = lab.host("solo")["netns_inode"]
    lab.state["hosts"]["solo"]["netns_inode"] = real_inode + 1  # as if another namespace had taken the name
    state = dict(lab.state)
    with pytest.raises(LabError, match="netns %s is not the one this lab made; left alone" % netns):
        lab.down()
    assert netns in _netns()
    state["hosts"]["solo"]["netns_inode"] = real_inode
    lab.state = state
    lab.down()
    assert netns not in _netns()


def test_failed_build_removes_what_it_made(tmp_path):
    spec = {"hosts": [{"name": "ok"}, {"name": "broken", "services": [{"name": "x", "listen": ["tcp:192.0.2.77:80"]}]}]}
    lab = Lab(spec, str(tmp_path / "lab"), keep_workdir=True)
    with pytest.raises(LabError, match="service x on lab host broken did not start"):
        lab.up()
    state = json.loads((tmp_path / "lab" / "state.json").read_text())
    assert not {h["netns"] for h in state["hosts"].values()} & _netns()
    assert not _link_exists(state["bridge"])


def test_interrupt_tears_down(tmp_path):
    workdir = tmp_path / "lab"
    proc = subprocess.Popen([sys.executable, LAB_TOOL, "run", SMOKE, "--dir", str(workdir), "--", "sleep", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    end = time.monotonic() + 60
    while not (workdir / "inventory.yml").exists():
        assert proc.poll() is None and time.monotonic() < end, proc.communicate()
        time.sleep(0.1)
    time.sleep(1)  # the lab waits for every sshd before it runs the command
    state = json.loads((workdir / "state.json").read_text())
    assert {h["netns"] for h in state["hosts"].values()} <= _netns()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert not {h["netns"] for h in state["hosts"].values()} & _netns()
    assert not _link_exists(state["bridge"])


def test_bad_description_is_named():
    with pytest.raises(LabError, match=r"hosts\[0\] \(a\): unknown keys \['colour'\]"):
        Lab({"hosts": [{"name": "a", "colour": "red"}]})


UDP_ASK = r'''
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
sock = socket.socket(family, socket.SOCK_DGRAM)
sock.connect((sys.argv[1], 5999))
sock.settimeout(2)
sock.send(b"ping")
try:
    print("reply %s" % sock.recv(100).decode())
except socket.timeout:
    print("no reply")
'''


def test_udp_service_answers_from_the_address_asked(make_lab):
    """A UDP service on a wildcard address answers from the datagram's destination (IP_PKTINFO),
    not from the address the routing picks: a connected client (and conntrack after a DNAT)
    takes only that answer. On the host's second address, each family."""
    lab = make_lab({"hosts": [{"name": "srv", "addresses": ["198.51.100.40/32", "2001:db8:40::4/128"],
                               "services": [{"name": "echo", "listen": ["udp:0.0.0.0:5999", "udp:[::]:5999,v6only"]}]},
                              {"name": "cli"}]})
    for address in ("198.51.100.40", "2001:db8:40::4"):
        lab.ns("cli", ["ip", "route", "add", address, "dev", "eth0"])
        assert lab.ns("cli", ["/usr/bin/python3", "-c", UDP_ASK, address]).stdout.strip() == "reply ping", address


def test_etc_files_are_the_hosts_own(make_lab):
    """``sshd.etc``: each host's sessions see their own files under /etc (a new directory too), the
    other host and the machine see theirs, and a write under /etc stays in the host's directory."""
    with open("/etc/hosts") as handle:
        machine_hosts = handle.read()
    lab = make_lab({"hosts": [
        {"name": "a", "sshd": {"etc": {"hosts": "{address:b} db.internal\n", "iptables/rules.v4": "*filter\nCOMMIT\n"}}},
        {"name": "b"}]})
    address_b = lab.host("b")["address"]
    assert lab.ssh("a", "getent hosts db.internal").stdout.split() == [address_b, "db.internal"]
    assert lab.ssh("a", "cat /etc/iptables/rules.v4").stdout == "*filter\nCOMMIT\n"
    assert lab.ssh("a", "test -r /etc/passwd && echo readable").stdout.strip() == "readable"
    assert lab.ssh("b", "getent hosts db.internal || echo none").stdout.strip() == "none"
    lab.ssh("a", "echo written > /etc/portproof-lab-write")
    assert not os.path.exists("/etc/portproof-lab-write")
    assert not os.path.exists("/etc/iptables/rules.v4") or "COMMIT" not in open("/etc/iptables/rules.v4").read()
    with open("/etc/hosts") as handle:
        assert handle.read() == machine_hosts
