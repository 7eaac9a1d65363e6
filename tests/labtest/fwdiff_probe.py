# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the kernel does with new connections: run inside a source lab host by the firewall
differential test (test_firewall_differential.py), standard library only.

Reads ``{"probes": [{id, src, sport, dst, proto, dport}], "tcp_timeout", "udp_timeout",
"workers"}`` as JSON on stdin and prints ``[{id, kernel, detail}]``. Each probe is one new
connection from its own source address and port: TCP connects (a handshake is ``accept``, a
reset or an ICMP error is ``reject``, silence is ``drop``); UDP sends one datagram on a
connected socket with IP_RECVERR (the echo is ``accept``, an ICMP error is ``reject``, silence
is ``drop``). A probe that cannot even be sent is ``error``.
"""

from __future__ import annotations

import errno
import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

IP_RECVERR = 11
IPV6_RECVERR = 25
# ICMP errors and resets: the target (or a firewall on the way) answered "no".
REJECTED = {errno.ECONNREFUSED: "refused", errno.EHOSTUNREACH: "host unreachable", errno.ENETUNREACH: "net unreachable",
            errno.EACCES: "prohibited", errno.EHOSTDOWN: "host down", errno.ECONNRESET: "reset",
            errno.EPROTO: "protocol error", errno.ENOPROTOOPT: "protocol unreachable"}


def _socket(probe, kind):
    family = socket.AF_INET6 if ":" in probe["src"] else socket.AF_INET
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if kind == socket.SOCK_DGRAM:
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
    sock.bind((probe["src"], probe["sport"]))
    return sock


def _refusal(exc):
    if exc.errno in REJECTED:
        return "reject", "%s (%s)" % (REJECTED[exc.errno], errno.errorcode.get(exc.errno, exc.errno))
    return "error", "%s" % exc


def probe_tcp(probe, timeout):
    try:
        sock = _socket(probe, socket.SOCK_STREAM)
    except OSError as exc:
        return "error", "bind %s:%s: %s" % (probe["src"], probe["sport"], exc)
    try:
        sock.settimeout(timeout)
        sock.connect((probe["dst"], probe["dport"]))
        return "accept", "connected"
    except socket.timeout:
        return "drop", "no answer in %.1f s" % timeout
    except OSError as exc:
        return _refusal(exc)
    finally:
        sock.close()


def probe_udp(probe, timeout):
    try:
        sock = _socket(probe, socket.SOCK_DGRAM)
    except OSError as exc:
        return "error", "bind %s:%s: %s" % (probe["src"], probe["sport"], exc)
    try:
        sock.connect((probe["dst"], probe["dport"]))
        sock.send(("portproof %s\n" % probe["id"]).encode())
        sock.settimeout(timeout)
        data = sock.recv(4096)
        return "accept", "reply %r" % data[:32]
    except socket.timeout:
        return "drop", "no reply in %.1f s" % timeout
    except OSError as exc:
        return _refusal(exc)
    finally:
        sock.close()


def run(request):
    def one(probe):
        if probe["proto"] == "tcp":
            kernel, detail = probe_tcp(probe, request["tcp_timeout"])
        else:
            kernel, detail = probe_udp(probe, request["udp_timeout"])
        return {"id": probe["id"], "kernel": kernel, "detail": detail}

    with ThreadPoolExecutor(max_workers=request["workers"]) as pool:
        return list(pool.map(one, request["probes"]))


def main():
    json.dump(run(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
