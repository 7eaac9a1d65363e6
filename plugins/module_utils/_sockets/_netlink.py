# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Netlink dumps with the standard library: one request, every answer, inside any network namespace.

Used for socket diagnostics (``sock_diag``) and interface addresses (``rtnetlink``), which follow
the network namespace of the socket that asks, unlike ``/sys/class/net``.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import threading
from typing import Any, Dict, List, Optional

NETLINK_ROUTE = 0
NETLINK_SOCK_DIAG = 4
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
CLONE_NEWNET = 0x40000000

_NLMSG = struct.Struct("=LHHLL")
_NLATTR = struct.Struct("=HH")


class NetlinkError(Exception):
    """A netlink request failed; the message says which and why."""


def align(length: int) -> int:
    return (length + 3) & ~3


class NamespaceGone(Exception):
    """The namespace file names no namespace any more, or another one than expected (its process ended)."""


def open_socket(protocol: int, netns_path: Optional[str] = None, netns_inode: Optional[int] = None) -> socket.socket:
    """A netlink socket of PROTOCOL in the current namespace, or in the one at NETNS_PATH.

    A network namespace belongs to the thread that enters it, so the socket for another
    namespace is made by a short-lived thread that enters it and ends: the caller's thread
    never changes namespace. With NETNS_INODE, a path that is gone (its process ended) or
    that now names another namespace (its pid was reused) raises NamespaceGone.
    """
    if netns_path is None:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, protocol)
    result: Dict[str, Any] = {}

    def make() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            try:
                fd = os.open(netns_path, os.O_RDONLY)
            except (FileNotFoundError, ProcessLookupError) as exc:
                result["gone"] = "%s: %s" % (netns_path, exc.strerror)
                return
            try:
                found = os.fstat(fd).st_ino
                if netns_inode is not None and found != netns_inode:
                    result["gone"] = "%s is now namespace %d, not %d" % (netns_path, found, netns_inode)
                    return
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, "setns(%s): %s" % (netns_path, os.strerror(err)))
            finally:
                os.close(fd)
            result["socket"] = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, protocol)
        except (OSError, AttributeError) as exc:
            result["error"] = exc

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    if "gone" in result:
        raise NamespaceGone(result["gone"])
    if "error" in result:
        raise result["error"]
    return result["socket"]


def dump(sock: socket.socket, msg_type: int, payload: bytes, seq: int = 1) -> List[bytes]:
    """Send one dump request; return the payloads of every answer (bytes, header removed)."""
    header = _NLMSG.pack(_NLMSG.size + len(payload), msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    sock.sendto(header + payload, (0, 0))
    messages: List[bytes] = []
    while True:
        data = sock.recv(1 << 20)
        if not data:
            raise NetlinkError("netlink socket closed before the dump ended")
        offset = 0
        while offset + _NLMSG.size <= len(data):
            length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, offset)
            if length < _NLMSG.size:
                raise NetlinkError("malformed netlink message (length %d)" % length)
            body = data[offset + _NLMSG.size:offset + length]
            offset += align(length)
            if kind == NLMSG_DONE:
                return messages
            if kind == NLMSG_ERROR:
                if len(body) < 4:
                    raise NetlinkError("malformed netlink message (error of %d bytes)" % len(body))
                errno = -struct.unpack_from("=i", body)[0]
                if errno == 0:
                    continue
                reason = os.strerror(errno) if errno < 1 << 31 else "error %d" % errno
                raise NetlinkError("netlink request type %d failed: %s" % (msg_type, reason))
            messages.append(body)


def attributes(data: bytes, offset: int) -> Dict[int, bytes]:
    """The netlink attributes in DATA from OFFSET: {type: bytes} (the last one of a type wins)."""
    attrs: Dict[int, bytes] = {}
    while offset + _NLATTR.size <= len(data):
        length, kind = _NLATTR.unpack_from(data, offset)
        if length < _NLATTR.size:
            break
        attrs[kind & 0x3FFF] = data[offset + _NLATTR.size:offset + length]
        offset += align(length)
    return attrs
