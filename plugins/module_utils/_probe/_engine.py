# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# The concurrent engine of port_probe. One selector loop owns every probe from launch to its
# verdict: non-blocking TCP connects, connected UDP sockets (ICMP errors come back as errno),
# plain banner/send/expect exchanges and all deadlines. Name resolution runs on daemon threads
# and so do protocol checks (TLS, HTTP, SSH), which the loop still bounds: at a probe's deadline
# it shuts the worker's socket down. The run therefore lasts about the largest timeout, not the
# sum of them.

from __future__ import annotations

import collections
import errno
import heapq
import itertools
import os
import selectors
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Sequence, Set, Tuple

from ansible_collections.portproof.validate.plugins.module_utils._probe._checks import (
    classify_errno,
    classify_oserror,
    describe_errno,
    excerpt,
    pattern_problem,
    regex_search,
    safe_excerpt,
)
from ansible_collections.portproof.validate.plugins.module_utils._probe._guard import outside_fleet, refusal
from ansible_collections.portproof.validate.plugins.module_utils._probe._identify import new_handshake, record_identification
from ansible_collections.portproof.validate.plugins.module_utils._probe._protocols import step as protocol_step
from ansible_collections.portproof.validate.plugins.module_utils._probe._regex import PatternTimeout, PatternUnavailable, match_limit
from ansible_collections.portproof.validate.plugins.module_utils._probe._resolve import Resolver, system_resolver
from ansible_collections.portproof.validate.plugins.module_utils._probe._session import Session
from ansible_collections.portproof.validate.plugins.module_utils._probe._stream import (
    RECEIVE_CAP,
    exchange,
    expect_step,
    record_sent,
)

try:
    import resource
except ImportError:  # not on every POSIX Python build
    resource = None  # type: ignore[assignment]

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.portproof.validate.plugins.module_utils._probe._target import Target

# Linux values; the socket module only names them from Python 3.13 on.
IP_RECVERR = getattr(socket, 'IP_RECVERR', 11)
IPV6_RECVERR = getattr(socket, 'IPV6_RECVERR', 25)
MAX_WORKERS = 256          # protocol checks (TLS/HTTP/SSH) in flight at once
FD_RESERVE = 64            # descriptors left for everything else in the process
FAMILIES = {'any': socket.AF_UNSPEC, 'ipv4': socket.AF_INET, 'ipv6': socket.AF_INET6}
# first_answer: once a handshake of a port is answered by its own protocol, the other handshakes of the port that
# still wait get SETTLE_FACTOR times as long as that answer took, at least SETTLE_MIN seconds.
SETTLE_FACTOR = 3.0
SETTLE_MIN = 0.25
ResolveFunction = Callable[[str, int, int], List[Tuple[Any, ...]]]  # getaddrinfo(host, family, socktype)


def descriptor_budget(wanted: int, workers: int) -> int:
    """How many probes may hold a socket at once: raise the soft RLIMIT_NOFILE towards what the
    run needs (up to the hard limit) and keep a reserve; a smaller budget only queues probes."""
    if resource is None:
        return 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + workers + FD_RESERVE + 64
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass  # keep the current limit: the budget below then queues more probes
    if soft == resource.RLIM_INFINITY:
        return wanted
    try:
        used = len(os.listdir('/proc/self/fd'))
    except OSError:
        used = 32
    return max(1, soft - used - FD_RESERVE - workers)


class Engine(object):
    # made by run()
    sel: selectors.BaseSelector
    wake_r: socket.socket
    wake_w: socket.socket
    resolver: Resolver

    def __init__(self, sessions: List[Session], resolver: Optional[ResolveFunction] = None, max_workers: int = MAX_WORKERS,
                 max_in_flight: Optional[int] = None, allow_link_local: bool = False, first_answer: bool = False) -> None:
        self.sessions = sessions
        self.allow_link_local = allow_link_local
        # first_answer: the TCP protocol handshakes of each port (host, port), which settle at its first own answer
        self.ports: Dict[Tuple[str, int], List[Session]] = {}
        self.answered: Dict[Tuple[str, int], Tuple[str, float]] = {}  # (host, port): (its first own answer, how long it took)
        if first_answer:
            for session in sessions:
                if session.target.protocol is not None and session.target.proto == 'tcp':
                    self.ports.setdefault((session.target.host, session.target.port), []).append(session)
        self.pending: Deque[Session] = collections.deque(sessions)
        self.active: Set[Session] = set()
        self.socks: Dict[Session, socket.socket] = {}
        self.io: Dict[Session, List[bytes]] = {}  # plain TCP send/expect: [bytes left to send, bytes received]
        self.waiting: Dict[Tuple[Any, ...], List[Session]] = {}  # sessions by the name lookup they wait for
        self.events: Deque[Tuple[Any, ...]] = collections.deque()
        self.deadlines: List[Tuple[float, int, Session]] = []
        self.seq = itertools.count()
        self.workers = 0
        self.max_workers = max_workers
        self.max_in_flight = max_in_flight or descriptor_budget(len(sessions), min(max_workers, len(sessions)))
        self.resolve = resolver or system_resolver
        self.closed = False

    # -- main loop ---------------------------------------------------------------------------

    def run(self) -> List[Session]:
        self.sel = selectors.DefaultSelector()
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)
        self.resolver = Resolver(self.resolve, self._post)
        try:
            while self.pending or self.active:
                self._launch()
                for key, mask in self.sel.select(self._timeout()):
                    if key.data is None:
                        self._drain_wake()
                    else:
                        self._on_socket(key.data, mask)
                self._drain_events()
                self._expire()
        finally:
            self.closed = True
            for sock in list(self.socks.values()):
                sock.close()
            self.sel.close()
            self.wake_r.close()
            self.wake_w.close()
        return self.sessions

    def _post(self, event: Tuple[Any, ...]) -> None:
        """From any thread: queue an event and wake the loop."""
        self.events.append(event)
        if self.closed:
            return
        try:
            self.wake_w.send(b'\0')
        except OSError:
            pass  # BlockingIOError: a wake-up is already pending; EBADF: the run is over

    def _drain_wake(self) -> None:
        try:
            while self.wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _timeout(self) -> float:
        while self.deadlines and self.deadlines[0][2] not in self.active:
            heapq.heappop(self.deadlines)
        if not self.deadlines:
            return 0.05
        return max(0.0, self.deadlines[0][0] - time.monotonic())

    def _expire(self) -> None:
        now = time.monotonic()
        while self.deadlines and (self.deadlines[0][0] <= now or self.deadlines[0][2] not in self.active):
            _deadline, _seq, session = heapq.heappop(self.deadlines)
            if session in self.active:
                if session.settle_at is not None and session.settle_at <= now < session.deadline:
                    session.settle()
                else:
                    session.expire()
                self._release(session)

    def _drain_events(self) -> None:
        while self.events:
            event = self.events.popleft()
            if event[0] == 'worker':
                self._release(event[1])
                continue
            _kind, key, infos, error = event
            for session in self.waiting.pop(key, []):
                if session not in self.active:
                    continue
                if error is not None:
                    session.finish('dns_error', 'cannot resolve %r on this host: %s' % (session.target.host, error))
                    self._release(session)
                else:
                    self._resolved(session, infos)

    # -- launch and resolution ----------------------------------------------------------------

    def _launch(self) -> None:
        if not self.pending:
            return
        keep: Deque[Session] = collections.deque()
        while self.pending:
            session = self.pending.popleft()
            if len(self.active) >= self.max_in_flight:
                keep.append(session)
                keep.extend(self.pending)
                self.pending.clear()
                break
            if session.target.needs_worker and self.workers >= self.max_workers:
                keep.append(session)
                continue
            self._start(session)
        self.pending = keep

    def _start(self, session: Session) -> None:
        target = session.target
        session.start()
        session.phase = 'resolve'
        self.active.add(session)
        heapq.heappush(self.deadlines, (session.deadline, next(self.seq), session))
        if target.needs_worker:
            self.workers += 1
        family = FAMILIES[target.family]
        socktype = socket.SOCK_DGRAM if target.proto == 'udp' else socket.SOCK_STREAM
        try:
            infos = socket.getaddrinfo(target.host, None, family, socktype, 0, socket.AI_NUMERICHOST)
        except socket.gaierror:
            key = (target.host, family, socktype)
            self.waiting.setdefault(key, []).append(session)
            if len(self.waiting[key]) == 1:
                self.resolver.submit(key)
            return
        except (OSError, UnicodeError) as exc:
            session.finish('dns_error', 'cannot resolve %r on this host: %s' % (target.host, exc))
            self._release(session)
            return
        self._resolved(session, infos)

    def _resolved(self, session: Session, infos: List[Tuple[Any, ...]]) -> None:
        addresses: List[str] = []
        for info in infos:
            if info[4][0] not in addresses:
                addresses.append(info[4][0])
        family, socktype, proto, canon, sockaddr = infos[0]
        session.addresses = addresses
        session.addrinfo = (family, socktype, proto, canon, (sockaddr[0], session.target.port) + tuple(sockaddr[2:]))
        what = None if self.allow_link_local else outside_fleet(sockaddr[0])
        if what is not None:
            session.blocked = True
            self._end(session, 'error', refusal(session.target.host, sockaddr[0], what))
            return
        self._connect(session)

    # -- sockets ---------------------------------------------------------------------------------

    def _connect(self, session: Session) -> None:
        target = session.target
        family, socktype, proto, _canon, sockaddr = session.addrinfo or ()  # set once resolved
        session.begin_connect()
        try:
            sock = socket.socket(family, socktype, proto)
        except OSError as exc:
            self._end(session, *classify_oserror(exc))
            return
        sock.setblocking(False)
        self.socks[session] = sock
        if target.proto == 'udp':
            self._udp_send(session, sock, family, sockaddr)
            return
        code = sock.connect_ex(sockaddr)
        if code == 0:
            self._connected(session, sock)
        elif code == errno.EINPROGRESS:
            self.sel.register(sock, selectors.EVENT_WRITE, session)
        else:
            self._end(session, *classify_errno(code))

    def _udp_send(self, session: Session, sock: socket.socket, family: int, sockaddr: Any) -> None:
        level, option = (socket.IPPROTO_IPV6, IPV6_RECVERR) if family == socket.AF_INET6 else (socket.IPPROTO_IP, IP_RECVERR)
        try:
            # Report every ICMP error (host unreachable too), not only port unreachable.
            sock.setsockopt(level, option, 1)
        except OSError:
            pass  # not Linux: the kernel then reports hard errors (port unreachable) only
        payload = session.target.payload or b''
        if session.target.protocol is not None:
            payload = new_handshake(session).request
        try:
            sock.connect(sockaddr)
            sock.send(payload)
        except OSError as exc:
            self._end(session, *classify_oserror(exc))
            return
        session.phase = 'udp'
        self.sel.register(sock, selectors.EVENT_READ, session)

    def _on_socket(self, session: Session, mask: int) -> None:
        if session not in self.active:
            return
        sock = self.socks[session]
        if session.phase == 'connect':
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._end(session, *classify_errno(code))
            else:
                self._connected(session, sock)
        elif session.phase == 'udp':
            self._udp_receive(session, sock)
        else:
            self._plain_io(session, sock)

    def _connected(self, session: Session, sock: socket.socket) -> None:
        target = session.target
        session.mark_connected()
        if target.needs_worker:
            self._unwatch(sock)
            del self.socks[session]
            sock.setblocking(True)
            session.track(sock)
            try:
                threading.Thread(target=self._work, args=(session, sock), name='port_probe-check', daemon=True).start()
            except RuntimeError as exc:
                session.fail_step('error', 'could not start a thread for the check: %s' % exc)
                session.close_sockets()
                self._end(session, 'open')
        elif target.protocol is not None:
            session.begin('protocol')
            request = new_handshake(session).request
            self.io[session] = [request, b'']
            self._watch(session, sock, selectors.EVENT_WRITE if request else selectors.EVENT_READ)
            if self.answered:
                self._settle_later(session)  # its port answered another handshake before this one connected
        elif target.payload or target.expect is not None:
            session.begin('expect' if target.expect is not None else 'send')
            self.io[session] = [target.payload or b'', b'']
            self._watch(session, sock, selectors.EVENT_WRITE if target.payload else selectors.EVENT_READ)
        elif target.payload is not None:
            record_sent(session, 0)  # an empty send: nothing to wait for
            self._end(session, 'open')
        else:
            self._end(session, 'open')

    def _plain_io(self, session: Session, sock: socket.socket) -> None:
        target = session.target
        state = self.io[session]
        if target.protocol is not None:
            self._protocol_io(session, sock, state)
            return
        try:
            if state[0]:
                state[0] = state[0][sock.send(state[0]):]
                if state[0]:
                    return
                if target.expect is None:
                    record_sent(session, len(target.payload or b''))
                    self._end(session, 'open')
                else:
                    self.sel.modify(sock, selectors.EVENT_READ, session)
                return
            chunk = sock.recv(RECEIVE_CAP)
        except BlockingIOError:
            return
        except OSError as exc:
            session.fail_step('error', 'connection failed during the check: %s' % describe_errno(exc.errno or errno.EIO))
            self._end(session, 'open')
            return
        state[1] += chunk
        if expect_step(session, state[1], not chunk):
            self._end(session, 'open')

    def _protocol_io(self, session: Session, sock: socket.socket, state: List[Any]) -> None:
        """The protocol handshake (targets[].protocol): send what is pending, read, let the
        recognizer decide; it may ask for one follow-up (NOOP after an ambiguous greeting)."""
        try:
            if state[0]:
                state[0] = state[0][sock.send(state[0]):]
                if not state[0]:
                    self.sel.modify(sock, selectors.EVENT_READ, session)
                return
            chunk = sock.recv(RECEIVE_CAP)
        except BlockingIOError:
            return
        except OSError as exc:
            if not state[1]:
                session.fail_step('fail', 'connection failed during the protocol handshake: %s'
                                  % describe_errno(exc.errno or errno.EIO))
                self._end(session, 'open')
                return
            chunk = b''
        state[1] += chunk
        session.received = state[1]
        decided, follow = protocol_step(session.handshake, state[1], not chunk)
        if follow:
            state[0] = follow
            self.sel.modify(sock, selectors.EVENT_WRITE, session)
            return
        if decided:
            record_identification(session, state[1], 'decided' if chunk else 'closed')
            self._end(session, 'open')
            self._settle_port(session)

    def _settle_port(self, session: Session) -> None:
        """first_answer: when SESSION's handshake was answered by its own protocol, the other handshakes of its port
        that are connected and still wait for an answer get SETTLE_FACTOR times as long as that answer took."""
        group = self.ports.get((session.target.host, session.target.port))
        evidence = session.evidence.get('protocol')
        if not group or not isinstance(evidence, dict) or evidence.get('answered') != session.target.protocol \
                or session.started is None:
            return
        key = (session.target.host, session.target.port)
        if key in self.answered:
            return
        took = time.monotonic() - session.started
        self.answered[key] = (str(session.target.protocol), took)
        for other in group:
            if other is not session and other in self.active and other.connected:
                self._settle_later(other)

    def _settle_later(self, session: Session) -> None:
        """first_answer: SESSION (connected) waits SETTLE_FACTOR times as long as its port's first own answer took
        (from now: a handshake connected later gets as long), then stops (Session.settle)."""
        answer = self.answered.get((session.target.host, session.target.port))
        if answer is None or session.settle_at is not None:
            return
        until = time.monotonic() + max(SETTLE_MIN, SETTLE_FACTOR * answer[1])
        if until < session.deadline:
            session.settle_at = until
            session.settled_by = answer
            heapq.heappush(self.deadlines, (until, next(self.seq), session))

    def _udp_receive(self, session: Session, sock: socket.socket) -> None:
        target = session.target
        try:
            data = sock.recv(65535)
        except BlockingIOError:
            return
        except OSError as exc:
            self._end(session, *classify_oserror(exc))
            return
        session.mark_connected()
        session.evidence['reply'] = {'bytes': len(data), 'excerpt': excerpt(data)}
        if target.protocol is not None:
            record_identification(session, data, 'decided')
        if 'reply' in target.plan:
            if target.expect is None:
                session.record('reply', 'pass', actual=excerpt(data, 120), message='received a %d bytes reply' % len(data))
            else:
                try:
                    ok = regex_search(target.expect, data, match_limit(session.remaining()))
                except (PatternTimeout, PatternUnavailable) as exc:
                    session.record(**pattern_problem('reply', exc, target.expect, data))
                else:
                    session.record('reply', 'pass' if ok else 'fail', expected=target.expect.pattern, actual=excerpt(data, 120),
                                   message='the %d bytes reply %s /%s/%s' % (
                                       len(data), 'matches' if ok else 'does not match', target.expect.pattern,
                                       '' if ok else ': %s' % safe_excerpt(data)))
        self._end(session, 'open')

    def _work(self, session: Session, sock: socket.socket) -> None:
        try:
            exchange(session, sock)
        finally:
            session.finish('open')
            self._post(('worker', session))

    def _watch(self, session: Session, sock: socket.socket, events: int) -> None:
        try:
            self.sel.modify(sock, events, session)
        except KeyError:
            self.sel.register(sock, events, session)

    def _unwatch(self, sock: socket.socket) -> None:
        try:
            self.sel.unregister(sock)
        except KeyError:
            pass  # connected at once, never registered

    def _end(self, session: Session, state: str, reason: Optional[str] = None) -> None:
        session.finish(state, reason)
        self._release(session)

    def _release(self, session: Session) -> None:
        if session not in self.active:
            return
        self.active.discard(session)
        self.io.pop(session, None)
        if session.target.needs_worker:
            self.workers -= 1
        sock = self.socks.pop(session, None)
        if sock is not None:
            self._unwatch(sock)
            sock.close()


def run_probes(targets: Sequence[Target], resolver: Optional[ResolveFunction] = None, limits: Optional[Sequence[float]] = None,
               allow_link_local: bool = False, first_answer: bool = False) -> List[Session]:
    """Probe all targets at once; returns their sessions in target order. ``limits`` optionally
    caps each target's timeout (used by wait so that no attempt outlives its deadline); ``first_answer``
    settles the protocol handshakes of a port at its first own answer (Engine._settle_port)."""
    sessions = [Session(target) for target in targets]
    if limits is not None:
        for session, limit in zip(sessions, limits):
            session.limit = min(session.limit, limit)
    return Engine(sessions, resolver=resolver, allow_link_local=allow_link_local, first_answer=first_answer).run()
