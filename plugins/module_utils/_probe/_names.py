# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# The resolve option of port_probe: the names the clients of a service use, resolved on this host the way they
# resolve them (getaddrinfo: /etc/hosts, the resolver of /etc/resolv.conf, its search domains, as nsswitch.conf
# says). getaddrinfo() cannot be interrupted, so each name is resolved on a daemon thread and a lookup still running
# at the deadline is reported as a timeout and abandoned, never waited for: the run stays bounded by its timeout.

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

# getaddrinfo(name) -> its address infos
Lookup = Callable[[str], List[Tuple[Any, ...]]]
# How a name did not resolve (``error`` of a result), from the getaddrinfo error.
ERROR_KINDS = ('nxdomain', 'servfail', 'no_address', 'timeout', 'other')
_KIND_OF = {socket.EAI_NONAME: 'nxdomain', socket.EAI_AGAIN: 'servfail'}
if hasattr(socket, 'EAI_NODATA'):
    _KIND_OF[socket.EAI_NODATA] = 'no_address'  # glibc only


def system_lookup(name: str) -> List[Tuple[Any, ...]]:
    return socket.getaddrinfo(name, None, socket.AF_UNSPEC, socket.SOCK_STREAM)


def addresses_of(infos: Sequence[Tuple[Any, ...]]) -> List[str]:
    """The distinct addresses of getaddrinfo results, in the order getaddrinfo gave them (the order a client
    tries them), an IPv6 zone left out."""
    found: List[str] = []
    for info in infos:
        address = str(info[4][0]).split('%', 1)[0]
        if address not in found:
            found.append(address)
    return found


def classify(exc: BaseException) -> Tuple[str, str]:
    """(error kind, reason) of a failed getaddrinfo."""
    if isinstance(exc, socket.gaierror):
        kind = _KIND_OF.get(exc.errno, 'other') if exc.errno is not None else 'other'
        return kind, '%s (%s)' % (exc.strerror or str(exc), _EAI_NAMES.get(exc.errno, 'EAI %s' % (exc.errno,)))
    return 'other', str(exc) or type(exc).__name__


_EAI_NAMES = dict((getattr(socket, name), name) for name in dir(socket) if name.startswith('EAI_'))


class _Lookup(object):
    def __init__(self, name: str, lookup: Lookup) -> None:
        self.name = name
        self.done = threading.Event()
        self.began = time.monotonic()
        self.took: Optional[float] = None
        self.addresses: Optional[List[str]] = None
        self.error: Optional[Tuple[str, str]] = None
        self._lookup = lookup

    def run(self) -> None:
        try:
            self.addresses = addresses_of(self._lookup(self.name))
        except Exception as exc:  # pylint: disable=broad-exception-caught  # any failure is this name's answer, never lost
            self.error = classify(exc)
        finally:
            self.took = time.monotonic() - self.began
            self.done.set()


class NameLookups(object):
    """Every name resolved at once, each on a daemon thread; ``results`` waits for them until the deadline."""

    def __init__(self, names: Sequence[str], timeout: float, lookup: Lookup = system_lookup) -> None:
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.lookups: List[_Lookup] = []
        for name in dict.fromkeys(names):  # each name once, in the order given
            item = _Lookup(name, lookup)
            self.lookups.append(item)
            threading.Thread(target=item.run, name='port_probe-names', daemon=True).start()

    def results(self) -> List[Dict[str, Any]]:
        """[{name, addresses, error, reason, ms}] in the order of the names: ``addresses`` the answer (null when it
        failed), ``error`` one of ERROR_KINDS or null."""
        found: List[Dict[str, Any]] = []
        for item in self.lookups:
            item.done.wait(max(0.0, self.deadline - time.monotonic()))
            if not item.done.is_set():
                found.append({'name': item.name, 'addresses': None, 'error': 'timeout',
                              'reason': 'no answer within %s s' % self.timeout, 'ms': None})
                continue
            took = round(item.took * 1000.0, 3) if item.took is not None else None
            if item.error is not None:
                found.append({'name': item.name, 'addresses': None, 'error': item.error[0], 'reason': item.error[1], 'ms': took})
            else:
                found.append({'name': item.name, 'addresses': item.addresses, 'error': None, 'reason': None, 'ms': took})
        return found
