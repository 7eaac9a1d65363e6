# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""port_facts' mappings on a real lab host with Podman: exactly what `podman port` and the DNAT rules say."""

from __future__ import annotations

import re
import shutil
import socket
import urllib.request

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._mappings._gather import resolve_auto_port
from lab_ansible import module_result  # pylint: disable=import-error

pytestmark = pytest.mark.lab

EXTRA = "198.51.100.7"
SPEC = {"hosts": [{
    "name": "ct1",
    "addresses": [EXTRA + "/24"],
    "containers": [
        {"name": "web", "publish": ["8080:80/tcp"]},                       # TCP on every address
        {"name": "multi", "publish": [EXTRA + ":8443:80/tcp",               # several ports: one address,
                                      "127.0.0.1:9000:80/tcp",             # loopback,
                                      "8081:80",                           # every address,
                                      "5353:53/udp",                       # UDP on every address
                                      EXTRA + ":5354:53/udp"]},            # and on one address
        {"name": "rnd", "publish": ["80"]},                                # a random host port
    ],
}]}
CONTAINERS = ("web", "multi", "rnd")
NO_DAEMON = ("docker ps --quiet --no-trunc exited with 1: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
             "Is the docker daemon running?")
_DNAT = re.compile(r"^-A (\S+) (?:-d (\S+)/32 )?-p (tcp|udp) -m \3 --dport (\d+) -j DNAT --to-destination ([\d.]+):(\d+)$")


def podman_view(lab):
    """{(container, proto, container port, host ip, host port)} from `podman port NAME` on the host."""
    rows = set()
    for name in CONTAINERS:
        for line in lab.podman("ct1", ["port", name]).stdout.splitlines():
            inner, outer = line.split(" -> ")
            port, proto = inner.split("/")
            host_ip, host_port = outer.rsplit(":", 1)
            rows.add((name, proto, int(port), host_ip, int(host_port)))
    return rows


def dnat_view(lab):
    """{(proto, host ip, host port, target ip, target port)} from the DNAT rules in the host's nat table."""
    rows = set()
    for line in lab.ns("ct1", ["iptables-save", "-t", "nat"]).stdout.splitlines():
        if "-j DNAT" in line:
            found = _DNAT.match(line)
            assert found, "a DNAT rule this test does not read: %s" % line
            rows.add((found.group(3), found.group(2) or "0.0.0.0", int(found.group(4)), found.group(5), int(found.group(6))))
    return rows


def gather(lab):
    result = module_result(lab, "ct1", "portproof.validate.port_facts", "gather_subset=mappings")
    assert result.get("failed") is not True, result
    assert result["changed"] is False
    facts = result["ansible_facts"]["portproof"]
    assert {"mappings", "unavailable"} <= set(facts) and "firewall" not in facts
    return facts


def check_against_the_host(lab, facts):
    mappings = facts["mappings"]
    engine = set((name, m["proto"], m["target_port"], m["host_ip"], m["host_port"]) for m in mappings for name in m["containers"])
    nat = set((m["proto"], m["host_ip"], m["host_port"], m["target_ip"], m["target_port"]) for m in mappings)
    assert engine == podman_view(lab)
    assert nat == dnat_view(lab)
    # every published port is one mapping that both podman and the rules describe
    assert len(mappings) == len(engine) == len(nat)
    assert all(m["sources"] == ["podman", "iptables"] and m["kind"] == "dnat" and m["manager"] == "netavark" for m in mappings)
    # This machine has the docker command and no daemon: named, and not a failure. (Without the
    # command Docker is simply not there; the unit tests replay the captured no-daemon output.)
    expected = [{"subset": "mappings", "tool": "docker", "reason": NO_DAEMON}] if shutil.which("docker") else []
    assert facts["unavailable"] == expected


def http_get(address, port):
    with urllib.request.urlopen("http://%s:%d/" % (address, port), timeout=5) as response:
        return response.read().decode()


def refused(address, port):
    try:
        socket.create_connection((address, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_mappings_on_a_podman_host(make_lab):
    lab = make_lab(SPEC)
    address = lab.address("ct1")
    facts = gather(lab)
    check_against_the_host(lab, facts)
    mappings = facts["mappings"]
    assert sorted((m["container"], m["proto"], m["host_ip"], m["host_port"], m["target_port"]) for m in mappings if m["container"] != "rnd") == [
        ("multi", "tcp", "0.0.0.0", 8081, 80), ("multi", "tcp", "127.0.0.1", 9000, 80), ("multi", "tcp", EXTRA, 8443, 80),
        ("multi", "udp", "0.0.0.0", 5353, 53), ("multi", "udp", EXTRA, 5354, 53), ("web", "tcp", "0.0.0.0", 8080, 80)]
    image = lab.podman("ct1", ["image", "inspect", "--format", "{{.Id}} {{.Digest}}", "localhost/portproof-lab/busybox:1"]).stdout.split()
    assert all(m["image"] == {"name": "localhost/portproof-lab/busybox:1", "id": "sha256:" + image[0], "digest": image[1]} for m in mappings)

    first = resolve_auto_port(mappings, "rnd", 80, "tcp", facts["unavailable"])
    assert len(first["ports"]) == 1 and first["reason"] is None
    old = first["ports"][0]
    assert http_get(address, old) == "portproof lab\n"

    # Republish rnd: a new random host port; the old one must be gone everywhere.
    for _attempt in range(3):
        lab.podman("ct1", ["rm", "--force", "--time", "0", "rnd"])
        lab.start_container("ct1", {"name": "rnd", "publish": ["80"]})
        new = int(lab.podman("ct1", ["port", "rnd", "80/tcp"]).stdout.strip().rsplit(":", 1)[1])
        if new != old:
            break
    assert new != old
    facts = gather(lab)
    check_against_the_host(lab, facts)
    assert [m["host_port"] for m in facts["mappings"] if m["container"] == "rnd"] == [new]
    assert old not in [m["host_port"] for m in facts["mappings"]]
    resolved = resolve_auto_port(facts["mappings"], "rnd", 80, "tcp", facts["unavailable"])
    assert (resolved["ports"], resolved["reason"]) == ([new], None)
    # later checks probe the port that is really there
    assert http_get(address, new) == "portproof lab\n"
    assert refused(address, old)
    assert resolve_auto_port(facts["mappings"], "rnd", 443, "tcp")["reason"] == \
        "container rnd publishes no port 443/tcp (it publishes 80/tcp -> 0.0.0.0:%d)" % new
