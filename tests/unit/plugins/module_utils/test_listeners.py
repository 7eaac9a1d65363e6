# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Socket and address parsers against what the kernel, ss and ip said on a real lab host.

Fixtures: fixtures/listeners (made by capture.py there from tests/lab/specs/listeners.yml).
"""

from __future__ import annotations

import json
import os
import socket

import pytest

from ansible_collections.portproof.validate.plugins.module_utils._sockets import _addresses, _listeners, _proc_net, _sock_diag

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "listeners")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def messages(name):
    return [bytes.fromhex(line) for line in fixture(name).split()]


def links():
    return _addresses.parse_links(messages("rtnetlink-links.hex"))


def ss_lines():
    """(proto, local address:port) of each socket, as `ss -H -ltun` printed them."""
    return sorted((line.split()[0], line.split()[4]) for line in fixture("ss-ltun.txt").splitlines())


def ss_local(sock, names):
    """How ss prints a socket's local address, from our record."""
    if sock["family"] == "ipv6" and _listeners.dual_stack(sock, None):
        address = "*"
    elif sock["family"] == "ipv6":
        address = "[%s]" % sock["address"]
    else:
        address = sock["address"]
    if sock["ifindex"]:
        address += "%" + names[sock["ifindex"]]
    return "%s:%d" % (address, sock["port"])


def sock_diag_sockets():
    found = []
    for proto in ("tcp", "udp"):
        for family in ("ipv4", "ipv6"):
            found.extend(_sock_diag.parse_message(m, proto, family) for m in messages("sock_diag-%s-%s.hex" % (proto, family)))
    return found


def test_sock_diag_agrees_with_ss_exactly():
    names = links()
    ours = sorted((s["proto"], ss_local(s, names)) for s in sock_diag_sockets())
    assert ours == ss_lines()


@pytest.mark.parametrize("local, proto, v6only, dual", [
    ("::", "tcp", False, True),         # tcp *:53, dual
    ("::", "tcp", True, False),         # tcp [::]:5432, v6only
    ("::", "udp", True, False),         # udp [::]:53, v6only
    ("::", "udp", False, True),         # udp *:5353
    ("::1", "tcp", True, False),        # the kernel marks a socket bound to an IPv6 address IPv6-only
    ("::ffff:127.0.0.1", "tcp", False, False),
])
def test_sock_diag_v6only_per_socket(local, proto, v6only, dual):
    matching = [s for s in sock_diag_sockets() if s["family"] == "ipv6" and s["proto"] == proto and s["address"] == local
                and s["v6only"] is v6only]
    assert matching, "fixture lacks %s %s v6only=%s" % (proto, local, v6only)
    assert {_listeners.dual_stack(s, None) for s in matching} == {dual}


def test_ipv4_mapped_address_is_reported_as_it_is():
    mapped = [s for s in sock_diag_sockets() if s["port"] == 11211 and s["proto"] == "tcp"]
    assert [(s["family"], s["address"]) for s in mapped] == [("ipv6", "::ffff:127.0.0.1")]


def test_bound_interface_is_kept():
    names = links()
    bound = [s for s in sock_diag_sockets() if s["ifindex"]]
    assert [(s["port"], names[s["ifindex"]]) for s in bound] == [(9100, "eth0")]


def proc_net_sockets():
    found = []
    for proto, family, table in _proc_net.TABLES:
        found.extend(_proc_net.parse_table(fixture("proc-net-%s.txt" % table), proto, family, table))
    return found


def test_proc_net_agrees_with_ss_but_for_dual_stack_and_interfaces():
    ours = sorted((s["proto"], "%s:%d" % ("[%s]" % s["address"] if s["family"] == "ipv6" else s["address"], s["port"]))
                  for s in proc_net_sockets())
    theirs = sorted((proto, local.replace("%eth0", "").replace("*:", "[::]:")) for proto, local in ss_lines())
    assert ours == theirs


def test_proc_net_and_sock_diag_agree_on_inodes():
    assert sorted(s["inode"] for s in proc_net_sockets()) == sorted(s["inode"] for s in sock_diag_sockets())


def test_proc_net_does_not_claim_to_know_v6only():
    assert {s["v6only"] for s in proc_net_sockets()} == {None}
    wildcard = [s for s in proc_net_sockets() if s["address"] == "::"]
    assert {_listeners.dual_stack(s, None) for s in wildcard} == {None}
    assert {_listeners.dual_stack(s, False) for s in wildcard} == {True}


@pytest.mark.parametrize("line, message", [
    ("   0: 0100007F:18EB 00000000:0000 0A", "/proc/net/tcp line 2: cannot parse"),
    ("   0: 0100007G:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1", "/proc/net/tcp line 2"),
    ("   0: 0100:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1", "IPv4 address of 2 bytes"),
])
def test_proc_net_bad_line_is_named(line, message):
    with pytest.raises(_proc_net.ProcNetError, match=message):
        _proc_net.parse_table("header\n" + line + "\n", "tcp", "ipv4", "tcp")


def test_addresses_agree_with_ip_exactly():
    ours = _addresses.parse_addresses(messages("rtnetlink-addrs.hex"), links())
    theirs = sorted(({"interface": link["ifname"], "family": "ipv4" if info["family"] == "inet" else "ipv6",
                      "address": info["local"], "prefix": info["prefixlen"], "scope": info["scope"]}
                     for link in json.loads(fixture("ip-addr.json")) for info in link["addr_info"]),
                    key=lambda a: (a["interface"], a["family"], a["address"]))
    assert ours == theirs
    lab4, lab6 = fixture("lab-addresses.txt").split()
    assert {a["address"] for a in ours if a["interface"] == "eth0"} >= {lab4, lab6}


# Entering another namespace through processes that come and go (the race a full gather met in CI:
# a process of another namespace ended between the /proc scan and the read).

@pytest.fixture
def own_listener():
    """A TCP socket listening on loopback in this namespace, to find in what was read."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield os.fstat(sock.fileno()).st_ino
    sock.close()


def fake_proc(tmp_path, pids):
    """A /proc whose PIDS are: 'ended' (no files), 'reused' (ns/net is another inode), 'alive' (this process)."""
    for pid, state in pids.items():
        base = tmp_path / str(pid)
        (base / "ns").mkdir(parents=True)
        if state == "reused":
            (base / "ns" / "net").write_text("another namespace\n")
        elif state == "alive":
            (base / "ns" / "net").symlink_to("/proc/self/ns/net")
            (base / "net").symlink_to("/proc/self/net")
    return str(tmp_path)


OWN_NETNS = os.stat("/proc/self/ns/net").st_ino


def test_ended_and_reused_pids_are_passed_over(tmp_path, own_listener):
    proc = fake_proc(tmp_path, {11: "ended", 12: "reused", 13: "alive"})
    sockets, unavailable = _listeners.read_other_namespace(OWN_NETNS, [11, 12, 13], proc)
    assert own_listener in [s["inode"] for s in sockets]
    if os.geteuid() == 0:  # entering a namespace, even one's own, needs CAP_SYS_ADMIN
        assert unavailable == []


def test_a_namespace_whose_processes_all_ended_is_left_out(tmp_path):
    proc = fake_proc(tmp_path, {11: "ended", 12: "reused"})
    assert _listeners.read_other_namespace(OWN_NETNS, [11, 12], proc) is None
    assert _listeners.read_other_namespace(OWN_NETNS, [11, 12], proc, named_path=str(tmp_path / "gone")) is None
    assert _listeners.read_other_namespace(OWN_NETNS, [11, 12], proc, named_path=str(tmp_path / "12" / "ns" / "net")) is None


def test_the_named_path_is_tried_when_no_process_is_left(tmp_path, own_listener):
    proc = fake_proc(tmp_path, {11: "ended"})
    sockets, unavailable = _listeners.read_other_namespace(OWN_NETNS, [11], proc, named_path="/proc/self/ns/net")
    if os.geteuid() == 0:
        assert unavailable == []
        assert own_listener in [s["inode"] for s in sockets]
    else:  # no /proc/PID/net is left to read instead: nothing is claimed
        assert sockets == []
        assert unavailable[0]["tool"] == "sock_diag"
        assert "no process is left in the namespace" in unavailable[0]["reason"]
