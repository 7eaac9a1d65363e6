# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# One probe of one target: its deadline, the checks recorded so far, and the single place where
# its outcome is decided. The selector loop and a worker thread may both touch a session; the
# first of them to finish it wins, the other sees Aborted and stops.

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Pattern, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._probe._checks import (
    check,
    excerpt,
    max_ms_check,
    ms,
    probe_ok,
    safe_excerpt,
)

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.portproof.validate.plugins.module_utils._probe._target import Target
from ansible_collections.portproof.validate.plugins.module_utils._probe._identify import identification

PUBLIC_PHASE = {'queued': 'resolve', 'resolve': 'resolve', 'connect': 'connect', 'udp': 'response', 'response': 'response'}


class Aborted(Exception):
    """The session was already finished (its deadline passed) while a worker still ran."""


class Session(object):

    def __init__(self, target: Target, clock: Callable[[], float] = time.monotonic) -> None:
        self.target = target
        self.clock = clock
        self._lock = threading.Lock()
        self._socks: List[socket.socket] = []
        self.done = False
        self.state: Optional[str] = None
        self.reason: Optional[str] = None
        self.phase = 'queued'
        self.connected = False
        self.addrinfo: Optional[Tuple[Any, ...]] = None  # the getaddrinfo() entry probed
        self.addresses: List[str] = []
        self.started: Optional[float] = None
        self.deadline = 0.0  # set by start()
        self.limit = target.timeout
        self.connect_started: Optional[float] = None
        self.connect_s: Optional[float] = None
        self.total_s: Optional[float] = None
        self.step: Optional[str] = None
        self.skip_note: Optional[str] = None
        self.checks: Dict[str, Dict[str, Any]] = {}
        self.evidence: Dict[str, Any] = {}
        self.attempts = 1
        self.blocked = False  # refused before connecting (an address outside the fleet)
        self.received = b''  # what the peer sent so far while its answer is matched (expect, protocol)
        self.handshake: Any = None  # the protocol handshake (targets[].protocol), see _identify
        self.load_request = False  # one request of a load run: its verdicts only, no extra evidence (TLS chain read)
        self.settle_at: Optional[float] = None  # first_answer: when another handshake's answer stops this one
        self.settled_by: Optional[Tuple[str, float]] = None  # (the protocol that answered, how long it took)

    # -- time -------------------------------------------------------------------------------

    def start(self) -> None:
        self.started = self.clock()
        self.deadline = self.started + self.limit

    def remaining(self) -> float:
        return max(0.0, self.deadline - self.clock())

    def arm(self, sock: socket.socket) -> None:
        """Give a blocking socket what is left of the deadline as its timeout."""
        left = self.remaining()
        if left <= 0:
            raise socket.timeout('deadline reached')
        sock.settimeout(left)

    def begin_connect(self) -> None:
        self.phase = 'connect'
        self.connect_started = self.clock()

    def mark_connected(self) -> None:
        self.connected = True
        started = self.connect_started  # set by begin_connect()
        self.connect_s = self.clock() - started if started is not None else None
        if self.target.has_response or self.target.proto == 'udp':
            self.phase = 'response'

    # -- recording (also from worker threads) ------------------------------------------------

    def begin(self, step: str) -> None:
        with self._lock:
            if self.done:
                raise Aborted()
            self.step = step

    def record(self, name: str, status: str, expected: Any = None, actual: Any = None, message: str = '', **extra: Any) -> None:
        with self._lock:
            if self.done:
                raise Aborted()
            self.checks[name] = check(name, status, expected=expected, actual=actual, message=message, **extra)

    def fail_step(self, status: str, message: str) -> None:
        """Record the step in progress (when it has no verdict yet) as failed or errored."""
        with self._lock:
            if self.done:
                return
            name = self.step or self._next_planned()
            if name is not None and name not in self.checks:
                self.checks[name] = check(name, status, message=message)

    def track(self, sock: socket.socket) -> None:
        """Remember a socket so that the deadline can shut it down under a blocked worker."""
        with self._lock:
            if self.done:
                _shutdown(sock)
                raise Aborted()
            self._socks.append(sock)

    def close_sockets(self) -> None:
        """Close every tracked socket (the worker is done with them)."""
        with self._lock:
            socks, self._socks = self._socks, []
        for sock in socks:
            try:
                sock.close()
            except OSError:
                pass

    # -- outcome ----------------------------------------------------------------------------

    def finish(self, state: str, reason: Optional[str] = None) -> bool:
        with self._lock:
            if self.done:
                return False
            self._finish(state, reason)
            return True

    def expire(self) -> bool:
        """The deadline passed: decide the outcome from the phase, fail the step in progress and
        shut the sockets down so that a worker blocked in recv() returns at once."""
        with self._lock:
            if self.done:
                return False
            limit = self.limit
            if self.phase in ('queued', 'resolve'):
                self._finish('dns_error', 'no answer from the resolver for %r within %g s' % (self.target.host, limit))
            elif self.phase == 'connect':
                self._finish('timeout', 'no answer to the connection attempt within %g s' % limit)
            elif self.phase == 'udp':
                if 'protocol' in self.target.plan and 'protocol' not in self.checks:
                    self.checks['protocol'] = check(**identification(self, b'', 'timeout'))
                if 'reply' in self.target.plan and 'reply' not in self.checks:
                    self.checks['reply'] = check('reply', 'fail', expected=_pattern(self.target.expect), actual=None,
                                                 message='no reply within %g s' % limit)
                self._finish('open_filtered', 'no reply and no ICMP error within %g s' % limit)
            else:
                name = self.step or self._next_planned()
                if name is not None and name not in self.checks:
                    self.checks[name] = self._unanswered(name, limit)
                self._finish('timeout', 'connected, but the response did not complete within %g s' % limit)
            for sock in self._socks:
                _shutdown(sock)
            return True

    def settle(self) -> bool:
        """first_answer: another handshake of the port was answered by its own protocol (settled_by) and this one
        has had no answer in the time that gave it: stop waiting, the step in progress skipped."""
        with self._lock:
            settled_by = self.settled_by
            if self.done or settled_by is None:
                return False
            protocol, took = settled_by[0], settled_by[1]
            waited = self.clock() - self.started if self.started is not None else 0.0
            why = 'not waited for: the port answered as %s to another handshake in %.2f s, and this one had no answer in %.2f s' \
                % (protocol, took, waited)
            name = self.step or self._next_planned()
            if name is not None and name not in self.checks:
                self.checks[name] = check(name, 'skip', message=why)
            self._finish('open', why)
            for sock in self._socks:
                _shutdown(sock)
            return True

    def _unanswered(self, name: str, limit: float) -> Dict[str, Any]:
        """The failing entry of check NAME that the deadline (LIMIT seconds) cut short; for ``expect``,
        with what the peer did send (a server that answers something else and keeps the connection)."""
        received, target = self.received, self.target
        if name == 'protocol':
            return check(**identification(self, received, 'timeout'))
        if name != 'expect' or not received:
            return check(name, 'fail', actual='timeout', message='accepted, but no complete answer within %g s' % limit)
        self.evidence['reply'] = {'bytes': len(received), 'excerpt': excerpt(received, secrets=target.secrets)}
        pattern = _pattern(target.expect)
        return check(name, 'fail', expected=pattern, actual=excerpt(received, 120, target.secrets),
                     message='no match for /%s/ in the %d bytes received within %g s: %s'
                     % (pattern, len(received), limit, safe_excerpt(received, 120, target.secrets)))

    def _finish(self, state: str, reason: Optional[str]) -> None:
        self.state = state
        self.reason = reason
        if self.connect_started is not None:
            self.total_s = self.clock() - self.connect_started
        self.done = True

    def _next_planned(self) -> Optional[str]:
        for name in self.target.plan:
            if name not in self.checks and name != 'max_ms':
                return name
        return None

    def _skip_reason(self) -> str:
        if not self.connected and self.state != 'open':
            return 'not run: the probe ended %s' % self.state
        if self.state == 'timeout':
            return 'not reached before the deadline'
        return self.skip_note or 'not run: an earlier check did not pass'

    def _max_ms(self) -> Dict[str, Any]:
        target = self.target
        if self.state != 'open':
            return check('max_ms', 'skip', expected=target.max_ms, message='no complete answer to time (%s)' % self.state)
        if target.proto == 'udp':
            return max_ms_check(target.max_ms, ms(self.connect_s), 'the UDP reply')
        if target.has_response:
            return max_ms_check(target.max_ms, ms(self.total_s), 'connect and response')
        return max_ms_check(target.max_ms, ms(self.connect_s), 'the TCP connect')

    def result(self) -> Dict[str, Any]:
        target = self.target
        checks: List[Dict[str, Any]] = []
        for name in target.plan:
            if name == 'max_ms':
                checks.append(self._max_ms())
            else:
                checks.append(self.checks.get(name) or check(name, 'skip', message=self._skip_reason()))
        family = resolved = None
        if self.addrinfo is not None:
            family = 'ipv6' if self.addrinfo[0] == socket.AF_INET6 else 'ipv4'
            resolved = self.addrinfo[4][0]
        result = {
            'name': target.name,
            'host': target.host,
            'port': target.port,
            'proto': target.proto,
            'state': self.state,
            'reason': self.reason,
            'phase': PUBLIC_PHASE.get(self.phase, self.phase),
            'connected': self.connected,
            'resolved': resolved,
            'addresses': list(self.addresses),
            'family': family,
            'latency_ms': ms(self.connect_s),
            'total_ms': ms(self.total_s),
            'response': checks,
            'ok': probe_ok(self.state, checks),
            'attempts': self.attempts,
        }
        result.update(self.evidence)
        return result


def _pattern(regex: Optional[Pattern[str]]) -> Optional[str]:
    return regex.pattern if regex is not None else None


def _shutdown(sock: socket.socket) -> None:
    # socket.socket.shutdown, not sock.shutdown: on an SSLSocket the latter also drops the TLS
    # object under the worker thread that is using it. ENOTCONN and EBADF only mean that there
    # is nothing left to unblock.
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass
