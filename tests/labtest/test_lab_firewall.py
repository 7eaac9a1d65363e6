# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab tool's firewall keys (ipset, ufw, firewalld) and services inside a container: each
host gets its own, and tear-down leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from portproof_lab import Lab, LabError  # pylint: disable=import-error

pytestmark = pytest.mark.lab

RICH = """--zone=public --add-rich-rule='rule family="ipv4" source address="{address:client}" port port="5432" protocol="tcp" accept'"""
SPEC = {"hosts": [
    {"name": "client"},
    {"name": "uf", "ufw": ["default deny incoming", "allow from {lab_address} to any port 22 proto tcp",
                           "allow from {address:client} to any port 8080 proto tcp", "--force enable"]},
    {"name": "fd", "firewalld": {
        "files": {"zones/public.xml": '<?xml version="1.0" encoding="utf-8"?>\n<zone><interface name="eth0"/>'
                                      '<service name="ssh"/><port protocol="tcp" port="8000"/></zone>\n'},
        "commands": [RICH]}},
    {"name": "ips", "ipset": "create allowed hash:ip family inet\nadd allowed {address:client}\n",
     "iptables": "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 7000 -m set ! --match-set allowed src -j DROP\n"
                 "COMMIT\n"},
    {"name": "ct", "containers": [{"name": "web", "publish": ["5353:53/udp"]}],
     "services": [{"name": "dns", "container": "web", "listen": ["udp:0.0.0.0:53"], "reply": "pong"}]},
]}


def _netns():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_firewall_managers_per_host(tmp_path):
    etc_netns_before = os.path.isdir("/etc/netns")
    lab = Lab(SPEC, str(tmp_path / "lab"), keep_workdir=True)
    with lab:
        state = json.loads(open(lab.path("state.json")).read())
        client = lab.address("client")
        # ufw: the host's own configuration and rules; the machine's /etc/ufw is untouched.
        status = lab.ns("uf", ["ufw", "status"]).stdout
        assert "Status: active" in status and "8080/tcp" in status and client in status
        assert "ufw-user-input" in lab.ns("uf", ["iptables-save"]).stdout
        assert "ufw-user-input" not in lab.ns("client", ["iptables-save"]).stdout
        etc = state["hosts"]["uf"]["etc_netns"]
        assert etc == "/etc/netns/" + state["hosts"]["uf"]["netns"] and os.path.isdir(etc)
        # firewalld: its own daemon and D-Bus; firewall-cmd over SSH talks to it.
        zone = lab.ssh("fd", "firewall-cmd --zone=public --list-all").stdout
        assert "interfaces: eth0" in zone and "8000/tcp" in zone and 'source address="%s"' % client in zone
        assert "table inet firewalld" in lab.ns("fd", ["nft", "list", "tables"]).stdout
        assert "firewalld" not in lab.ns("client", ["nft", "list", "tables"]).stdout
        pids = state["hosts"]["fd"]["firewalld_pids"]
        assert len(pids) == 2 and all(Lab._alive(pid) for pid in pids)  # pylint: disable=protected-access
        # ipset: the set exists in that host only, and the rule using it loaded.
        assert "add allowed %s" % client in lab.ns("ips", ["ipset", "save"]).stdout
        assert lab.ns("client", ["ipset", "list", "-n"]).stdout.strip() == ""
        # a service in the container's network namespace answers for the published UDP port.
        probe = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); "
                 "s.connect(('%s', 5353)); s.send(b'ping'); print(s.recv(100).decode())" % lab.address("ct"))
        assert lab.ns("client", ["python3", "-c", probe]).stdout.strip() == "pong"
    assert not {h["netns"] for h in state["hosts"].values()} & _netns()
    assert not os.path.exists(etc)
    if not etc_netns_before:  # the lab made /etc/netns: gone, unless another tool has put files there since
        assert not os.path.isdir("/etc/netns") or os.listdir("/etc/netns")
    for pid in state["processes"]:
        assert not Lab._alive(pid)  # pylint: disable=protected-access


@pytest.mark.parametrize("host, message", [
    ({"name": "a", "ufw": "allow 22"}, r"a\.ufw must be a list of ufw commands"),
    ({"name": "a", "firewalld": {"zones": {}}}, r"a\.firewalld must be a mapping with the keys \['commands', 'files'\]"),
    ({"name": "a", "firewalld": {"files": {"../x": ""}}}, r"a\.firewalld\.files: \.\./x must be a path inside"),
    ({"name": "a", "ipset": ["create x"]}, r"a\.ipset must be ipset-restore text"),
    ({"name": "a", "services": [{"name": "s", "listen": ["udp:0.0.0.0:53"], "container": "web"}]},
     r"a\.services\[0\]: no container web on this host"),
])
def test_bad_firewall_keys_are_named(host, message):
    with pytest.raises(LabError, match=message):
        Lab({"hosts": [host]})
