# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# Name resolution for port_probe, on the host that probes: getaddrinfo() on daemon threads, one
# lookup per distinct name, results posted back to the selector loop.

from __future__ import annotations

import collections
import socket
import threading
from typing import Any, Callable, Deque, List, Tuple

RESOLVER_THREADS = 16  # names resolved at once


def system_resolver(host: str, family: int, socktype: int) -> List[Tuple[Any, ...]]:
    return socket.getaddrinfo(host, None, family, socktype)


class Resolver(object):
    """getaddrinfo() on daemon threads: it cannot be interrupted, so a lookup that outlives its
    probe's deadline is abandoned (its probe already ended as dns_error), never waited for."""

    def __init__(self, resolve: Callable[..., List[Tuple[Any, ...]]], post: Callable[[Tuple[Any, ...]], None]) -> None:
        self._resolve = resolve
        self._post = post
        self._queue: Deque[Tuple[Any, ...]] = collections.deque()
        self._lock = threading.Lock()
        self._threads = 0

    def submit(self, key: Tuple[Any, ...]) -> None:
        with self._lock:
            self._queue.append(key)
            if self._threads >= RESOLVER_THREADS:
                return
            self._threads += 1
        threading.Thread(target=self._run, name='port_probe-resolve', daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._threads -= 1
                    return
                key = self._queue.popleft()
            try:
                self._post(('resolved', key, self._resolve(*key), None))
            except socket.gaierror as exc:
                self._post(('resolved', key, None, exc.strerror or str(exc)))
            except (OSError, UnicodeError) as exc:
                self._post(('resolved', key, None, str(exc) or type(exc).__name__))
