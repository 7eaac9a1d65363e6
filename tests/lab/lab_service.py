# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A lab service: one process that listens where it is told and answers as it is told.

Started by the lab tool inside a lab host's network namespace. Standard library only, so it
runs on the lab host's own Python. It names itself (``/proc/PID/comm``) after ``--name`` so
that the lab can stand in for ``postgres``, ``redis`` or ``nginx`` with real sockets.

Listen specs: ``PROTO:ADDRESS:PORT[,OPTION...]`` with PROTO ``tcp`` or ``udp``, ADDRESS an
IPv4 address or a bracketed IPv6 address, options ``v6only`` (IPv6 socket that refuses IPv4),
``dual`` (IPv6 socket that also serves IPv4, whatever the sysctl says) and ``iface=NAME``
(bound to that interface, SO_BINDTODEVICE).

Behaviours (``--behavior``): ``accept`` (TCP: accept, send ``--banner`` if any, answer one line
with ``--reply``, close; UDP: answer every datagram with ``--reply`` or echo it), ``http``
(``--status``, ``--body``, ``--content-type``, ``--delay-ms``), ``hang`` (TCP: accept and never
answer; UDP: never answer), ``silent`` (UDP: read and never answer), ``echo`` (as ``http``, with the
request's head as the body, as a debug endpoint or a misconfigured proxy answers). ``--tls-cert``/``--tls-key``
wrap TCP in TLS.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import http.client
import os
import pwd
import selectors
import signal
import socket
import ssl
import struct
import sys
import threading
import time

PR_SET_NAME = 15


def set_process_name(name):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME) failed")


def expand_listen(spec):
    """A spec whose port is a range (``tcp:0.0.0.0:20000-20999``) stands for one socket a port."""
    head, _sep, port = spec.split(",", 1)[0].rpartition(":")
    options = spec[len(head) + 1 + len(port):]
    if "-" not in port:
        return [spec]
    first, last = (int(p) for p in port.split("-"))
    return ["%s:%d%s" % (head, number, options) for number in range(first, last + 1)]


def parse_listen(spec):
    proto, rest = spec.split(":", 1)
    options = []
    if "," in rest:
        rest, opts = rest.split(",", 1)
        options = opts.split(",")
    if rest.startswith("["):
        address, port = rest[1:].split("]:", 1)
        family = socket.AF_INET6
    else:
        address, port = rest.rsplit(":", 1)
        family = socket.AF_INET
    if proto not in ("tcp", "udp"):
        raise ValueError("bad protocol in listen spec %r" % spec)
    return proto, family, address, int(port), options


IP_PKTINFO = 8  # linux/in.h
IPV6_RECVPKTINFO = 49  # linux/in6.h
IPV6_PKTINFO = 50


def open_socket(proto, family, address, port, options):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        if "v6only" in options:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        elif "dual" in options:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    for option in options:
        if option.startswith("iface="):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, option[6:].encode())
    if proto == "udp":
        # the datagram's destination address comes with it, so that the answer leaves from it
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
    sock.bind((address, port))
    if proto == "tcp":
        sock.listen(128)
    return sock


def reply_ancillary(ancdata):
    """The ancillary data that makes an answer leave from the address the datagram went to.

    A socket bound to a wildcard address answers from the address the routing picks; after a
    DNAT to a local address, or on a host with several addresses, that is another address
    than the one the client sent to: conntrack does not recognise the answer as the reply (no
    reverse NAT) and the client discards it, which would read as a drop.
    """
    out = []
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= 12:
            # struct in_pktinfo {int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr}: send from ipi_addr
            out.append((level, kind, struct.pack("=i4s4s", 0, data[8:12], b"\0" * 4)))
        elif level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO and len(data) >= 20:
            # struct in6_pktinfo {in6_addr ipi6_addr; int ipi6_ifindex}
            out.append((level, kind, data[:16] + struct.pack("=i", 0)))
    return out


class Service:
    def __init__(self, args):
        self.args = args
        self.hung = []
        self.tls = None
        if args.tls_cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(args.tls_cert, args.tls_key)

    def http_response(self, body=None):
        body = self.args.body.encode() if body is None else body
        head = "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (
            self.args.status, http.client.responses.get(self.args.status, "Status"), self.args.content_type, len(body))
        return head.encode() + body

    def headers_present(self, request):
        """True when the request carries every --require-header (NAME=SHA256 of the value)."""
        got = {}
        for line in request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
            name, _sep, value = line.decode("latin-1").partition(":")
            got[name.strip().lower()] = hashlib.sha256(value.strip().encode("latin-1")).hexdigest()
        for required in self.args.require_header:
            name, _sep, digest = required.rpartition("=")
            if got.get(name.lower()) != digest:
                return False
        return True

    def serve_tcp_conn(self, conn):
        conn.setblocking(True)
        try:
            if self.tls is not None:
                conn.settimeout(10)
                conn = self.tls.wrap_socket(conn, server_side=True)
            if self.args.behavior == "hang":
                self.hung.append(conn)
                return
            conn.settimeout(10)
            if self.args.behavior in ("http", "echo"):
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                if not self.headers_present(data):
                    conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                if self.args.delay_ms:
                    time.sleep(self.args.delay_ms / 1000.0)
                conn.sendall(self.http_response(data.split(b"\r\n\r\n", 1)[0] if self.args.behavior == "echo" else None))
                return
            if self.args.banner:
                conn.sendall(self.args.banner.encode().decode("unicode_escape").encode())
            if self.args.reply:
                line = conn.recv(4096)
                if line:
                    conn.sendall(self.args.reply.encode().decode("unicode_escape").encode())
        except OSError:
            pass
        finally:
            if self.args.behavior != "hang":
                try:
                    conn.close()
                except OSError:
                    pass

    def on_tcp(self, sock):
        conn, _peer = sock.accept()
        threading.Thread(target=self.serve_tcp_conn, args=(conn,), daemon=True).start()

    def on_udp(self, sock):
        data, ancdata, _flags, peer = sock.recvmsg(65535, socket.CMSG_SPACE(64))
        if self.args.behavior in ("hang", "silent"):
            return
        reply = self.args.reply.encode().decode("unicode_escape").encode() if self.args.reply else data
        sock.sendmsg([reply], reply_ancillary(ancdata), 0, peer)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--listen", action="append", default=[], required=True)
    parser.add_argument("--behavior", default="accept", choices=["accept", "http", "hang", "silent", "echo"])
    parser.add_argument("--banner", default="")
    parser.add_argument("--reply", default="")
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--body", default="ok")
    parser.add_argument("--content-type", default="text/plain")
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--require-header", action="append", default=[],
                        help="http: answer 401 unless the request has header NAME whose value has this SHA-256 (NAME=HEX)")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--user", help="run as this user (sockets are opened as that user too)")
    parser.add_argument("--ready-file", help="written once every socket is bound")
    args = parser.parse_args(argv)

    ready = open(args.ready_file, "w") if args.ready_file else None  # opened before privileges drop
    if args.user:
        entry = pwd.getpwnam(args.user)
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    set_process_name(args.name)
    service = Service(args)
    selector = selectors.DefaultSelector()
    for spec in (parse_listen(one) for many in args.listen for one in expand_listen(many)):
        sock = open_socket(*spec)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, service.on_tcp if spec[0] == "tcp" else service.on_udp)
    if ready is not None:
        ready.write(str(os.getpid()))
        ready.close()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        for key, _events in selector.select():
            try:
                key.data(key.fileobj)
            except (BlockingIOError, InterruptedError):
                pass


if __name__ == "__main__":
    main()
