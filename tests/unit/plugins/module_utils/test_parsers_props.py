# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Property-based tests over every parser of the target side: any input gives a result or the
parser's own error, never another exception.

Inputs are mostly near-valid (the captured fixtures with lines, tokens and bytes edited, see
tests/unit/props.py) and partly fully random. Settings (deterministic, bounded) are the
``portproof`` hypothesis profile of tests/unit/conftest.py.
"""

from __future__ import annotations

import glob
import json
import os
import socket
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.portproof.validate.plugins.module_utils._firewall import _ipset, _iptables, _nft
from ansible_collections.portproof.validate.plugins.module_utils._mappings import _containers, _nat
from ansible_collections.portproof.validate.plugins.module_utils._mappings._gather import join
from ansible_collections.portproof.validate.plugins.module_utils._sockets import _addresses, _netlink, _proc_net, _processes, _sock_diag
from ansible_collections.portproof.validate.plugins.module_utils._probe._http import http_session, json_check
from ansible_collections.portproof.validate.plugins.module_utils._probe._session import Session
from ansible_collections.portproof.validate.plugins.module_utils._probe._target import Target
from ansible_collections.portproof.validate.plugins.module_utils._probe._x509 import (
    CertificateError, hostname_matches, parse_certificate,
)
from ansible_collections.portproof.validate.tests.unit.props import (
    ODD_TOKENS, as_json_text, mutated_bytes, mutated_json, mutated_text,
)

HERE = os.path.join(os.path.dirname(__file__), "fixtures")


def _read(path, mode="r"):
    with open(path, mode) as handle:
        return handle.read()


def _all(pattern):
    return [_read(path) for path in sorted(glob.glob(os.path.join(HERE, pattern)))]


IPTABLES = _all("firewall/*/ip*tables-*-save.txt") + _all("mappings/*/ip*tables-*-save.txt")
IPSET = _all("firewall/*/ipset-save.txt")
NFT_JSON = [json.loads(text) for text in _all("firewall/*/nft-list-ruleset.json") + _all("mappings/*/nft-list-ruleset.json")
            if text.strip()]
NFT_LISTING = _all("firewall/*/nft-a-list-ruleset.txt")
PROC_NET = dict((name, _read(os.path.join(HERE, "listeners", "proc-net-%s.txt" % name))) for name in ("tcp", "tcp6", "udp", "udp6"))
HEX = dict((os.path.basename(path)[:-4], [bytes.fromhex(line) for line in _read(path).split()])
           for path in glob.glob(os.path.join(HERE, "listeners", "*.hex")))
SOCK_DIAG = [(name.split("-")[1], name.split("-")[2], msg) for name, msgs in HEX.items() if name.startswith("sock_diag") for msg in msgs]
INSPECT = [(engine, json.loads(_read(os.path.join(HERE, "mappings", "podman", "%s-inspect.json" % engine)))) for engine in ("podman", "docker")]
PODMAN_PS = json.loads(_read(os.path.join(HERE, "mappings", "podman", "podman-ps.json")))
IMAGE_INSPECT = json.loads(_read(os.path.join(HERE, "mappings", "podman", "docker-image-inspect.json")))
CERTS = [_read(path, "rb") for path in sorted(glob.glob(os.path.join(HERE, "probe", "*.pem")))]
DER = [__import__("ssl").PEM_cert_to_DER_cert(pem.decode("ascii")) for pem in CERTS]

RANDOM_TEXT = st.text(max_size=300)


# -- iptables-save, ipset save, nft JSON --------------------------------------------------------


@given(text=st.one_of(mutated_text(IPTABLES), RANDOM_TEXT), family=st.sampled_from(("ip", "ip6")))
def test_iptables_save_parses_or_names_the_line(text, family):
    try:
        tables, incompatible = _iptables.parse_save(text, family, "iptables-nft", _ipset.parse_ipset_save(IPSET[0]))
    except _iptables.IptablesParseError as exc:
        assert str(exc).startswith("iptables-nft line ")
        return
    assert all(table["family"] == family for table in tables)
    assert all(isinstance(name, str) for name in incompatible)
    firewall = {"tables": tables}
    mappings, problems = _nat.nat_mappings(firewall)
    assert isinstance(mappings, list) and isinstance(problems, list)


@given(text=st.one_of(mutated_text(IPSET), RANDOM_TEXT))
def test_ipset_save_always_parses(text):
    sets = _ipset.parse_ipset_save(text)
    for entry in sets.values():
        assert "unsupported" in entry or entry["dimensions"]


ANY_JSON = st.recursive(st.none() | st.integers() | st.text(max_size=8),
                        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                        max_leaves=20)


@given(doc=st.one_of(mutated_json(NFT_JSON), ANY_JSON),
       listing=st.one_of(st.just(""), mutated_text(NFT_LISTING)))
def test_nft_json_parses_or_says_where(doc, listing):
    text = json.dumps(doc)
    for call in (lambda: _nft.parse_nft_json(text, listing), lambda: _nft.nft_handles(text)):
        try:
            result = call()
        except _nft.NftParseError as exc:
            assert str(exc).startswith("nft -j list ruleset: ")
            continue
        assert isinstance(result, (list, dict))
        if isinstance(result, list):
            mappings, problems = _nat.nat_mappings({"tables": result})
            assert isinstance(mappings, list) and isinstance(problems, list)


@given(text=st.one_of(mutated_text(NFT_LISTING), RANDOM_TEXT))
def test_nft_listing_always_parses(text):
    assert "devices" in _nft.rule_texts(text)


# -- /proc/net, sock_diag, rtnetlink ----------------------------------------------------------------


@given(name=st.sampled_from(sorted(PROC_NET)), data=st.data())
def test_proc_net_parses_or_names_the_table_and_line(name, data):
    text = data.draw(st.one_of(mutated_text([PROC_NET[name]]), RANDOM_TEXT))
    proto, family = ("tcp" if name.startswith("tcp") else "udp"), ("ipv6" if name.endswith("6") else "ipv4")
    try:
        sockets = _proc_net.parse_table(text, proto, family, name)
    except _proc_net.ProcNetError as exc:
        assert str(exc).startswith("/proc/net/%s line " % name)
        return
    for sock in sockets:
        assert 0 <= sock["port"] <= 65535 or sock["port"] > 65535  # the kernel prints 4 hex digits
        socket.inet_pton(socket.AF_INET6 if family == "ipv6" else socket.AF_INET, sock["address"])


@given(case=st.sampled_from(SOCK_DIAG), data=st.data())
def test_sock_diag_message_parses_or_raises_value_error(case, data):
    proto, family, message = case
    body = data.draw(st.one_of(mutated_bytes([message]), st.binary(max_size=120)))
    try:
        record = _sock_diag.parse_message(body, proto, family)
    except ValueError as exc:
        assert str(exc).startswith("short inet_diag message")
        return
    assert 0 <= record["port"] <= 65535
    assert record["v6only"] in (None, True, False)


class _Replay(object):
    """A netlink socket stand-in that answers with recorded datagrams (the request is dropped)."""

    def __init__(self, datagrams):
        self.datagrams = list(datagrams)

    def sendto(self, data, address):
        return len(data)

    def recv(self, size):
        return self.datagrams.pop(0) if self.datagrams else b""


def _datagram(messages, msg_type=20, done=True):
    out = b""
    for body in messages:
        out += _netlink._NLMSG.pack(16 + len(body), msg_type, 2, 1, 0) + body + b"\0" * (_netlink.align(len(body)) - len(body))
    if done:
        out += _netlink._NLMSG.pack(20, _netlink.NLMSG_DONE, 2, 1, 0) + b"\0" * 4
    return out


NETLINK_DUMPS = [_datagram([msg for _p, _f, msg in SOCK_DIAG]), _datagram(HEX["rtnetlink-addrs"], 20),
                 _datagram(HEX["rtnetlink-links"], 16), _netlink._NLMSG.pack(20, _netlink.NLMSG_ERROR, 0, 1, 0) + b"\xff\xff\xff\xff"]


@given(data=st.one_of(mutated_bytes(NETLINK_DUMPS, max_edits=6), st.binary(max_size=200)))
def test_netlink_dump_answers_or_raises_netlink_error(data):
    try:
        messages = _netlink.dump(_Replay([data]), 20, b"")
    except _netlink.NetlinkError as exc:
        assert str(exc).startswith(("netlink socket closed", "malformed netlink message", "netlink request type 20 failed"))
        return
    assert all(isinstance(body, bytes) for body in messages)


@given(links=st.lists(st.one_of(mutated_bytes(HEX["rtnetlink-links"]), st.binary(max_size=60)), max_size=4),
       addrs=st.lists(st.one_of(mutated_bytes(HEX["rtnetlink-addrs"]), st.binary(max_size=60)), max_size=4))
def test_rtnetlink_messages_parse_or_raise_value_error(links, addrs):
    try:
        names = _addresses.parse_links(links)
        found = _addresses.parse_addresses(addrs, names)
    except _netlink.NetlinkError as exc:
        assert str(exc).startswith("short rtnetlink message")
        return
    for item in found:
        assert item["family"] in ("ipv4", "ipv6")


# -- /proc: comm, status, container markers ------------------------------------------------------

COMM = [b"postgres\n", b"python3\n", b"conmon\n"]
STATUS = [b"Name:\tpostgres\nUmask:\t0077\nState:\tS (sleeping)\nTgid:\t812\nPid:\t812\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"]
CONTAINERENV = [b'engine="podman-4.3.1"\nname="web"\nid="830730e4a0ef833e152672d23c496e1216115999d623223df19d22a2a2d7af7a"\n'
                b'image="localhost/ppmap/busybox:1"\nrootless=0\n']
CGROUP = [b"0::/system.slice/docker-" + b"a" * 64 + b".scope\n", b"0::/machine.slice/libpod-" + b"b" * 64 + b".scope/container\n"]
DOCKER_CONFIG = [b'{"Name": "/db", "ID": "' + b"a" * 64 + b'"}']


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


@given(comm=st.one_of(mutated_bytes(COMM), st.binary(max_size=20)), status=st.one_of(mutated_bytes(STATUS), st.binary(max_size=80)),
       env=st.one_of(st.none(), mutated_bytes(CONTAINERENV), st.binary(max_size=80)),
       cgroup=st.one_of(mutated_bytes(CGROUP), st.binary(max_size=80)),
       config=st.one_of(mutated_bytes(DOCKER_CONFIG), st.binary(max_size=40)))
def test_proc_process_and_container_always_answer(comm, status, env, cgroup, config):
    with tempfile.TemporaryDirectory(prefix="ppprops-") as root:
        _write(os.path.join(root, "proc", "812", "comm"), comm)
        _write(os.path.join(root, "proc", "812", "status"), status)
        _write(os.path.join(root, "proc", "812", "cgroup"), cgroup)
        if env is not None:
            _write(os.path.join(root, "proc", "812", "root", "run", ".containerenv"), env)
        _write(os.path.join(root, "docker", "containers", "a" * 64, "config.v2.json"), config)
        info = _processes.ProcScan(os.path.join(root, "proc")).process(812)
        assert info["pid"] == 812
        assert info["process"] is None or isinstance(info["process"], str)
        assert info["user"] is None or isinstance(info["user"], str)
        found = _processes.container_of(812, os.path.join(root, "proc"), os.path.join(root, "docker"))
        assert found is None or (found["engine"] in ("podman", "docker") and (found["name"] is None or isinstance(found["name"], str)))


# -- container engines' JSON and the joined mappings --------------------------------------------


@given(case=st.sampled_from(INSPECT), data=st.data())
def test_engine_inspect_parses_or_raises_engine_error(case, data):
    engine, doc = case
    text = data.draw(st.one_of(as_json_text(mutated_json([doc])), st.text(max_size=50)))
    try:
        records = _containers.parse_inspect(text, engine)
    except _containers.EngineError as exc:
        assert str(exc).startswith("%s inspect" % engine)
        return
    for record in records:
        for port in record["ports"]:
            assert isinstance(port["host_port"], int) and isinstance(port["container_port"], int)
    nat, _problems = _nat.nat_mappings({"tables": _iptables.parse_save(IPTABLES[0], "ip", "iptables-nft")[0]})
    assert isinstance(join(records, nat), list)


@given(ps=st.one_of(as_json_text(mutated_json([PODMAN_PS])), st.text(max_size=30)),
       images=st.one_of(as_json_text(mutated_json([IMAGE_INSPECT])), st.text(max_size=30)))
def test_engine_ps_and_image_inspect_parse_or_raise_engine_error(ps, images):
    for call in (lambda: _containers.parse_podman_ps(ps), lambda: _containers.parse_image_digests(images)):
        try:
            assert isinstance(call(), dict)
        except _containers.EngineError as exc:
            assert str(exc).startswith(("podman ps: ", "docker image inspect: "))


@given(image=st.one_of(st.none(), st.text(max_size=30), st.sampled_from(ODD_TOKENS)),
       digests=st.one_of(st.none(), st.lists(st.text(max_size=30), max_size=3)))
def test_pick_digest_always_answers(image, digests):
    found = _containers.pick_digest(image, digests)
    assert found is None or isinstance(found, str)


# -- probes: HTTP response, SSH server hello, X.509 ------------------------------------------------

HTTP_RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}",
    b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://web.test/\r\nServer: nginx\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.0 503 Service Unavailable\r\n\r\n",
]


def _serve_once(data, run):
    """RUN(session, stream) with DATA as everything the server ever sends, then closes."""
    ours, theirs = socket.socketpair()
    try:
        theirs.sendall(data)
        theirs.shutdown(socket.SHUT_WR)
        return run(ours)
    finally:
        ours.close()
        theirs.close()


@given(data=st.one_of(mutated_bytes(HTTP_RESPONSES, max_edits=6), st.binary(max_size=200)))
def test_http_response_gives_a_check_or_a_clean_error(data):
    target = Target(0, {"host": "127.0.0.1", "port": 8080, "timeout": 5,
                        "http": {"status": [200], "body": "ok", "json_query": "status", "max_body": 64}})
    session = Session(target)
    session.start()
    _serve_once(data, lambda stream: http_session(session, stream))
    entry = session.checks["http_status"]
    assert entry["status"] in ("pass", "fail", "error")
    if entry["status"] == "error":
        assert entry["message"].startswith("no valid HTTP response: ")
    else:
        assert session.checks["http_json"]["status"] in ("pass", "fail", "error")


@given(body=st.one_of(st.binary(max_size=100), st.integers(1, 200000).map(lambda n: b"[" * n), mutated_bytes([b'{"status": "ok"}'])))
def test_json_body_is_checked_or_not_json(body):
    entry, _document = json_check("status", body, False)
    assert entry["status"] in ("pass", "fail")
    if entry["status"] == "fail" and entry["message"] != "expression is false (evaluated on the probing host)":
        assert entry["message"].startswith("body is not JSON: ")


SSH_HELLO = [bytes.fromhex(_read(os.path.join(HERE, "probe", "sshd-server-hello.hex")).strip())]


@pytest.mark.skipif(not __import__("importlib").util.find_spec("paramiko"), reason="paramiko not installed")
@settings(max_examples=40)
@given(data=mutated_bytes(SSH_HELLO, max_edits=3))
def test_ssh_server_hello_gives_a_handshake_result(data):
    """Banner and KEXINIT captured from OpenSSH 9.2 (the sshd of probe_servers.Sshd), then edited."""
    from ansible_collections.portproof.validate.plugins.module_utils._probe._ssh import ssh_session

    target = Target(0, {"host": "127.0.0.1", "port": 22, "timeout": 3, "ssh": {"auth_methods": ["publickey"]}})
    session = Session(target)
    session.start()
    try:
        _serve_once(data, lambda stream: ssh_session(session, stream))
    except (socket.timeout, OSError):
        return  # the probe engine reports these as a timeout or a connection error
    entry = session.checks["ssh_handshake"]
    assert entry["status"] == "fail" and entry["message"].startswith("SSH handshake failed")


@given(der=st.one_of(mutated_bytes(DER, max_edits=3), st.binary(max_size=200)),
       hostname=st.one_of(st.sampled_from(("web.test", "192.0.2.10", "fe80::1%eth0", "*.test", "")), st.text(max_size=20)))
def test_certificate_parses_or_raises_certificate_error(der, hostname):
    try:
        cert = parse_certificate(der)
    except CertificateError:
        return
    assert len(cert["sha256"]) == 64
    assert hostname_matches(cert, hostname) in (True, False)
