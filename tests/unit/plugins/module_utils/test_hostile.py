# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile and odd data, with exact results: process names with spaces, quotes, newlines and
non-UTF-8 bytes (real processes, and /proc captured from one), iptables comments with quotes,
interface names at the 15-character limit, port 65535, a 20,000-rule ruleset, IPv6 scoped
addresses; and one example for each parser bug the property tests (test_parsers_props.py) found.

fixtures/hostile was captured from a lab host by fixtures/hostile/capture.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.portproof.validate.bench.firewall_bench import ruleset
from ansible_collections.portproof.validate.plugins.module_utils._firewall import _iptables, _iptables_args, _nft
from ansible_collections.portproof.validate.plugins.module_utils._mappings import _nat
from ansible_collections.portproof.validate.plugins.module_utils._sockets import _addresses, _listeners, _netlink, _proc_net, _processes, _sock_diag
from ansible_collections.portproof.validate.plugins.module_utils._probe._http import build_request, json_check
from ansible_collections.portproof.validate.plugins.module_utils._probe._run import run
from ansible_collections.portproof.validate.plugins.module_utils._probe._session import Session
from ansible_collections.portproof.validate.plugins.module_utils._probe._target import ProbeConfigError, Target
from ansible_collections.portproof.validate.plugins.module_utils._probe._x509 import hostname_matches, parse_certificate

HERE = os.path.join(os.path.dirname(__file__), "fixtures")
HOSTILE = os.path.join(HERE, "hostile")
with open(os.path.join(HOSTILE, "names.json")) as _handle:
    NAMES = json.load(_handle)
IFNAME = NAMES["ifname"]


def fixture(name, mode="r"):
    with open(os.path.join(HOSTILE, name), mode) as handle:
        return handle.read()


def messages(name):
    return [bytes.fromhex(line) for line in fixture(name).split()]


# -- process names: real processes --------------------------------------------------------------

HOLD = r"""
import ctypes, socket, sys
name = bytes.fromhex(sys.argv[1])
if name:
    ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", 0))
sock.listen()
print(sock.getsockname()[1], flush=True)
sys.stdin.read()
"""


@pytest.fixture
def odd_process(tmp_path):
    """Start ``python3`` under an odd executable name (a symlink: the kernel names the process after
    the file it executes) or renamed with prctl; it listens on 127.0.0.1 and lives until the test ends."""
    started = []

    def start(exe_name=None, prctl_name=b"", args=()):
        python = os.path.realpath(sys.executable if not os.path.exists("/usr/bin/python3") else "/usr/bin/python3")
        exe = python
        if exe_name is not None:
            exe = os.path.join(os.fsencode(str(tmp_path)), exe_name)
            os.symlink(python, exe)
        proc = subprocess.Popen([exe, "-c", HOLD, prctl_name.hex()] + list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        started.append(proc)
        port = int(proc.stdout.readline())
        return proc, port

    yield start
    for proc in started:
        proc.stdin.close()
        proc.wait(timeout=10)


def _listener(port):
    listeners, _unavailable, _warnings = _listeners.gather("host")
    found = [item for item in listeners if item["port"] == port and item["proto"] == "tcp"]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("exe_name, prctl_name, shown", [
    (b"my server", b"", "my server"),                                  # a space
    (b"quote\"d 'it'", b"", "quote\"d 'it'"),                          # quotes
    (b"line\nbreak", b"", "line\nbreak"),                              # a newline inside the name
    (b"caf\xe9-\xff\xfe", b"", "caf\\xe9-\\xff\\xfe"),                 # not UTF-8 (Latin-1 bytes)
    (b"abcdefghijklmnopqrstuvwxyz", b"", "abcdefghijklmno"),           # the kernel keeps 15 bytes
    (None, b"worker:idle \xf0\x9f\x94", "worker:idle \\xf0\\x9f\\x94"),    # prctl, a cut 4-byte UTF-8 sequence
    (None, 'naïve ✓'.encode("utf-8"), "naïve ✓"),                      # valid UTF-8 stays as it is
])
def test_odd_process_names_are_reported_exactly(odd_process, exe_name, prctl_name, shown):
    proc, port = odd_process(exe_name, prctl_name, args=["--flag with spaces", "new\nline", "x\x01y"])
    scan = _processes.ProcScan().scan()
    assert scan.process(proc.pid)["process"] == shown
    item = _listener(port)
    assert (item["address"], item["pid"], item["process"], item["netns"]) == ("127.0.0.1", proc.pid, shown, "host")


def test_captured_comm_and_status_of_an_odd_process(tmp_path):
    """/proc/PID/comm and status as the kernel gave them for the capture's process ``odd "name"\\xff``."""
    base = tmp_path / "proc" / "4242"
    base.mkdir(parents=True)
    (base / "comm").write_bytes(fixture("proc-comm.bin", "rb"))
    (base / "status").write_bytes(fixture("proc-status.bin", "rb"))
    assert fixture("proc-comm.bin", "rb") == bytes.fromhex(NAMES["process"]) + b"\n"
    assert _processes.ProcScan(str(tmp_path / "proc")).process(4242) == {"pid": 4242, "process": 'odd "name"\\xff', "user": "root"}


# -- iptables comments with quotes, 15-character interfaces, port 65535 --------------------------


def test_iptables_comments_with_quotes_and_the_interface_name_limit():
    tables, incompatible = _iptables.parse_save(fixture("iptables-save.txt"), "ip", "iptables-nft")
    assert incompatible == []
    rules = tables[0]["chains"][0]["rules"]
    assert [(r["comment"], r["match"], r["verdict"]) for r in rules] == [
        ('say "hello" to 65535', [{"key": "l4proto", "op": "eq", "values": ["tcp"]}, {"key": "dport", "op": "eq", "values": [65535]}],
         {"kind": "accept"}),
        ("it's the 'edge'", [{"key": "l4proto", "op": "eq", "values": ["udp"]}, {"key": "dport", "op": "eq", "values": ["65534-65535"]}],
         {"kind": "accept"}),
        (None, [{"key": "iifname", "op": "eq", "values": [IFNAME]}], {"kind": "drop"}),
        (None, [{"key": "iifname", "op": "eq", "values": [IFNAME[:-1] + "*"]}, {"key": "l4proto", "op": "eq", "values": ["tcp"]},
                {"key": "sport", "op": "eq", "values": [65535]}], {"kind": "accept"}),
    ]
    assert len(IFNAME) == 15
    assert rules[1]["text"] == ('-A INPUT -p udp -m multiport --dports 65534:65535 -m comment --comment "it\\\'s the \\\'edge\\\'" '
                                '-j ACCEPT')


def test_ip6tables_scoped_source_and_quoted_comment():
    tables, _incompatible = _iptables.parse_save(fixture("ip6tables-save.txt"), "ip6", "ip6tables-nft")
    (rule,) = tables[0]["chains"][0]["rules"]
    assert rule["comment"] == 'say "hello" to 65535'
    assert rule["match"] == [{"key": "saddr", "op": "eq", "values": ["fe80::/10"]}, {"key": "iifname", "op": "eq", "values": [IFNAME]},
                             {"key": "l4proto", "op": "eq", "values": ["tcp"]}, {"key": "dport", "op": "eq", "values": [65535]}]


@pytest.mark.parametrize("line, words", [
    ('-A INPUT -m comment --comment "a \\"b\\" c" -j ACCEPT', ["-A", "INPUT", "-m", "comment", "--comment", 'a "b" c', "-j", "ACCEPT"]),
    ("-A INPUT -m comment --comment \"it\\'s\" -j ACCEPT", ["-A", "INPUT", "-m", "comment", "--comment", "it's", "-j", "ACCEPT"]),
    ('-A INPUT -m comment --comment "back\\\\slash" -j ACCEPT', ["-A", "INPUT", "-m", "comment", "--comment", "back\\slash", "-j", "ACCEPT"]),
    ('-A INPUT -m comment --comment "" -j ACCEPT', ["-A", "INPUT", "-m", "comment", "--comment", "", "-j", "ACCEPT"]),
])
def test_iptables_save_quoting(line, words):
    assert _iptables_args.words(line) == words


def test_iptables_unterminated_quote_is_a_parse_error():
    text = '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment "open -j ACCEPT\nCOMMIT\n'
    with pytest.raises(_iptables.IptablesParseError) as info:
        _iptables.parse_save(text, "ip", "iptables-nft")
    assert str(info.value) == ("iptables-nft line 3: unterminated quote in '-A INPUT -m comment --comment \"open -j ACCEPT': "
                               "'-A INPUT -m comment --comment \"open -j ACCEPT'")


def test_nft_comment_with_a_quote_interface_limit_and_port_65535():
    tables = _nft.parse_nft_json(fixture("nft-list-ruleset.json"), fixture("nft-a-list-ruleset.txt"))
    hostile = [t for t in tables if t["name"] == "hostile"][0]
    first, second = hostile["chains"][0]["rules"]
    assert (first["comment"], first["text"]) == ("it's 65535", 'iifname "%s" tcp dport 65535 accept comment "it\'s 65535"' % IFNAME)
    assert first["match"] == [{"key": "iifname", "op": "eq", "values": [IFNAME]}, {"key": "l4proto", "op": "eq", "values": ["tcp"]},
                              {"key": "dport", "op": "eq", "values": [65535]}]
    assert second["match"][-1] == {"key": "dport", "op": "eq", "values": ["65534-65535"]}


def test_sock_diag_scoped_listener_on_port_65535_and_15_character_interface():
    inodes = json.loads(fixture("sockets.json"))
    found = [_sock_diag.parse_message(m, "tcp", "ipv6") for m in messages("sock_diag-tcp-ipv6.hex")]
    found += [_sock_diag.parse_message(m, "udp", "ipv4") for m in messages("sock_diag-udp-ipv4.hex")]
    ours = [s for s in found if s["inode"] in inodes["inodes"]]
    assert ours == [
        {"proto": "tcp", "family": "ipv6", "address": "fe80::1", "port": 65535, "state": 10, "inode": inodes["inodes"][0], "uid": 0,
         "v6only": True, "ifindex": inodes["ifindex"]},
        {"proto": "udp", "family": "ipv4", "address": "0.0.0.0", "port": 65535, "state": 7, "inode": inodes["inodes"][1], "uid": 0,
         "v6only": None, "ifindex": 0},
    ]
    links = _addresses.parse_links(messages("rtnetlink-links.hex"))
    assert links[inodes["ifindex"]] == IFNAME
    scoped = [a for a in _addresses.parse_addresses(messages("rtnetlink-addrs.hex"), links) if a["address"] == "fe80::1"]
    assert scoped == [{"interface": IFNAME, "family": "ipv6", "address": "fe80::1", "prefix": 64, "scope": "link"}]


def test_proc_net_port_65535_from_a_real_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 65535))
    except OSError as exc:
        sock.close()
        pytest.skip("127.0.0.1:65535 is in use here: %s" % exc)
    try:
        sock.listen()
        inode = os.fstat(sock.fileno()).st_ino
        with open("/proc/net/tcp") as handle:
            found = [s for s in _proc_net.parse_table(handle.read(), "tcp", "ipv4", "tcp") if s["inode"] == inode]
        assert found == [{"proto": "tcp", "family": "ipv4", "address": "127.0.0.1", "port": 65535, "state": 10, "inode": inode,
                          "uid": os.getuid(), "v6only": None, "ifindex": 0}]
        result = run({"targets": [{"host": "127.0.0.1", "port": 65535, "timeout": 3}]})["probes"][0]
        assert (result["state"], result["port"]) == ("open", 65535)
    finally:
        sock.close()


@pytest.mark.parametrize("port, error", [(65535, None), (65536, "targets[0] (127.0.0.1:65536/tcp): port must be an integer from 1 to 65535"),
                                         (0, "targets[0] (127.0.0.1:0/tcp): port must be an integer from 1 to 65535")])
def test_probe_target_port_limit(port, error):
    if error is None:
        assert Target(0, {"host": "127.0.0.1", "port": port}).port == 65535
    else:
        with pytest.raises(ProbeConfigError) as info:
            Target(0, {"host": "127.0.0.1", "port": port})
        assert str(info.value) == error


# -- IPv6 scoped addresses in probes -----------------------------------------------------------


def test_http_host_header_leaves_out_the_zone_of_a_scoped_target():
    target = Target(0, {"host": "fe80::1%" + IFNAME, "port": 8080, "http": {}})
    assert build_request(target).split(b"\r\n")[:2] == [b"GET / HTTP/1.1", b"Host: [fe80::1]:8080"]


def test_certificate_ip_san_matches_a_scoped_address():
    import ssl

    with open(os.path.join(HERE, "probe", "ip_addresses.pem")) as handle:
        cert = parse_certificate(ssl.PEM_cert_to_DER_cert(handle.read()))
    assert cert["ip_addresses"] == ["127.0.0.1", "::1"]
    assert hostname_matches(cert, "::1%lo") is True
    assert hostname_matches(cert, "fe80::1%" + IFNAME) is False


# -- a huge ruleset ------------------------------------------------------------------------------


def test_twenty_thousand_rules_parse_exactly():
    text = ruleset(20000)
    start = time.perf_counter()
    tables, _incompatible = _iptables.parse_save(text, "ip", "iptables-nft")
    took = time.perf_counter() - start
    rules = [rule for table in tables for chain in table["chains"] for rule in chain["rules"]]
    assert len(rules) == 20000
    nat = [t for t in tables if t["name"] == "nat"][0]
    portmap = [c for c in nat["chains"] if c["name"] == "PORTMAP"][0]
    assert len(portmap["rules"]) == 500
    assert portmap["rules"][-1]["verdict"] == {"kind": "dnat", "addr": "10.99.1.251", "port": 80}
    mappings, problems = _nat.nat_mappings({"tables": tables})
    assert (len(mappings), problems) == (500, [])
    assert (mappings[0]["host_port"], mappings[-1]["host_port"], mappings[-1]["target_ip"]) == (20000, 20499, "10.99.1.251")
    assert took < 20, "parsing 20,000 rules took %.1f s" % took


# -- one example per bug the property tests found --------------------------------------------------


@pytest.mark.parametrize("doc, message", [
    ({"nftables": [None]}, "nft -j list ruleset: unexpected item null"),
    ({"nftables": [{"table": {"family": ["ip"], "name": "t", "handle": 1}}]},
     'nft -j list ruleset: unexpected item {"table": {"family": ["ip"], "name": "t", "handle": 1}}'),
    ({"nftables": [{"table": {"family": "ip", "name": "t", "handle": 1}},
                   {"chain": {"family": "ip", "table": "t", "name": "c", "handle": 1}},
                   {"rule": {"family": "ip", "table": "t", "chain": "c", "handle": 2, "expr": [{"limit": [1]}]}}]},
     "nft -j list ruleset: rule {\"family\": \"ip\", \"table\": \"t\", \"chain\": \"c\", \"handle\": 2, \"expr\": [{\"limit\": [1]}]}: "
     "unexpected shape ('list' object has no attribute 'get')"),
])
def test_nft_items_of_the_wrong_shape_are_parse_errors(doc, message):
    with pytest.raises(_nft.NftParseError) as info:
        _nft.parse_nft_json(json.dumps(doc))
    assert str(info.value) == message


def test_nft_listing_cut_after_the_family():
    assert _nft.rule_texts("table inet\n\tchain input {\n\t\ttcp dport 22 accept # handle 4\n") == {
        "devices": {}, ("inet", None, "input", 4): "tcp dport 22 accept"}


class _Replay(object):
    def __init__(self, data):
        self.data = [data]

    def sendto(self, data, address):
        return len(data)

    def recv(self, size):
        return self.data.pop(0) if self.data else b""


@pytest.mark.parametrize("answer, message", [
    (b"\x10\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00",
     "malformed netlink message (error of 0 bytes)"),
    (b"\x14\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80",
     "netlink request type 20 failed: error 2147483648"),
    (b"\x14\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xfe\xff\xff\xff",
     "netlink request type 20 failed: No such file or directory"),
])
def test_netlink_error_answers(answer, message):
    with pytest.raises(_netlink.NetlinkError) as info:
        _netlink.dump(_Replay(answer), 20, b"")
    assert str(info.value) == message


@pytest.mark.parametrize("links, addrs, message", [
    ([b"\x00" * 8], [], "short rtnetlink message: RTM_NEWLINK of 8 bytes"),
    ([], [b"\x0a\x40"], "short rtnetlink message: RTM_NEWADDR of 2 bytes"),
    ([], [b"\x0a\x40\x00\xfd\x01\x00\x00\x00" + b"\x08\x00\x01\x00" + b"\xfe\x80\x00\x00"],
     "short rtnetlink message: RTM_NEWADDR with a 4-byte address"),
])
def test_short_rtnetlink_messages(links, addrs, message):
    with pytest.raises(_netlink.NetlinkError) as info:
        _addresses.parse_addresses(addrs, _addresses.parse_links(links))
    assert str(info.value) == message


@pytest.mark.parametrize("status, user", [
    (b"Name:\tx\nUid:\n", None), (b"Name:\tx\nUid:\tx\t0\t0\t0\n", None), (b"Uid:\t99999999999999999999\t0\t0\t0\n", "99999999999999999999"),
    (b"Uid:\t0\t0\t0\t0\n", "root"),
])
def test_status_uid_lines(tmp_path, status, user):
    base = tmp_path / "7"
    base.mkdir()
    (base / "comm").write_bytes(b"x\n")
    (base / "status").write_bytes(status)
    assert _processes.ProcScan(str(tmp_path)).process(7) == {"pid": 7, "process": "x", "user": user}


@pytest.mark.parametrize("cgroup, config, found", [
    (b"0::/system.slice/docker-" + b"a" * 64 + b".scope\xff\n", b'{"Name": "/db"}', {"engine": "docker", "id": "a" * 64, "name": "db"}),
    (b"0::/system.slice/docker-" + b"a" * 64 + b".scope\n", b'["db"]', {"engine": "docker", "id": "a" * 64, "name": None}),
    (b"0::/system.slice/docker-" + b"a" * 64 + b".scope\n", b'{"Name": 5}', {"engine": "docker", "id": "a" * 64, "name": None}),
    (b"\xff\xfe", b"{}", None),
])
def test_container_markers_of_the_wrong_shape(tmp_path, cgroup, config, found):
    (tmp_path / "proc" / "9").mkdir(parents=True)
    (tmp_path / "proc" / "9" / "cgroup").write_bytes(cgroup)
    (tmp_path / "docker" / "containers" / ("a" * 64)).mkdir(parents=True)
    (tmp_path / "docker" / "containers" / ("a" * 64) / "config.v2.json").write_bytes(config)
    assert _processes.container_of(9, str(tmp_path / "proc"), str(tmp_path / "docker")) == found


def test_deeply_nested_json_body_is_not_json():
    entry, document = json_check("status", b"[" * 100000, False)
    assert (entry["name"], entry["status"], document) == ("http_json", "fail", None)
    assert entry["message"].startswith("body is not JSON: maximum recursion depth exceeded")


def test_malformed_ssh_server_hello_is_a_failed_handshake():
    pytest.importorskip("paramiko")
    from ansible_collections.portproof.validate.plugins.module_utils._probe._ssh import ssh_session

    hello = bytearray(bytes.fromhex(fixture(os.path.join(os.pardir, "probe", "sshd-server-hello.hex")).strip()))
    cut = hello.index(b"\r\n") + 2 + 5 + 1 + 16 + 4  # banner, packet header and type, cookie, first name-list length
    hello[cut:cut + 4] = b"\xff\xfe\xfd\xfc"  # not UTF-8 inside the kex algorithm names
    target = Target(0, {"host": "127.0.0.1", "port": 22, "timeout": 3, "ssh": {}})
    session = Session(target)
    session.start()
    ours, theirs = socket.socketpair()
    try:
        theirs.sendall(bytes(hello))
        theirs.shutdown(socket.SHUT_WR)
        ssh_session(session, ours)
    finally:
        ours.close()
        theirs.close()
    entry = session.checks["ssh_handshake"]
    assert entry["status"] == "fail"
    assert entry["message"].startswith("SSH handshake failed: 'utf-8' codec can't decode byte 0xff")


def test_nft_jump_to_a_chain_that_is_not_a_name():
    doc = {"nftables": [{"table": {"family": "ip", "name": "nat", "handle": 1}},
                        {"chain": {"family": "ip", "table": "nat", "name": "PREROUTING", "handle": 1, "type": "nat",
                                   "hook": "prerouting", "prio": -100, "policy": "accept"}},
                        {"rule": {"family": "ip", "table": "nat", "chain": "PREROUTING", "handle": 2,
                                  "expr": [{"jump": {"target": ["PREROUTING"]}}]}}]}
    tables = _nft.parse_nft_json(json.dumps(doc))
    (rule,) = tables[0]["chains"][0]["rules"]
    assert (rule["match"], rule["verdict"]) == (
        [], {"kind": "unsupported", "name": "jump", "reason": 'jump to ["PREROUTING"] is not understood'})
    assert _nat.nat_mappings({"tables": tables}) == ([], [])


def test_engine_host_ip_that_is_not_a_string():
    from ansible_collections.portproof.validate.plugins.module_utils._mappings._containers import EngineError, parse_inspect

    ports = {"80/tcp": [{"HostIp": -1, "HostPort": "8080"}]}
    doc = [{"Id": "a" * 64, "Name": "/web", "NetworkSettings": {"IPAddress": -1, "Ports": ports}}]
    with pytest.raises(EngineError) as info:
        parse_inspect(json.dumps(doc), "docker")
    assert str(info.value) == ('docker inspect container web: port 80/tcp has an unexpected binding [{"HostIp": -1, "HostPort": "8080"}] '
                               "(HostIp -1 is not a string)")
    doc[0]["NetworkSettings"]["Ports"]["80/tcp"][0]["HostIp"] = "0.0.0.0"
    (record,) = parse_inspect(json.dumps(doc), "docker")
    assert (record["ips"], record["ports"]) == ([], [{"proto": "tcp", "host_ip": "0.0.0.0", "host_port": 8080, "container_port": 80}])


def test_ipset_family_as_the_last_word():
    from ansible_collections.portproof.validate.plugins.module_utils._firewall._ipset import parse_ipset_save

    assert parse_ipset_save("create cut hash:ip family\nadd cut 192.0.2.1\n") == {
        "cut": {"type": "hash:ip", "family": None, "elements": [["192.0.2.1"]], "dimensions": ["ip"]}}


def test_nft_expression_that_is_a_list():
    doc = {"nftables": [{"table": {"family": "ip", "name": "t", "handle": 1}},
                        {"chain": {"family": "ip", "table": "t", "name": "c", "handle": 1}},
                        {"rule": {"family": "ip", "table": "t", "chain": "c", "handle": 2, "expr": [[5]]}}]}
    with pytest.raises(_nft.NftParseError) as info:
        _nft.parse_nft_json(json.dumps(doc))
    assert str(info.value) == ('nft -j list ruleset: rule {"family": "ip", "table": "t", "chain": "c", "handle": 2, "expr": [[5]]}: '
                               "unexpected shape (list index out of range)")


def test_engine_container_id_that_is_not_a_string():
    from ansible_collections.portproof.validate.plugins.module_utils._mappings._containers import EngineError, parse_inspect

    with pytest.raises(EngineError) as info:
        parse_inspect(json.dumps([{"Id": ["a"], "Name": "/web"}]), "podman")
    assert str(info.value) == 'podman inspect: unexpected shape (Id ["a"] is not a string) in {"Id": ["a"], "Name": "/web"}'
